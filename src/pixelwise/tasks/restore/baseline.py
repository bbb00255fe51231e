"""The TV baseline beside a network: its weight (given, the heuristic of ``pixelwise solve``, or searched on
validation images), its solves to convergence (:mod:`pixelwise.solvers.tv_baseline`) and their record."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from pixelwise.metrics.image import psnr
from pixelwise.physics import LinearOperator
from pixelwise.solvers.lambda_search import search_lambda
from pixelwise.solvers.methods import default_lambda
from pixelwise.solvers.tv_baseline import TV_STEP_RATIO, TV_TOL, tv_operators, tv_reconstructions, tv_solver
from pixelwise.tasks.restore.batches import validation_cases
from pixelwise.tasks.restore.config import RestorationConfig
from pixelwise.tasks.restore.data import validation_images


def tv_weight(config: RestorationConfig, fixed_op: LinearOperator, progress: bool = False
              ) -> tuple[float, str, dict | None]:
    """``(lambda, how it was chosen, the search or None)``: ``config.tv_lambda`` if a number, a search on
    validation images for "auto", else the heuristic of ``pixelwise solve`` at the run's noise level."""
    heuristic = default_lambda(config.operator, "tv", config.sigma / 255.0)
    if isinstance(config.tv_lambda, (int, float)):
        return float(config.tv_lambda), "given", None
    if config.tv_lambda == "auto":
        search = search_tv_lambda(config, fixed_op, heuristic, progress)
        return search["lambda"], "searched on validation images", search
    return heuristic, "the heuristic of `pixelwise solve`", None


def solve_all(measurements: Sequence[tuple[torch.Tensor, LinearOperator]], lam: float, iterations: int,
              tol: float | None, bar=None) -> tuple[list[torch.Tensor], list[int]]:
    """:func:`~pixelwise.solvers.tv_baseline.tv_reconstructions` of each ``(y, op)``, run on consecutive
    measurements of one operator at a time so that ``bar`` (a tqdm bar, or None) counts the images solved.
    Measurements of one operator object are consecutive in every caller here, so the batches are the same."""
    images, used = [], []
    runs = itertools.groupby(measurements, key=lambda m: (id(m[1]), tuple(m[0].shape[1:])))
    for _, group in runs:
        group = list(group)
        x, k = tv_reconstructions(group, lam, iterations, tol)
        images += x
        used += k
        if bar is not None:
            bar.update(len(group))
    return images, used


def search_tv_lambda(config: RestorationConfig, fixed_op: LinearOperator, centre: float, progress: bool = False
                     ) -> dict:
    """The TV weight with the best mean PSNR (plain, range 1) on the first ``tv_tune_images`` validation
    images, each TV solved as in the evaluation.

    The search (:func:`pixelwise.solvers.search_lambda`) starts on a log grid two decades either side of the
    heuristic ``centre`` at two points per decade, goes a decade further while the best is at an end (three
    times at most), then refines to a sixth of a decade. The answer says whether the first grid's best was at
    its edge and whether the final best still is. Validation, not test, images: phantoms of the validation
    draw, or the run's validation split (which is also the default evaluation set of a folder run; the search
    then favours the baseline, not the network).
    """
    from tqdm.auto import tqdm

    images = validation_images(config)[: config.tv_tune_images]
    cases = validation_cases(config, [x for _, x in images], fixed_op)
    ops = tv_operators([op for (_, op), _ in cases])  # CT as a sparse matrix, built once for the whole search
    measurements = [(y, ops[id(op)]) for (y, op), _ in cases]
    bar = tqdm(desc="TV weight search", unit="lambda", disable=not progress, leave=False)

    def mean_psnr(lam: float) -> float:
        tv = solve_all(measurements, lam, config.tv_iterations, config.tv_tol)[0]
        bar.update(1)
        return float(np.mean([psnr(z.clamp(0, 1), x.double(), 1.0) for z, (_, x) in zip(tv, cases)]))

    found = search_lambda(mean_psnr, centre / 100, centre * 100, per_decade=2, widen=3, refine=2)
    bar.close()
    return {"lambda": found.lam, "validation_psnr": found.score, "images": len(cases),
            "first_grid": list(found.grid), "first_grid_best_at_edge": found.hit_edge,
            "searched": list(found.searched), "best_at_edge": found.at_edge,
            "table": [list(row) for row in found.table], "summary": found.describe()}


def tv_record(config: RestorationConfig, op: LinearOperator, lam: float, rule: str, search: dict | None,
              used: list[int], seconds: float) -> dict:
    """How the TV baseline ran: its weight and where it came from, its solver, and whether every solve
    converged (stopped by the tolerance before ``tv_iterations``)."""
    solver = tv_solver(op)
    return {"lambda": lam, "lambda_rule": rule, "search": search, "solver": solver,
            "max_iterations": config.tv_iterations, "tol": TV_TOL[solver] if config.tv_tol is None else config.tv_tol,
            "step_ratio": TV_STEP_RATIO if solver == "pdhg" else None, "iterations_run": used,
            "stopped_by_tolerance": sum(n < config.tv_iterations for n in used),
            "seconds_per_image": seconds / max(len(used), 1)}


def run_tv(config: RestorationConfig, fixed_op: LinearOperator, cases: list, progress: bool,
           log: Callable[[str], None]) -> tuple[list[torch.Tensor], dict]:
    """The TV reconstruction of every evaluation case ``(name, y, op, x)``, and its record."""
    from tqdm.auto import tqdm

    lam, rule, search = tv_weight(config, fixed_op, progress)
    t0 = time.perf_counter()
    ops = tv_operators([op for _, _, op, _ in cases])
    with tqdm(total=len(cases), desc="TV baseline", disable=not progress, leave=False) as bar:
        images, used = solve_all([(y, ops[id(op)]) for _, y, op, _ in cases], lam, config.tv_iterations,
                                 config.tv_tol, bar)
    record = tv_record(config, cases[0][2], lam, rule, search, used, time.perf_counter() - t0)
    log(f"TV baseline: lambda {lam:.4g} ({rule}); {record['stopped_by_tolerance']} of {len(used)} solves converged")
    return images, record

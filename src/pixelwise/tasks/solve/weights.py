"""``--lambda auto`` of ``pixelwise solve``: the weight with the best mean PSNR on the validation photographs, found by
a bracketing search on log lambda with parabolic and golden-section steps (:mod:`pixelwise.solvers.lambda_path`).

The classical methods are solved along the path in float32, each from the naive image (TV with the dual iterates
of the nearest weight tried before, :func:`pixelwise.solvers.methods.path_solver`) and stopped at a looser
tolerance (:data:`SEARCH_TOL`) or after at most :data:`SEARCH_ITERATIONS` (the ranking of the weights needs
approximate solutions, not converged ones); plug-and-play and RED are deterministic too and are searched the same
way, each solve from the start. The winner is then solved once more, on the image itself, with the method's own
settings. The validation photograph is never the image being reconstructed: choosing the weight with the test
image's own truth would report an optimistic score.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pixelwise.metrics.image import psnr
from pixelwise.physics import LinearOperator
from pixelwise.solvers.lambda_path import PathSearch, WarmStarts, search_evaluations, search_log_lambda
from pixelwise.solvers.methods import path_solver

STEP = 0.75  # decades between the first three weights (the default times 10^-0.75, 1, 10^0.75)
WIDEN = 3  # steps past an end where the best sits: the reach is the default times 10^(+-3)
SEARCH_RESOLUTION = 0.1  # decades: the bracket the search stops at (a factor 1.26 in lambda)
SEARCH_TOL = 1e-4  # the relative change the searched solves stop at (the final TV solve: 1e-5)
# the most iterations each searched solve runs (each from the naive image; TV keeps its neighbour's duals). Measured
# 2026-12-05 against the final solve's own 200: 60-view CT at 256 x 256 14 s and 29.09 dB (100: 24 s, 29.14 dB;
# the old cold grid 112 s, 24.63 dB); 50% inpainting of the camera at 240 x 240 29.28 dB (100: 29.45; 200: 29.50);
# Gaussian deblurring the same to 0.01 dB
SEARCH_ITERATIONS = 60


def search_classical(op: LinearOperator, validation: list[tuple[torch.Tensor, torch.Tensor]], method: str, lam: float,
                     iterations: int, settings: dict, progress: bool = True) -> PathSearch:
    """The weight of a classical ``method`` around its default ``lam``: float32 solves of each validation
    measurement (``(image, y)`` pairs), each along its own path. ``settings``: the wavelet method's ``wavelet`` and
    ``levels``, TV's ``op_norm``."""
    paths = [WarmStarts(path_solver(op, y.float(), method, min(iterations, SEARCH_ITERATIONS), tol=SEARCH_TOL,
                                    **settings)) for _, y in validation]
    return _search(lambda value: [warm(value) for warm in paths], [image for image, _ in validation], method, lam,
                   progress)


def search_learned(solve: Callable[[float], list[torch.Tensor]], images: list[torch.Tensor], method: str, lam: float,
                   progress: bool = True) -> PathSearch:
    """The weight of plug-and-play or RED around ``lam``; ``solve(value)`` reconstructs each of the validation
    ``images``."""
    return _search(solve, images, method, lam, progress)


def _search(solve: Callable[[float], list[torch.Tensor]], images: list[torch.Tensor], method: str, lam: float,
            progress: bool) -> PathSearch:
    """The search itself: a weight scores the mean PSNR of ``solve(weight)``'s reconstructions of ``images``."""
    from tqdm.auto import tqdm

    bar = tqdm(total=search_evaluations(WIDEN), desc=f"{method}: lambda search", leave=False, disable=not progress)

    def score(value: float) -> float:
        solved = solve(value)
        return sum(psnr(x.clamp(0, 1).double()[0], image[0], 1.0) for x, image in zip(solved, images, strict=True)
                   ) / len(images)

    def seen(value: float, s: float) -> None:
        bar.update(1)
        bar.set_postfix_str(f"lambda {value:.3g}: {s:.2f} dB")

    found = search_log_lambda(score, lam, STEP, SEARCH_RESOLUTION, WIDEN, callback=seen)
    bar.close()
    return found

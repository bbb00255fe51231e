"""``run(config)``: a clean image (or a measurement file) -> y = noise(A x) -> classical reconstructions -> scores.

The methods are those of :mod:`pixelwise.solvers.methods`: the naive inverse, CG least squares, Tikhonov with a
gradient penalty, total variation (FGP for denoising, Beck and Teboulle 2009; Chambolle and Pock 2011 otherwise)
and proximal gradient with a TV prox (FISTA, Beck and Teboulle 2009). Scores are PSNR and SSIM (Wang et al.
2004, "Image quality assessment: from error visibility to structural similarity") with data range 1 on the
reconstruction clipped to [0, 1].
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from pixelwise.errors import PixelwiseError
from pixelwise.metrics.image import psnr, ssim
from pixelwise.physics import GaussianNoise, LinearOperator, PoissonNoise
from pixelwise.physics.presets import build_operator
from pixelwise.solvers import DEFAULT_ITERATIONS, METHOD_NAMES, choose_lambda, default_lambda, log_grid, reconstruct
from pixelwise.solvers.lambda_search import LambdaChoice
from pixelwise.tasks.solve.config import SolveConfig
from pixelwise.tasks.solve.inputs import image_shape, load_measured, load_truth, read_mask, validation_image
from pixelwise.tasks.solve.outputs import write_figure, write_measurement, write_picture
from pixelwise.train.files import write_json
from pixelwise.train.runs import RunFolder, RunResult, config_dict

SSIM_WINDOW = 11  # SSIM's Gaussian window (Wang et al. 2004) needs images of at least 11 x 11
# lambda="auto" tries the default weight times 1/30 ... 30, 7 values evenly spaced in log scale
SEARCH_LOW, SEARCH_HIGH, SEARCH_COUNT = 1 / 30, 30.0, 7


@dataclass
class Problem:
    """Everything checked before anything is written."""

    truth: torch.Tensor | None  # (1, C, H, W) in [0, 1], None when only a measurement file is given
    op: LinearOperator  # with the noise model of the config
    y: torch.Tensor  # (1, ...) the measurement
    naive: torch.Tensor  # (1, C, H, W) the operator's naive reconstruction of y
    validation: tuple[torch.Tensor, torch.Tensor] | None  # (image, its measurement) for lam="auto", else None


def run(config: SolveConfig, overwrite: bool = False, progress: bool = True,
        log: Callable[[str], None] = print) -> RunResult:
    """Simulate (or read) the measurement, reconstruct it by ``config.method`` (every method with ``compare``),
    score and write into the folder ``config.out`` (created; an existing one is replaced only with
    ``overwrite``, and only if it holds a run's config.json). Every file is read and checked first."""
    t0 = time.perf_counter()
    folder = RunFolder(config, overwrite=overwrite)
    problem = prepare(config)
    out = folder.create()
    write_measurement(out, problem.op, problem.y, problem.naive)
    naive = {"name": config.measurement.naive_name, **scores(problem.naive, problem.truth)}
    solved = {}
    for method in methods_of(config):
        row, x = solve(config, problem, method, progress, log)
        row["file"] = f"reconstruction_{method}.png" if config.compare else "reconstruction.png"
        write_picture(out / row["file"], x)
        solved[method] = (row, x)
    write_figure(out / "figure.png", problem.truth, problem.op, problem.y, (naive, problem.naive), solved,
                 title(config))
    noise = problem.op.noise.describe() if config.measured is None else {"noise": "from file"}
    metrics = {"config": config_dict(config), "operator": type(problem.op).__name__, "noise": noise,
               "naive": naive, "methods": {method: row for method, (row, _) in solved.items()}}
    write_json(out / "metrics.json", metrics)
    return RunResult(out, metrics, [], time.perf_counter() - t0)


def prepare(config: SolveConfig) -> Problem:
    """Read and check the image, the measurement file, the mask and the validation image; build the operator
    and simulate y = noise(A x) unless a measurement is given. Writes nothing."""
    generator = torch.Generator().manual_seed(config.seed)  # random masks first, then the noise
    truth = load_truth(config)
    if truth is not None and min(truth.shape[-2:]) < SSIM_WINDOW:
        raise PixelwiseError(f"IMAGE is {truth.shape[-2]}x{truth.shape[-1]} pixels; SSIM's 11x11 window needs at "
                             "least 11x11: give a larger image (or a larger --size).")
    y = load_measured(config) if config.measured is not None else None
    shape = tuple(truth.shape[1:]) if truth is not None else image_shape(config, y)
    op = build_operator(config.measurement, shape[-2:], generator, mask=read_mask(config, shape[-2:]))
    op.noise = noise_model(config)  # with a measurement file: only for the validation measurement of "auto"
    if y is None:
        y = op.forward(truth, generator=generator)
    naive = naive_reconstruction(config, op, y)
    if truth is not None and naive.shape != truth.shape:
        raise PixelwiseError(f"the measurement gives a {tuple(naive.shape[1:])} image but IMAGE is "
                             f"{tuple(truth.shape[1:])}; use matching files.")
    if config.measurement.operator == "downsample" and min(y.shape[-2:]) < 2:
        raise PixelwiseError(f"scale={config.measurement.scale} (--scale) leaves a {y.shape[-2]}x{y.shape[-1]} "
                             f"measurement of a {shape[-2]}x{shape[-1]} image; use a smaller scale (2, 3 or 4).")
    return Problem(truth, op, y, naive, validation_pair(config, op, shape))


def noise_model(config: SolveConfig):
    """Poisson noise of ``poisson_peak`` photons at value 1, else Gaussian of ``noise_sigma / 255``."""
    if config.poisson_peak is not None:
        return PoissonNoise(config.poisson_peak)
    return GaussianNoise(config.sigma)


def naive_reconstruction(config: SolveConfig, op: LinearOperator, y: torch.Tensor) -> torch.Tensor:
    """``op.naive(y)``, with a measurement that does not fit the operator refused in one sentence."""
    try:
        return op.naive(y)
    except (RuntimeError, PixelwiseError) as err:  # shapes that do not fit the operator
        source = f"measurement {config.measured}" if config.measured else "the measurement"
        raise PixelwiseError(f"{source} does not fit the {config.measurement.operator} operator "
                             f"({str(err).rstrip('.')}); use the measurement.npy that `pixelwise solve` wrote with "
                             "the same operator settings (e.g. --views, --image-size).") from None


def methods_of(config: SolveConfig) -> tuple[str, ...]:
    """Every method with ``compare``, else the one chosen."""
    return METHOD_NAMES if config.compare else (config.method,)


def validation_pair(config: SolveConfig, op: LinearOperator, shape) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The validation image and its simulated measurement (seed + 1) when ``lam="auto"`` has a weight to
    choose; else None."""
    weighted = [m for m in methods_of(config) if default_lambda(config.measurement.operator, m, 0.0) is not None]
    if config.lam != "auto" or not weighted:
        return None
    image = validation_image(config, shape)
    return image, op.forward(image, generator=torch.Generator().manual_seed(config.seed + 1))


def scores(x: torch.Tensor, truth: torch.Tensor | None) -> dict:
    """PSNR and SSIM of ``x`` clipped to [0, 1] against the truth (data range 1); {} without a truth."""
    if truth is None:
        return {}
    x = x.clamp(0, 1)
    return {"psnr": psnr(x[0], truth[0], 1.0), "ssim": ssim(x[0], truth[0], 1.0)}


def solve(config: SolveConfig, problem: Problem, method: str, progress: bool = True,
          log: Callable[[str], None] = print) -> tuple[dict, torch.Tensor]:
    """One method: its weight (given, the default, or searched with ``lam="auto"``), the reconstruction with a
    progress bar, and the row of metrics.json (lambda, iterations, seconds, scores)."""
    from tqdm.auto import tqdm

    iterations = DEFAULT_ITERATIONS[method] if config.iterations is None else config.iterations
    default = default_lambda(config.measurement.operator, method, config.sigma)  # None: the method has no weight
    lam = config.lam if isinstance(config.lam, (int, float)) and default is not None else default
    row: dict = {"lambda": lam, "iterations": 0 if method == "adjoint" else iterations}
    if config.lam == "auto" and lam is not None:
        choice = choose_weight(problem, method, lam, iterations)
        lam = choice.lam
        row.update({"lambda": lam, "lambda_search": choice.table})
        log(f"{method}: {choice.describe()}")
    bar = tqdm(total=iterations, desc=method, leave=False, disable=not progress or method == "adjoint")

    def advance(k: int, x: torch.Tensor) -> None:  # returns None: a true value would stop the solver
        bar.update(1)

    start = time.perf_counter()
    x = reconstruct(problem.op, problem.y, method, lam, iterations, callback=advance)
    row["seconds"] = time.perf_counter() - start
    bar.close()
    row.update(scores(x, problem.truth))
    return row, x


def choose_weight(problem: Problem, method: str, lam: float, iterations: int) -> LambdaChoice:
    """The weight among ``lam`` x (1/30 ... 30) with the best PSNR on the validation image (never on the image
    being reconstructed, which would report an optimistic score)."""
    image, y = problem.validation
    grid = [lam * f for f in log_grid(SEARCH_LOW, SEARCH_HIGH, SEARCH_COUNT)]

    def solve_validation(value: float) -> torch.Tensor:
        return reconstruct(problem.op, y, method, value, iterations).clamp(0, 1)

    return choose_lambda(solve_validation, image, grid)


def title(config: SolveConfig) -> str:
    """The figure's title: the operator and the noise."""
    noise = f"Poisson peak {config.poisson_peak:g}" if config.poisson_peak else f"sigma {config.noise_sigma:g}/255"
    return f"{config.measurement.operator}, {noise}"

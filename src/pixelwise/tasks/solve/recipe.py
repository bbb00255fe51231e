"""``run(config)``: a clean image (or a measurement file) -> y = noise(A x) -> reconstructions -> scores.

The classical methods are those of :mod:`pixelwise.solvers.methods`: the naive inverse, CG least squares, Tikhonov
with a gradient penalty, total variation (FGP for denoising, Beck and Teboulle 2009; Chambolle and Pock 2011
otherwise), proximal gradient with a TV prox (FISTA, Beck and Teboulle 2009) and l1-wavelet by FISTA. The learned
priors (:mod:`pixelwise.tasks.solve.learned`) are plug-and-play and RED with a trained denoiser, CSGM with a trained
decoder or generator, and diffusion posterior sampling with a trained DDPM. Scores are PSNR and SSIM (Wang et al.
2004, "Image quality assessment: from error visibility to structural similarity") with data range 1 on the
reconstruction clipped to [0, 1].
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pixelwise.data.io import depth_to_write
from pixelwise.errors import PixelwiseError
from pixelwise.physics import GaussianNoise, LinearOperator, PoissonNoise
from pixelwise.physics.presets import build_operator
from pixelwise.solvers import METHOD_NAMES
from pixelwise.tasks.solve.config import PRIOR_OF, SolveConfig
from pixelwise.tasks.solve.inputs import image_shape, load_measured, load_truth, read_mask, validation_images
from pixelwise.tasks.solve.outputs import write_figure, write_measurement, write_picture
from pixelwise.tasks.solve.priors import Prior, load_priors
from pixelwise.tasks.solve.solving import scores, searched, solve, wavelet_levels
from pixelwise.train.files import write_json
from pixelwise.train.runs import RunFolder, RunResult, config_dict


@dataclass
class Problem:
    """Everything checked before anything is written."""

    truth: torch.Tensor | None  # (1, C, H, W) in [0, 1], None when only a measurement file is given
    op: LinearOperator  # with the noise model of the config
    y: torch.Tensor  # (1, ...) the measurement
    naive: torch.Tensor  # (1, C, H, W) the operator's naive reconstruction of y
    validation: list[tuple[torch.Tensor, torch.Tensor]] | None  # (image, its measurement) each, for lam="auto"
    priors: dict[str, Prior]  # the learned priors given (denoiser, generator, diffusion)
    methods: tuple[str, ...]  # the methods to run
    depth: np.dtype = np.dtype(np.uint8)  # what the images are written at: 16 bits for a grey image deeper than 8


def run(config: SolveConfig, overwrite: bool = False, progress: bool = True,
        log: Callable[[str], None] = print) -> RunResult:
    """Simulate (or read) the measurement, reconstruct it by ``config.method`` (every method with ``compare``),
    score and write into the folder ``config.out`` (created; an existing one is replaced only with
    ``overwrite``, and only if it holds a run's config.json). Every file is read and checked first."""
    t0 = time.perf_counter()
    folder = RunFolder(config, overwrite=overwrite)
    problem = prepare(config)
    out = folder.create()
    write_measurement(out, problem.op, problem.y, problem.naive, problem.depth)
    naive = {"name": config.measurement.naive_name, **scores(problem.naive, problem.truth)}
    solved = {}
    for method in problem.methods:
        row, x = solve(config, problem, method, progress, log)
        row["file"] = f"reconstruction_{method}.png" if config.compare else "reconstruction.png"
        write_picture(out / row["file"], x, problem.depth)
        solved[method] = (row, x)
    write_figure(out / "figure.png", problem.truth, problem.op, problem.y, (naive, problem.naive), solved,
                 title(config))
    noise = problem.op.noise.describe() if config.measured is None else {"noise": "from file"}
    metrics = {"config": config_dict(config), "operator": type(problem.op).__name__, "noise": noise,
               "naive": naive, "methods": {method: row for method, (row, _) in solved.items()}}
    write_json(out / "metrics.json", metrics)
    return RunResult(out, metrics, [], time.perf_counter() - t0)


def prepare(config: SolveConfig) -> Problem:
    """Read and check the image, the measurement file, the mask, the validation image and the learned priors; build
    the operator and simulate y = noise(A x) unless a measurement is given. Writes nothing."""
    generator = torch.Generator().manual_seed(config.seed)  # random masks first, then the noise
    truth = load_truth(config)
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
    priors = load_priors({kind: getattr(config, kind) for kind in ("denoiser", "generator", "diffusion")}, shape,
                         config.ensemble)
    methods = methods_of(config, priors, shape)
    source = config.image if config.image is not None else config.measured
    depth = depth_to_write(source if source is not None and Path(source).suffix.lower() != ".npy" else None, shape[0])
    return Problem(truth, op, y, naive, validation_pairs(config, op, shape, methods), priors, methods, depth)


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


def methods_of(config: SolveConfig, priors: dict[str, Prior], shape) -> tuple[str, ...]:
    """With ``compare``: every classical method (the wavelet one where the image allows a level of its wavelet)
    and every learned one whose prior is given; else the one chosen (its wavelet levels checked)."""
    if not config.compare:
        if config.method == "wavelet":
            wavelet_levels(config, shape)  # refuses a level too deep, in one sentence
        return (config.method,)
    classical = tuple(m for m in METHOD_NAMES if m != "wavelet" or _wavelet_fits(config, shape))
    return classical + tuple(m for m, kind in PRIOR_OF.items() if kind in priors)


def _wavelet_fits(config: SolveConfig, shape) -> bool:
    """Whether the image allows the wavelet method: its levels if given (else refused), or at least one level."""
    if config.wavelet_levels is not None:
        return wavelet_levels(config, shape) > 0
    try:
        wavelet_levels(config, shape)
    except PixelwiseError:
        return False
    return True


def validation_pairs(config: SolveConfig, op: LinearOperator, shape, methods) -> list[tuple[torch.Tensor, ...]] | None:
    """Each validation image and its simulated measurement (the k-th with seed + 1 + k) when ``lam="auto"`` has a
    weight to choose; else None."""
    if config.lam != "auto" or not any(searched(config, m) for m in methods):
        return None
    return [(image, op.forward(image, generator=torch.Generator().manual_seed(config.seed + 1 + k)))
            for k, image in enumerate(validation_images(config, shape))]


def title(config: SolveConfig) -> str:
    """The figure's title: the operator and the noise."""
    noise = f"Poisson peak {config.poisson_peak:g}" if config.poisson_peak else f"sigma {config.noise_sigma:g}/255"
    return f"{config.measurement.operator}, {noise}"

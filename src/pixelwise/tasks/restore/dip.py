"""Deep image prior (``pixelwise restore dip``): one clean image -> a simulated measurement -> a DIP fit ->
trace, metrics and figure (Ulyanov, Vedaldi and Lempitsky 2018, "Deep Image Prior", CVPR).

``run_dip(config)`` crops the image, simulates ``y = A x + n`` for the measurement (any operator of
:mod:`pixelwise.physics.presets`), fits a randomly initialised :class:`pixelwise.models.DIPNet` to ``y`` alone by
:func:`pixelwise.solvers.dip.fit_dip`, and writes into ``config.out``: ``config.json`` (a valid ``--config``),
``measurement.png`` (when the measurement is an image of the same size), ``naive.png``, ``reconstruction.png``,
``trace.csv`` (loss and PSNR against the truth every ``log_every`` iterations), ``metrics.json`` and
``figure.png``. The truth is used only for the trace and for choosing the reported iteration (with
``patience``: early stopping by an oracle, which a benchmark of DIP can show and a real use cannot; without
the truth one picks an iteration count beforehand, or stops by ``discrepancy``: Morozov's discrepancy principle,
which needs only the measurement and its noise level, :func:`pixelwise.solvers.dip.fit_dip`, (D2)).

``curves`` adds the course's picture of why DIP works (Ulyanov et al. 2018, Fig. 2): the same network fitted
(A = I, no smoothing) to the clean image, to the image with the noise, and to pure uniform noise, with the MSE to
each target against the iteration (``curves.csv``, ``plots/curves.png``): the natural image is fitted first,
the noise last.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from tqdm.auto import tqdm

from pixelwise.data.io import write_image
from pixelwise.data.samples import center_crop, load_image, sample, sample_names, to_uint8
from pixelwise.errors import PixelwiseError
from pixelwise.metrics.image import psnr, ssim
from pixelwise.models import DIPNet
from pixelwise.physics.presets import Measurement, build_operator
from pixelwise.solvers.dip import fit_dip
from pixelwise.tasks.restore.data import simulate
from pixelwise.train.config import option, whole
from pixelwise.train.files import write_csv, write_json
from pixelwise.train.runs import config_dict


@dataclass
class DIPConfig:
    """The settings of ``pixelwise restore dip``."""

    RECIPE: ClassVar[str] = "restore dip"

    image: str = option("camera", path=True, keywords=sample_names(), help="an image file, or a bundled sample "
                        "name (camera, astronaut, shepp_logan)")
    out: str = option("runs/dip", path=True, help="folder for the results")
    measurement: Measurement = option(default_factory=Measurement, help="the measurement")
    sigma: float = option(25.0, help="Gaussian noise in 8-bit grey levels")
    size: int = option(64, help="centre crop of the image (square)")
    iterations: int = option(500, help="Adam steps")
    lr: float = option(0.01, help="Adam's learning rate")
    depth: int = option(3, help="levels of the DIP network")
    width: int = option(16, help="channels of its first level")
    noise_channels: int = option(8, help="channels of the fixed random input z0")
    ema: float = option(0.99, help="weight of the moving average of the outputs (0: off)")
    log_every: int = option(10, help="trace (and check for patience) every this many iterations")
    patience: int | None = option(None, help="stop after this many checks without a better PSNR against the truth "
                                  "(an oracle: benchmarks only; default: never)")
    seed: int = option(0, help="seed of the noise, the masks, the input z0 and the initial weights")
    discrepancy: bool = option(False, help="stop when the smoothed output fits the measurement to the noise level "
                               "(Morozov's discrepancy principle: the measurement and sigma only, no truth)")
    curves: bool = option(False, help="also fit the clean image, the noisy image and pure noise and plot the three "
                          "fitting curves (curves.csv, plots/curves.png)")

    def __post_init__(self):
        for name in ("size", "iterations", "depth", "width", "noise_channels", "log_every"):
            whole(getattr(self, name), name)
        whole(self.seed, "seed", 0)
        if self.size < 11:
            raise PixelwiseError(f"size={self.size} must be >= 11 (the SSIM window).")
        if not (self.sigma >= 0 and math.isfinite(self.sigma)):
            raise PixelwiseError(f"sigma={self.sigma} must be a finite number >= 0 (grey levels out of 255).")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise PixelwiseError(f"lr={self.lr} must be a finite number > 0, e.g. 0.01.")
        if not 0 <= self.ema < 1:
            raise PixelwiseError(f"ema={self.ema} must be in [0, 1) (0 turns the average off).")
        if self.patience is not None:
            whole(self.patience, "patience")
        m = self.measurement
        if m.operator == "downsample" and self.size % m.scale:
            raise PixelwiseError(f"size={self.size} must be a multiple of scale={m.scale} for downsample.")
        if self.image not in sample_names() and not Path(self.image).is_file():
            raise PixelwiseError(f"image {self.image} is neither a file nor a bundled sample "
                                 f"({', '.join(sample_names())}); check the path.")


def run_dip(config: DIPConfig, overwrite: bool = False, progress: bool = True,
            log: Callable[[str], None] = print) -> dict:
    """Simulate, fit, score and write into ``config.out`` (created if needed; a folder that already holds files
    only with ``overwrite``, which writes into it); returns the metrics."""
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise PixelwiseError(f"--out {out} is a file; give a folder (new or existing) instead.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise PixelwiseError(f"{out} already holds files; pass --overwrite to write into it, or choose another --out.")
    img = sample(config.image, grey=True) if config.image in sample_names() else load_image(config.image, grey=True)
    truth = center_crop(img, config.size)[None].float()  # (1, 1, size, size); a too-small image is refused here
    g = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    op = build_operator(config.measurement, truth.shape[-2:], g)
    y = simulate(op, truth, torch.full((1,), config.sigma / 255.0), g).float()
    naive = op.naive(y).float()
    net = DIPNet(1, config.noise_channels, config.depth, config.width)
    with tqdm(total=config.iterations, desc="deep image prior", disable=not progress, leave=False) as bar:
        result = fit_dip(op, y, truth.shape, net, config.iterations, config.lr, truth=truth, ema=config.ema,
                         log_every=config.log_every, patience=config.patience, generator=g,
                         callback=lambda it, row: bar.update(it - bar.n),
                         discrepancy=(config.sigma / 255.0) ** 2 if config.discrepancy else None)
    last = result.trace[-1]
    metrics = {"naive_name": config.measurement.naive_name,
               "naive": {"psnr": psnr(naive.clamp(0, 1), truth, 1.0), "ssim": ssim(naive.clamp(0, 1), truth, 1.0)},
               "dip": {"psnr": psnr(result.image, truth, 1.0), "ssim": ssim(result.image, truth, 1.0),
                       "iteration": result.best_iteration, "stopped_by": result.stopped_by},
               "last": {"iteration": last["iteration"], "psnr": last.get("psnr")}}
    _write(config, metrics, y, naive, truth, result)
    if config.curves:
        _write_curves(Path(config.out), fitting_curves(config, truth, progress))
    log(f"{metrics['naive_name']} {metrics['naive']['psnr']:.2f} dB -> DIP {metrics['dip']['psnr']:.2f} dB "
        f"at iteration {result.best_iteration} (last {last['iteration']}: {last.get('psnr', float('nan')):.2f} dB)")
    return metrics


def _write(config: DIPConfig, metrics: dict, y, naive, truth, result) -> None:
    from pixelwise.report.reconstruction import side_by_side  # matplotlib, only when there is a figure to draw

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", config_dict(config))
    write_image(out / "naive.png", to_uint8(naive[0].clamp(0, 1)))
    if y.shape == truth.shape:
        write_image(out / "measurement.png", to_uint8(y[0].clamp(0, 1)))
    write_image(out / "reconstruction.png", to_uint8(result.image[0]))
    write_csv(out / "trace.csv", result.trace)
    write_json(out / "metrics.json", {"config": config_dict(config), **metrics})
    name = metrics["naive_name"]
    side_by_side([(f"{name}\n{metrics['naive']['psnr']:.2f} dB", naive[0, 0].clamp(0, 1).numpy()),
                  (f"DIP, iteration {result.best_iteration}\n{metrics['dip']['psnr']:.2f} dB",
                   result.image[0, 0].numpy()),
                  ("truth", truth[0, 0].numpy())], out / "figure.png",
                 title=f"deep image prior, {config.measurement.operator}")


def fitting_curves(config: DIPConfig, truth: torch.Tensor, progress: bool = False) -> list[dict]:
    """The MSE of the DIP network's output to each of three targets, fitted from the same initial weights and
    input (A = I, no moving average): ``natural`` (the clean image), ``noisy`` (it plus Gaussian noise of
    ``sigma``, at least 25 grey levels) and ``noise`` (uniform noise in [0, 1]); one row per logged iteration."""
    from pixelwise.physics import Identity

    g = torch.Generator().manual_seed(config.seed + 1)
    noisy = truth + max(config.sigma, 25.0) / 255.0 * torch.randn(truth.shape, generator=g)
    targets = {"natural": truth, "noisy": noisy, "noise": torch.rand(truth.shape, generator=g)}
    columns = {}
    for name, target in tqdm(targets.items(), desc="fitting curves", disable=not progress, leave=False):
        torch.manual_seed(config.seed)  # the same initial weights for the three fits
        net = DIPNet(1, config.noise_channels, config.depth, config.width)
        fit = fit_dip(Identity(), target, truth.shape, net, config.iterations, config.lr, ema=0.0,
                      log_every=config.log_every, generator=torch.Generator().manual_seed(config.seed))
        columns[name] = [row["residual"] for row in fit.trace]
        iterations = [row["iteration"] for row in fit.trace]
    return [{"iteration": it, **{name: values[k] for name, values in columns.items()}}
            for k, it in enumerate(iterations)]


def _write_curves(out: Path, rows: list[dict]) -> None:
    from pixelwise.report.plots import plot_history

    write_csv(out / "curves.csv", rows)
    (out / "plots").mkdir(exist_ok=True)
    plot_history(rows, out / "plots" / "curves.png", ["natural", "noisy", "noise"], "deep image prior: fitting "
                 "curves", "MSE to the target", x="iteration", log_y=True)

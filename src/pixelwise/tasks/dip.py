"""Deep image prior recipe: one clean image -> simulated measurement -> DIP fit -> trace, metrics, figure.

``run_dip(config)`` crops the image, simulates ``y = A x + n`` for the task (any of the restoration tasks),
fits a randomly initialised :class:`pixelwise.models.DIPNet` to ``y`` alone by
:func:`pixelwise.solvers.dip.fit_dip`, and writes into ``config.out``: ``measurement.png``, ``naive.png``,
``reconstruction.png``, ``trace.csv`` (loss and PSNR against the truth every ``log_every`` iterations),
``metrics.json`` and ``figure.png``. The truth is used only for the trace and for choosing the reported
iteration (with ``patience``: early stopping by an oracle, which is what a benchmark of DIP can show and a
real use cannot; without the truth one picks an iteration count beforehand).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from pixelwise.data.io import write_image
from pixelwise.data.samples import center_crop, load_image, sample, sample_names, to_uint8
from pixelwise.errors import PixelwiseError
from pixelwise.metrics.image import psnr, ssim
from pixelwise.models import DIPNet
from pixelwise.solvers.dip import fit_dip
from pixelwise.tasks.restoration import NAIVE_NAMES, TASKS, operator_for, simulate
from pixelwise.train.runs import write_csv, write_json


@dataclass
class DIPConfig:
    image: str = "camera"  # an image file or a bundled sample name
    out: str = "runs/dip"
    task: str = "denoise"
    sigma: float = 25.0  # grey levels
    scale: int = 2
    keep: float = 0.5
    blur_sigma: float = 1.6
    acceleration: float = 4.0
    views: int = 30
    size: int = 64  # centre crop
    iterations: int = 500
    lr: float = 0.01
    depth: int = 3
    width: int = 16
    noise_channels: int = 8
    ema: float = 0.99
    log_every: int = 10
    patience: int | None = None
    seed: int = 0

    def __post_init__(self):
        if self.task not in TASKS:
            raise PixelwiseError(f"--task {self.task!r} is not known; use one of {', '.join(TASKS)}.")
        for name in ("size", "iterations", "depth", "width", "noise_channels", "log_every", "scale", "views"):
            if int(getattr(self, name)) != getattr(self, name) or getattr(self, name) < 1:
                raise PixelwiseError(f"{name}={getattr(self, name)} must be a whole number >= 1.")
        if self.size < 11:
            raise PixelwiseError(f"size={self.size} must be >= 11 (the SSIM window).")
        if not self.sigma >= 0:
            raise PixelwiseError(f"sigma={self.sigma} must be >= 0 (grey levels out of 255).")
        if not self.lr > 0 or not 0 <= self.ema < 1:
            raise PixelwiseError(f"lr={self.lr} must be > 0 and ema={self.ema} in [0, 1).")
        if self.patience is not None and self.patience < 1:
            raise PixelwiseError(f"patience={self.patience} must be >= 1.")
        if self.task == "sr" and self.size % self.scale:
            raise PixelwiseError(f"size={self.size} must be a multiple of scale={self.scale} for sr.")
        if self.image not in sample_names() and not Path(self.image).is_file():
            raise PixelwiseError(f"image {self.image} is neither a file nor a bundled sample "
                                 f"({', '.join(sample_names())}).")


def run_dip(cfg: DIPConfig, log: Callable[[str], None] = print) -> dict:
    """Simulate, fit, measure and write; returns the metrics dictionary."""
    img = sample(cfg.image, grey=True) if cfg.image in sample_names() else load_image(cfg.image, grey=True)
    truth = center_crop(img, cfg.size)[None].float()  # (1, 1, size, size)
    g = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    op = operator_for(cfg.task, truth.shape[-2:], g, cfg.scale, cfg.blur_sigma, cfg.keep, cfg.acceleration,
                      cfg.views)
    y = simulate(op, truth, torch.full((1,), cfg.sigma / 255.0), g).float()
    naive = op.naive(y).float()
    net = DIPNet(1, cfg.noise_channels, cfg.depth, cfg.width)
    result = fit_dip(op, y, truth.shape, net, cfg.iterations, cfg.lr, truth=truth, ema=cfg.ema,
                     log_every=cfg.log_every, patience=cfg.patience, generator=g)
    last = result.trace[-1]
    metrics = {"config": asdict(cfg), "naive_name": NAIVE_NAMES[cfg.task],
               "naive": {"psnr": psnr(naive.clamp(0, 1), truth, 1.0), "ssim": ssim(naive.clamp(0, 1), truth, 1.0)},
               "dip": {"psnr": psnr(result.image, truth, 1.0), "ssim": ssim(result.image, truth, 1.0),
                       "iteration": result.best_iteration},
               "last": {"iteration": last["iteration"], "psnr": last.get("psnr")}}
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    write_image(out / "naive.png", to_uint8(naive[0].clamp(0, 1)))
    if y.shape == truth.shape:
        write_image(out / "measurement.png", to_uint8(y[0].clamp(0, 1)))
    write_image(out / "reconstruction.png", to_uint8(result.image[0]))
    write_csv(out / "trace.csv", result.trace)
    write_json(out / "metrics.json", metrics)
    from pixelwise.report.reconstruction import side_by_side

    side_by_side([(f"{NAIVE_NAMES[cfg.task]}\n{metrics['naive']['psnr']:.2f} dB", naive[0, 0].clamp(0, 1).numpy()),
                  (f"DIP, iteration {result.best_iteration}\n{metrics['dip']['psnr']:.2f} dB",
                   result.image[0, 0].numpy()),
                  ("truth", truth[0, 0].numpy())], out / "figure.png", title=f"deep image prior, {cfg.task}")
    log(f"{NAIVE_NAMES[cfg.task]} {metrics['naive']['psnr']:.2f} dB -> DIP {metrics['dip']['psnr']:.2f} dB "
        f"at iteration {result.best_iteration} (last {last['iteration']}: {last.get('psnr', float('nan')):.2f} dB)")
    return metrics

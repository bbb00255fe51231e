"""Learned reconstruction recipe: data -> simulated measurements -> network -> fit -> evaluate against TV.

``run(config)`` trains a network f ~ A^{-1} for one task (``denoise``, ``sr``, ``deblur``, ``inpaint``,
``mri``, ``ct``) in one of three regimes, then ``evaluate`` scores it next to the classical baselines.

Regimes (``config.regime``):

1. ``pairs``: measured pairs (Y_i, X_i), no knowledge of A: ``min sum ||f(Y_i) - X_i||``. The data folder
   holds ``input/`` and ``target/`` images with the same stems (same size, or ``target = scale * input``
   for ``sr``). Without A there is no TV baseline and no unrolled network.
2. ``simulate``: clean images X_i and a known A: ``min sum ||f(A X_i + n) - X_i||``, with random patches,
   flips and 90-degree rotations, and fresh noise (and, for inpainting, a fresh mask) in every batch.
3. ``measurements``: measurements Y_i and a known A only: ``min sum ||A f(Y_i) - Y_i||``. The recipe
   simulates one fixed pool of measurements from the training images once (one fixed operator, a single
   noise draw each) and never shows the clean images to the loss; the best checkpoint is chosen by the
   validation loss in measurement space, not by PSNR. What this can identify: only the part of f(Y) that
   A sees. Anything in the null space of A (masked pixels, unmeasured k-space lines, missing views) is
   not constrained by the loss at all and is filled only by the network's inductive bias. For denoising
   (A = identity) the problem is degenerate: f = identity is a minimiser, the network learns to copy the
   noise. The recipe therefore refuses it and offers noise splitting instead: ``splitting="r2r"``
   (recorrupted-to-recorrupted, Pang, Zhou, Xu, Ji & Wu 2021, CVPR), which draws z ~ N(0, I) every batch
   and trains ``||A f(y + alpha sigma z) - (y - sigma / alpha z)||``. For Gaussian noise of known sigma
   the two corrupted copies have independent noise, so in expectation this is the supervised loss
   ``||A f(.) - A x||`` plus a constant (the Noise2Noise argument of Lehtinen et al. 2018). It works for
   every A here; the measurement is evaluated with f(y) (not an average of recorrupted inputs).

Noise: Gaussian with ``sigma`` in 8-bit grey levels (``sigma / 255`` in measurement units), or blind with
``sigma_range`` (one sigma per patch drawn uniformly; evaluation then uses ``sigma``).

Sizes: MRI and CT operators depend on the image size, so those tasks work at one size ``config.size``
(images centre-cropped to a square and resized; phantoms drawn at that size). The other tasks train on
``patch``-sized crops and evaluate whole images of any size.

Evaluation protocols (``config.protocol``, "auto" picks by task):

- ``denoise`` (the DnCNN / BM3D tables): the 8-bit clean image in [0, 1] plus Gaussian noise, no
  clipping of the noisy input; the output is clipped and rounded to 8 bits; PSNR with peak 255 on the
  8-bit values, SSIM likewise, no border crop.
- ``sr`` (the SRCNN / VDSR tables): the image cropped to a multiple of ``scale``; PSNR / SSIM on the
  Y channel (ITU-R BT.601, MATLAB ``rgb2ycbcr``) after shaving ``scale`` pixels from each border. Grey
  runs work on Y itself, rounded to 8 bits as MATLAB's ``rgb2ycbcr`` of a uint8 image returns it; the
  output is clipped to [0, 1] but not rounded.
- ``plain``: PSNR / SSIM with data range 1 on the output clipped to [0, 1], the whole image.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pixelwise.data.io import is_image_file, write_image
from pixelwise.data.phantoms import random_ellipses
from pixelwise.data.samples import load_image, sample, to_uint8
from pixelwise.errors import DataError, PixelwiseError
from pixelwise.losses.restoration import LOSSES, AdversarialLoss, RestorationLoss
from pixelwise.metrics.aggregate import summarise
from pixelwise.metrics.image import psnr, psnr_y, rgb_to_y, ssim, ssim_y
from pixelwise.models import SRCNN, VDSR, DnCNN, PostUpsample, ResidualUNet, Unrolled
from pixelwise.models.discriminator import PatchDiscriminator
from pixelwise.physics import (
    MRI,
    BicubicDownsample,
    Blur,
    Identity,
    Inpainting,
    LinearOperator,
    Radon,
    gaussian_kernel,
    imresize,
    random_mask,
    views,
)
from pixelwise.solvers import search_lambda, tv_denoise, tv_pdhg
from pixelwise.solvers.landweber import default_step
from pixelwise.tasks.inverse import default_lambda
from pixelwise.train import FitConfig, fit, load_weights, prepare_run_dir, read_json, write_json
from pixelwise.train.runs import RunResult, config_from_dict, write_csv
from pixelwise.train.schedule import SCHEDULES

TASKS = ("denoise", "sr", "deblur", "inpaint", "mri", "ct")
MODELS = ("dncnn", "srcnn", "vdsr", "post", "unet", "unrolled")
REGIMES = ("pairs", "simulate", "measurements")
PROTOCOLS = ("auto", "plain", "denoise", "sr")
FIXED_SIZE_TASKS = ("mri", "ct")
# the name of each task's operator in pixelwise.tasks.inverse (for the TV weight heuristics)
SOLVE_NAMES = {"denoise": "denoise", "sr": "downsample", "deblur": "blur", "inpaint": "inpaint", "mri": "mri",
               "ct": "ct"}
# noise in grey levels when none is given: the DnCNN benchmark level for denoising, the noise-free bicubic
# degradation of the SR papers, and a little noise elsewhere so that the inverse stays a regularised one
DEFAULT_SIGMA = {"denoise": 25.0, "sr": 0.0, "deblur": 2.0, "inpaint": 2.0, "mri": 2.0, "ct": 2.0}
NAIVE_NAMES = {"denoise": "noisy", "sr": "bicubic", "deblur": "blurred", "inpaint": "zero-filled",
               "mri": "zero-filled", "ct": "FBP"}


def default_patch(multiple: int = 1) -> int:
    """The training crop when none is given: DnCNN's 40 x 40 (Zhang et al. 2017), rounded up to a multiple of
    ``multiple`` (the scale, for super-resolution: 42 for x3). The same for every model: 7-minute probes of the
    depth-3 residual U-Net (batch 16, sigma 25, train400, 2 cores) reached a validation PSNR of 28.68 dB with
    40 x 40 crops (4,800 steps) and 28.58 dB with 64 x 64 (2,100 steps), although its deepest level sees only
    5 x 5 of a 40-pixel crop."""
    return -(-40 // multiple) * multiple


@dataclass
class RestorationConfig:
    task: str = "denoise"
    model: str = "dncnn"
    regime: str = "simulate"
    data: str = "bundled"  # a folder of images, "bundled" (the two photographs) or "phantoms" (random ellipses)
    out: str = "runs/restore"
    channels: int = 1  # 1 (grey; the Y channel for sr) or 3
    # measurement
    sigma: float | None = None  # Gaussian noise in 8-bit grey levels (None: DEFAULT_SIGMA of the task); the
    # evaluation sigma with ``sigma_range``
    sigma_range: tuple[float, float] | None = None  # blind training: sigma ~ U(low, high) per patch
    scale: int = 3  # sr
    blur_sigma: float = 1.6  # deblur: Gaussian kernel, circular boundary
    keep: float = 0.5  # inpaint: kept fraction of pixels
    acceleration: float = 4.0  # mri
    views: int = 30  # ct
    splitting: str | None = None  # "r2r" in the measurements regime (required for denoise)
    r2r_alpha: float = 0.5
    # model (None: the paper's size)
    depth: int | None = None
    width: int | None = None
    iterations: int = 5  # unrolled K
    shared: bool = False  # unrolled weight sharing
    up: str = "shuffle"  # post: "shuffle" or "transpose"
    # loss
    loss: str = "l2"
    huber_delta: float = 0.01
    tv_weight: float = 0.0
    adversarial_weight: float = 0.0  # SRGAN-style patch-discriminator term (1e-3 in SRGAN); 0 turns it off
    # data and training
    patch: int | None = None  # training crop (a multiple of ``scale`` for sr); None: :func:`default_patch`
    size: int = 64  # mri / ct image size and phantom size
    phantoms: int = 64  # number of training phantoms
    pool: int = 256  # measurements regime: number of fixed measured patches
    val_fraction: float = 0.2
    val_size: int = 64  # validation centre crop (at most the image)
    augment: bool = True
    batch_size: int = 16
    steps_per_epoch: int = 50
    epochs: int = 10
    minutes: float | None = None
    lr: float = 1e-3
    schedule: str = "cosine"
    warmup: int = 200  # learning-rate warm-up steps (train.schedule: Adam's first steps can kill a residual net)
    grad_clip: float | None = 1.0  # gradient-norm clipping (VDSR clips too; it keeps unrolled CT stable)
    seed: int = 0
    compile: bool = False  # train through torch.compile (eager fallback)
    # evaluation
    protocol: str = "auto"
    tv_lambda: float | str | None = None  # None: the heuristic of ``pixelwise solve``; "auto": a search on
    # validation images (never a test image, see ``search_tv_lambda``); or a number
    tv_iterations: int = 10000  # at most; TV runs until the relative change falls below ``tv_tol``
    tv_tol: float | None = None  # None: TV_TOL of the solver (FGP for denoising, Chambolle-Pock otherwise)
    tv_tune_images: int = 4  # validation images scored by the "auto" search
    figure_count: int = 4

    def __post_init__(self):
        if self.patch is None:
            self.patch = default_patch(self.scale if self.task == "sr" else 1)
        for name, allowed in (("task", TASKS), ("model", MODELS), ("regime", REGIMES), ("protocol", PROTOCOLS),
                              ("loss", tuple(LOSSES)), ("schedule", SCHEDULES)):
            if getattr(self, name) not in allowed:
                raise PixelwiseError(f"--{name} {getattr(self, name)!r} is not known; use one of {', '.join(allowed)}.")
        for name in ("channels", "scale", "iterations", "patch", "size", "phantoms", "pool", "batch_size",
                     "steps_per_epoch", "epochs", "tv_iterations", "tv_tune_images", "val_size"):
            if int(getattr(self, name)) != getattr(self, name) or getattr(self, name) < 1:
                raise PixelwiseError(f"{name}={getattr(self, name)} must be a whole number >= 1.")
        if self.channels not in (1, 3):
            raise PixelwiseError(f"channels={self.channels} must be 1 (grey) or 3 (colour).")
        if self.depth is not None and self.depth < 2:
            raise PixelwiseError(f"depth={self.depth} must be >= 2.")
        if self.width is not None and self.width < 1:
            raise PixelwiseError(f"width={self.width} must be >= 1.")
        if self.sigma is None:
            self.sigma = DEFAULT_SIGMA.get(self.task, 0.0)
        if not self.sigma >= 0:
            raise PixelwiseError(f"sigma={self.sigma} must be >= 0 (grey levels out of 255).")
        if self.sigma_range is not None:
            self.sigma_range = tuple(float(s) for s in self.sigma_range)
            if len(self.sigma_range) != 2 or not 0 <= self.sigma_range[0] <= self.sigma_range[1]:
                raise PixelwiseError(f"sigma range {self.sigma_range} must be two numbers 0 <= low <= high, e.g. 0,55.")
        if self.task == "sr" and self.scale < 2:
            raise PixelwiseError(f"scale={self.scale} must be >= 2 for super-resolution.")
        if self.task == "sr" and self.patch % self.scale:
            raise PixelwiseError(f"patch={self.patch} must be a multiple of scale={self.scale} for sr.")
        if self.patch < 11 or self.size < 11:
            raise PixelwiseError(f"patch={self.patch} and size={self.size} must be >= 11 (the SSIM window).")
        if self.model == "post" and self.task != "sr":
            raise PixelwiseError("--model post upsamples its input; use it with --task sr.")
        if self.model == "unrolled" and self.regime == "pairs":
            raise PixelwiseError("--model unrolled needs the operator A, which the pairs regime does not have.")
        if self.regime == "pairs" and self.task not in ("denoise", "sr", "deblur", "inpaint"):
            raise PixelwiseError(f"the pairs regime needs image measurements; {self.task} measurements are not images.")
        if self.splitting not in (None, "r2r"):
            raise PixelwiseError(f"splitting={self.splitting!r} is not known; use r2r or none.")
        if self.splitting is not None and self.regime != "measurements":
            raise PixelwiseError("noise splitting belongs to the measurements regime; add --regime measurements.")
        if self.regime == "measurements" and self.task == "denoise" and self.splitting is None:
            raise PixelwiseError("measurement-only denoising is degenerate (A = identity, f = identity is optimal); "
                                 "add --splitting r2r for recorrupted pairs.")
        if self.splitting == "r2r" and (self.sigma_range is not None or self.sigma == 0):
            raise PixelwiseError("r2r splitting needs one known noise level: give --sigma > 0 without --sigma-range.")
        if not self.r2r_alpha > 0:
            raise PixelwiseError(f"r2r_alpha={self.r2r_alpha} must be > 0 (0.5 is usual).")
        if not 0 <= self.val_fraction < 1:
            raise PixelwiseError(f"val_fraction={self.val_fraction} must be in [0, 1).")
        if not 0 < self.keep <= 1:
            raise PixelwiseError(f"keep={self.keep} must be in (0, 1].")
        if not self.acceleration >= 1:
            raise PixelwiseError(f"acceleration={self.acceleration} must be >= 1.")
        if not self.blur_sigma > 0:
            raise PixelwiseError(f"blur_sigma={self.blur_sigma} must be > 0.")
        if not self.tv_weight >= 0 or not self.huber_delta > 0:
            raise PixelwiseError("tv_weight must be >= 0 and huber_delta > 0.")
        if not self.adversarial_weight >= 0:
            raise PixelwiseError(f"adversarial_weight={self.adversarial_weight} must be >= 0 (1e-3 in SRGAN).")
        if self.adversarial_weight > 0 and self.regime == "measurements":
            raise PixelwiseError("the adversarial loss compares with clean images, which the measurements regime "
                                 "does not have; drop --adversarial-weight or use --regime simulate.")
        if self.data not in ("bundled", "phantoms") and not Path(self.data).is_dir():
            raise PixelwiseError(f"--data {self.data} is not a folder; give a folder of images, 'bundled' "
                                 "or 'phantoms'.")
        if self.data == "phantoms" and self.channels != 1:
            raise PixelwiseError("phantoms are grey; use --channels 1.")
        if isinstance(self.tv_lambda, str) and self.tv_lambda != "auto":
            raise PixelwiseError(f"tv_lambda={self.tv_lambda!r} must be a number >= 0, 'auto' or unset.")
        if isinstance(self.tv_lambda, (int, float)) and not self.tv_lambda >= 0:
            raise PixelwiseError(f"tv_lambda={self.tv_lambda} must be >= 0.")
        if self.tv_tol is not None and not self.tv_tol >= 0:
            raise PixelwiseError(f"tv_tol={self.tv_tol} must be >= 0 (0 runs all tv_iterations), or unset.")
        self.fit_config()

    def fit_config(self, progress: bool = True) -> FitConfig:
        """The loop's settings: best checkpoint by validation PSNR, or by the measurement-space loss when the
        regime has no clean images."""
        blind = self.regime == "measurements"
        return FitConfig(epochs=self.epochs, minutes=self.minutes, lr=self.lr, schedule=self.schedule,
                         warmup_steps=self.warmup, seed=self.seed, progress=progress,
                         monitor="val_meas_loss" if blind else "val_psnr", mode="min" if blind else "max",
                         grad_clip=self.grad_clip, compile=self.compile)

    @property
    def eval_protocol(self) -> str:
        if self.protocol != "auto":
            return self.protocol
        return {"denoise": "denoise", "sr": "sr"}.get(self.task, "plain")

    @classmethod
    def from_dict(cls, d: dict) -> RestorationConfig:
        return config_from_dict(cls, d)



# --- operators and models ------------------------------------------------------------------------------
def operator_for(task: str, size: Sequence[int], generator: torch.Generator, scale: int = 3,
                 blur_sigma: float = 1.6, keep: float = 0.5, acceleration: float = 4.0, n_views: int = 30
                 ) -> LinearOperator:
    """The operator of ``task`` for images of ``size = (H, W)``; masks draw from ``generator``."""
    h, w = int(size[0]), int(size[1])
    builders: dict[str, Callable[[], LinearOperator]] = {
        "denoise": Identity,
        "sr": lambda: BicubicDownsample(scale, input_size=(h, w)),
        "deblur": lambda: Blur(gaussian_kernel(blur_sigma), "circular"),
        "inpaint": lambda: Inpainting(random_mask((h, w), keep, generator)),
        "mri": lambda: MRI.cartesian((h, w), acceleration, None, "random", generator),
        "ct": lambda: Radon((h, w), views(n_views)),
    }
    if task not in builders:
        raise PixelwiseError(f"unknown task {task!r}; choose one of {', '.join(builders)}.")
    return builders[task]()


def build_operator(cfg: RestorationConfig, size: Sequence[int], generator: torch.Generator) -> LinearOperator:
    """:func:`operator_for` with the run's settings."""
    return operator_for(cfg.task, size, generator, cfg.scale, cfg.blur_sigma, cfg.keep, cfg.acceleration, cfg.views)


class Restorer(nn.Module):
    """Wraps a network with what it eats: ``forward((y, op)) -> (N, C, H, W)`` image.

    ``input="naive"`` feeds ``op.naive(y)`` (noisy / bicubic / zero-filled / FBP image), ``"measurement"``
    feeds ``y`` itself (post-upsampling), ``"operator"`` calls ``net(y, physics=op)`` (unrolled).
    """

    def __init__(self, net: nn.Module, input: str):
        super().__init__()
        self.net, self.input = net, input

    def forward(self, batch: tuple[torch.Tensor, LinearOperator]) -> torch.Tensor:
        y, op = batch
        if self.input == "operator":
            return self.net(y, physics=op)
        if self.input == "measurement":
            return self.net(y)
        return self.net(op.naive(y).to(y.dtype))


def build_model(cfg: RestorationConfig, op: LinearOperator | None = None, shape=None) -> Restorer:
    """The network of ``cfg.model`` in its wrapper; the unrolled net's step is ``1 / ||A||^2`` of ``op``."""
    c, d, w = cfg.channels, cfg.depth, cfg.width
    if cfg.model == "dncnn":
        return Restorer(DnCNN(c, d or 17, w or 64), "naive")
    if cfg.model == "srcnn":
        return Restorer(SRCNN(c, w or 64, max((w or 64) // 2, 1)), "naive")
    if cfg.model == "vdsr":
        return Restorer(VDSR(c, d or 20, w or 64), "naive")
    if cfg.model == "post":
        return Restorer(PostUpsample(c, cfg.scale, d or 8, w or 64, cfg.up), "measurement")
    if cfg.model == "unet":
        return Restorer(ResidualUNet(c, d or 3, w or 32), "naive")
    step = 1.0
    if op is not None and shape is not None:
        step = default_step(op, shape, generator=torch.Generator().manual_seed(cfg.seed))
    return Restorer(Unrolled(op, c, cfg.iterations, step, cfg.shared, w or 32, d or 4), "operator")


# --- data ---------------------------------------------------------------------------------------------
def _grey(img: torch.Tensor, task: str) -> torch.Tensor:
    """(3, H, W) -> (1, H, W): BT.601 Y (MATLAB rgb2ycbcr) for sr, so training matches the SR protocol;
    plain luma otherwise."""
    if task == "sr":
        return rgb_to_y(img, 1.0).to(torch.float32)
    return (0.299 * img[0:1] + 0.587 * img[1:2] + 0.114 * img[2:3]).to(torch.float32)


def read_clean(cfg: RestorationConfig, path: Path) -> torch.Tensor:
    img = load_image(path, grey=False)  # (3, H, W)
    return _grey(img, cfg.task) if cfg.channels == 1 else img


def _prepare(cfg: RestorationConfig, img: torch.Tensor) -> torch.Tensor:
    """Fit an image to the task: mri/ct at ``size`` (centre square, resized); sr cropped to a multiple of scale."""
    if cfg.task in FIXED_SIZE_TASKS:
        h, w = img.shape[-2:]
        s = min(h, w)
        img = img[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        if s != cfg.size:
            img = imresize(img[None].double(), size=(cfg.size, cfg.size))[0].clamp(0, 1).float()
        return img
    if cfg.task == "sr":
        h, w = img.shape[-2:]
        img = img[..., : h - h % cfg.scale, : w - w % cfg.scale]
    return img


def clean_images(cfg: RestorationConfig, source: str, role: str) -> list[tuple[str, torch.Tensor]]:
    """``(name, (C, H, W))`` clean images from a folder, "bundled" or "phantoms" (``role`` picks the seed of
    the phantoms: training, validation and test sets are different draws)."""
    if source == "phantoms":
        count = {"train": cfg.phantoms, "val": max(2, cfg.phantoms // 8), "test": 8}[role]
        g = torch.Generator().manual_seed(cfg.seed + {"train": 0, "val": 1, "test": 2}[role] * 7919)
        imgs = random_ellipses(count, cfg.size, g)
        return [(f"phantom{i:03d}", imgs[i]) for i in range(count)]
    if source == "bundled":
        out = []
        for name in ("camera", "astronaut"):
            img = sample(name, grey=False)
            out.append((name, _grey(img, cfg.task) if cfg.channels == 1 else img))
        return [(n, _prepare(cfg, x)) for n, x in out]
    folder = Path(source)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; give a folder of images, 'bundled' or 'phantoms'.")
    files = sorted(p for p in folder.iterdir() if is_image_file(p))
    if not files:
        raise DataError(f"no images (.png, .jpg, .bmp, .tif) in {folder}.")
    return [(p.stem, _prepare(cfg, read_clean(cfg, p))) for p in files]


def split_images(cfg: RestorationConfig, images: list) -> tuple[list, list]:
    """A seeded train / validation split; with one image both are that image."""
    if cfg.data == "phantoms" or len(images) < 2:
        return images, images
    n_val = max(1, round(cfg.val_fraction * len(images))) if cfg.val_fraction > 0 else 0
    if n_val == 0:
        return images, images[:1]
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(cfg.seed)).tolist()
    return [images[i] for i in order[n_val:]], [images[i] for i in order[:n_val]]


def random_patches(images: Sequence[torch.Tensor], n: int, p: int, generator: torch.Generator,
                   augment: bool) -> torch.Tensor:
    """``(n, C, p, p)`` crops at random places of random images, with random flips and rotations."""
    out = []
    for _ in range(n):
        img = images[int(torch.randint(len(images), (), generator=generator))]
        h, w = img.shape[-2:]
        top = int(torch.randint(h - p + 1, (), generator=generator))
        left = int(torch.randint(w - p + 1, (), generator=generator))
        crop = img[:, top:top + p, left:left + p]
        if augment:
            if torch.rand((), generator=generator) < 0.5:
                crop = crop.flip(-1)
            crop = torch.rot90(crop, int(torch.randint(4, (), generator=generator)), (-2, -1))
        out.append(crop)
    return torch.stack(out)  # (n, C, p, p)


def sigmas(cfg: RestorationConfig, n: int, generator: torch.Generator) -> torch.Tensor:
    """``(n,)`` noise levels in [0, 1] units: ``sigma / 255``, or drawn from ``sigma_range``."""
    if cfg.sigma_range is None:
        return torch.full((n,), cfg.sigma / 255.0)
    lo, hi = cfg.sigma_range
    return (lo + (hi - lo) * torch.rand(n, generator=generator)) / 255.0


def simulate(op: LinearOperator, x: torch.Tensor, sigma: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``A x + sigma_i n`` with ``n ~ N(0, I)`` and one sigma per image (no clipping)."""
    y = op.A(x)
    noise = torch.randn(y.shape, generator=generator, dtype=y.dtype)
    return y + sigma.to(y.dtype).view(-1, *([1] * (y.dim() - 1))) * noise


# --- training -----------------------------------------------------------------------------------------
def _train_size(cfg: RestorationConfig) -> int:
    return cfg.size if cfg.task in FIXED_SIZE_TASKS else cfg.patch


def _simulate_batches(cfg: RestorationConfig, images: list[torch.Tensor], fixed_op: LinearOperator) -> Callable:
    p = _train_size(cfg)

    def epoch_batches(epoch: int, generator: torch.Generator):
        for _ in range(cfg.steps_per_epoch):
            x = random_patches(images, cfg.batch_size, p, generator, cfg.augment)
            op = build_operator(cfg, (p, p), generator) if cfg.task == "inpaint" else fixed_op  # fresh mask
            y = simulate(op, x, sigmas(cfg, len(x), generator), generator)
            yield (y, op), x

    return epoch_batches


def _measurement_batches(cfg: RestorationConfig, pool: torch.Tensor, op: LinearOperator) -> Callable:
    """Batches from the fixed measurement pool; the target is the measurement (or its r2r twin)."""
    sigma, a = cfg.sigma / 255.0, cfg.r2r_alpha

    def epoch_batches(epoch: int, generator: torch.Generator):
        for _ in range(cfg.steps_per_epoch):
            y = pool[torch.randint(len(pool), (cfg.batch_size,), generator=generator)]
            if cfg.splitting == "r2r":
                z = torch.randn(y.shape, generator=generator)
                yield (y + a * sigma * z, op), (y - sigma / a * z, op)  # independent noises (Pang et al. 2021)
            else:
                yield (y, op), (y, op)

    return epoch_batches


def _pair_batches(cfg: RestorationConfig, pairs: list[tuple[torch.Tensor, torch.Tensor]], op: LinearOperator
                  ) -> Callable:
    """Aligned random crops of (input, target) pairs; the input may be ``scale`` times smaller (sr)."""
    p = cfg.patch

    def epoch_batches(epoch: int, generator: torch.Generator):
        for _ in range(cfg.steps_per_epoch):
            ins, outs = [], []
            for _ in range(cfg.batch_size):
                y, x = pairs[int(torch.randint(len(pairs), (), generator=generator))]
                r = x.shape[-1] // y.shape[-1]
                q = p // r
                top = int(torch.randint(y.shape[-2] - q + 1, (), generator=generator))
                left = int(torch.randint(y.shape[-1] - q + 1, (), generator=generator))
                ins.append(y[:, top:top + q, left:left + q])
                outs.append(x[:, top * r:top * r + p, left * r:left * r + p])
            yield (torch.stack(ins), op), torch.stack(outs)

    return epoch_batches


def load_pairs(cfg: RestorationConfig, folder: str | Path) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """``(stem, input, target)`` from ``folder/input`` and ``folder/target`` (same stems)."""
    folder = Path(folder)
    found = {}
    for side in ("input", "target"):
        sub = folder / side
        if not sub.is_dir():
            raise DataError(f"the pairs regime needs {sub}; put measurements in input/ and clean images in target/.")
        found[side] = {p.stem: p for p in sorted(sub.iterdir()) if is_image_file(p)}
    stems = sorted(found["input"])
    if not stems or set(stems) != set(found["target"]):
        raise DataError(f"input/ and target/ in {folder} must hold images with the same names (and at least one).")
    out = []
    for s in stems:
        y, x = read_clean(cfg, found["input"][s]), read_clean(cfg, found["target"][s])
        r = 1 if cfg.task != "sr" else cfg.scale
        x = x[..., : y.shape[-2] * r, : y.shape[-1] * r]
        if tuple(x.shape[-2:]) != (y.shape[-2] * r, y.shape[-1] * r):
            raise DataError(f"pair {s}: target {tuple(x.shape[-2:])} is not {r} x input {tuple(y.shape[-2:])}.")
        if min(x.shape[-2:]) < cfg.patch:
            raise DataError(f"pair {s} is smaller than --patch {cfg.patch}; use a smaller patch.")
        out.append((s, y, x))
    return out


def image_loss(cfg: RestorationConfig) -> Callable:
    """``fidelity + tv_weight TV`` (+ ``adversarial_weight`` times the SRGAN-style term) on images."""
    fidelity = RestorationLoss(cfg.loss, cfg.tv_weight, cfg.huber_delta)
    if cfg.adversarial_weight == 0:
        return fidelity
    adversarial = AdversarialLoss(PatchDiscriminator(cfg.channels))

    def loss_fn(prediction, target):
        return fidelity(prediction, target) + cfg.adversarial_weight * adversarial(prediction, target)

    loss_fn.adversarial = adversarial  # for inspection (tests, logs)
    return loss_fn


def _pairs_operator(cfg: RestorationConfig) -> LinearOperator:
    """Only the naive step of this operator is used (pre-upsampling for sr): the regime has no A."""
    return BicubicDownsample(cfg.scale) if cfg.task == "sr" else Identity()


def _validator(cfg: RestorationConfig, cases: list[tuple[tuple, torch.Tensor]]) -> Callable:
    """``validate(model)``: mean PSNR (plain, range 1), image loss and measurement-space loss."""

    def validate(model: nn.Module) -> dict:
        ps, losses, meas = [], [], []
        for (y, op), x in cases:
            out = model((y, op))
            ps.append(psnr(out.clamp(0, 1), x, 1.0))
            losses.append(float(((out - x) ** 2).mean()))
            if cfg.regime != "pairs":
                meas.append(float(((op.A(out) - y) ** 2).mean()))
        row = {"val_psnr": float(np.mean(ps)), "val_loss": float(np.mean(losses))}
        if meas:
            row["val_meas_loss"] = float(np.mean(meas))
        return row

    return validate


def _val_cases(cfg: RestorationConfig, images: list[torch.Tensor], fixed_op: LinearOperator) -> list:
    g = torch.Generator().manual_seed(cfg.seed + 12345)
    cases = []
    for img in images:
        if cfg.task in FIXED_SIZE_TASKS:
            x, op = img[None], fixed_op
        else:
            s = min(cfg.val_size, *img.shape[-2:])
            s -= s % cfg.scale if cfg.task == "sr" else 0
            h, w = img.shape[-2:]
            x = img[None, :, (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
            op = build_operator(cfg, (s, s), g)
        sig = torch.full((1,), cfg.sigma / 255.0)
        cases.append(((simulate(op, x, sig, g), op), x))
    return cases


def resume_config(out: str | Path, epochs: int | None = None, minutes: float | None = None,
                  changes: dict | None = None) -> RestorationConfig:
    """The saved configuration of the run in ``out``, to continue it with ``run(config, resume=True)``.

    ``epochs`` may raise the run's epoch count and ``minutes`` sets its time budget (the total, the time
    already spent included). Every other setting stays the saved one; ``changes`` (the settings a caller
    asked for) must agree with it, so that a resumed run never silently trains something else.
    """
    out = Path(out)
    if not (out / "checkpoints" / "last_state.pt").is_file():
        raise PixelwiseError(f"cannot resume: {out} has no checkpoints/last_state.pt; "
                             "start a new run without --resume.")
    saved = RestorationConfig.from_dict({**read_json(out / "config.json"), "out": str(out)})
    if changes:
        asked, kept = _config_dict(RestorationConfig.from_dict({**asdict(saved), **changes})), _config_dict(saved)
        differ = [f"{k}={asked[k]!r} (saved {kept[k]!r})" for k in changes if asked[k] != kept[k]]
        if differ:
            raise PixelwiseError(f"--resume continues {out} with its saved settings, but {', '.join(differ)} "
                                 "differ; drop them (only --epochs and --minutes may change) or start a new run.")
    if epochs is not None:
        if epochs < saved.epochs:
            raise PixelwiseError(f"--epochs {epochs} is below the run's {saved.epochs}; a resumed run can only be "
                                 "extended (or leave --epochs out).")
        saved.epochs = epochs
    if minutes is not None:
        saved.minutes = minutes
    saved.fit_config()  # checks the new length
    return saved


def run(cfg: RestorationConfig, overwrite: bool = False, progress: bool = True,
        log: Callable[[str], None] = print, evaluate_after: bool = True, resume: bool = False) -> RunResult:
    """Train (and, with ``evaluate_after``, evaluate on the validation images); writes only inside ``cfg.out``.

    An existing run folder is replaced only with ``overwrite``. ``resume`` continues the interrupted (or
    finished) run in ``cfg.out`` from its last checkpoint, with its saved configuration; only ``cfg.epochs``
    (raised, never lowered) and ``cfg.minutes`` (the total budget) are taken from ``cfg`` (see
    :func:`resume_config`). The data must give the same split as before.
    """
    t0 = time.perf_counter()
    if overwrite and resume:
        raise PixelwiseError("--overwrite and --resume contradict each other; pass one of them.")
    if resume:
        saved = resume_config(cfg.out)
        cfg = resume_config(cfg.out, max(cfg.epochs, saved.epochs), cfg.minutes or saved.minutes)
    torch.manual_seed(cfg.seed)
    op_gen = torch.Generator().manual_seed(cfg.seed + 7)  # the fixed operator (MRI mask, regime-3 mask)
    p = _train_size(cfg)
    fit_config = cfg.fit_config(progress)
    # read and check all data before anything is written
    if cfg.regime == "pairs":
        pairs = load_pairs(cfg, cfg.data)
        train_p, val_p = split_images(cfg, pairs)
        op = _pairs_operator(cfg)
        batches = _pair_batches(cfg, [(y, x) for _, y, x in train_p], op)
        val_cases = [((y[None], _pairs_operator(cfg)), x[None]) for _, y, x in val_p]
        model = build_model(cfg)
        loss_fn = image_loss(cfg)
        n_train, n_val = len(train_p), len(val_p)
        split = {"train": [n for n, _, _ in train_p], "val": [n for n, _, _ in val_p]}
    else:
        images = clean_images(cfg, cfg.data, "train")
        if cfg.data == "phantoms":
            tr, va = images, clean_images(cfg, "phantoms", "val")
        else:
            tr, va = split_images(cfg, images)
        train_i, val_i = [x for _, x in tr], [x for _, x in va]
        split = {"train": [n for n, _ in tr], "val": [n for n, _ in va]}
        small = [i for i, x in enumerate(train_i) if min(x.shape[-2:]) < p]
        if small:
            raise DataError(f"{len(small)} training image(s) are smaller than the {p}-pixel patch; lower --patch.")
        fixed_op = build_operator(cfg, (p, p), op_gen)
        shape = (1, cfg.channels, p, p)
        try:
            model = build_model(cfg, fixed_op, shape)
        except ValueError as err:
            raise PixelwiseError(str(err)) from None
        if cfg.regime == "simulate":
            batches = _simulate_batches(cfg, train_i, fixed_op)
            loss_fn = image_loss(cfg)
        else:
            pool_gen = torch.Generator().manual_seed(cfg.seed + 99)
            x = random_patches(train_i, cfg.pool, p, pool_gen, cfg.augment)
            pool = simulate(fixed_op, x, torch.full((len(x),), cfg.sigma / 255.0), pool_gen)  # Y_i, once
            batches = _measurement_batches(cfg, pool, fixed_op)
            fidelity = RestorationLoss(cfg.loss, cfg.tv_weight, cfg.huber_delta)

            def loss_fn(out, target):  # ||A f(y) - y|| (+ TV on f(y))
                t, op = target
                return fidelity(out, t, operator=op)
        val_cases = _val_cases(cfg, val_i, fixed_op)
        n_train, n_val = len(train_i), len(val_i)
    log(f"{cfg.task} / {cfg.model} / {cfg.regime}: {n_train} training images, {n_val} validation")
    if resume:
        if read_json(Path(cfg.out) / "split.json") != split:
            raise DataError(f"the images of {cfg.data} no longer give the split in {cfg.out}/split.json; resume "
                            "with the data the run started with, or start a new run.")
        if cfg.adversarial_weight > 0:
            log("note: the discriminator is not checkpointed; it restarts from random weights")
    run_dir = prepare_run_dir(cfg.out, overwrite=overwrite, resume=resume)
    write_json(run_dir / "config.json", _config_dict(cfg))
    write_json(run_dir / "split.json", split)
    result = fit(model, loss_fn, batches, cfg.steps_per_epoch, _validator(cfg, val_cases), fit_config, run_dir,
                 resume, log)
    log(f"trained {len(result.history)} epochs in {result.seconds:.0f}s (stopped by {result.stopped}); "
        f"best epoch {result.best_epoch}")
    metrics = evaluate(run_dir, None, log=log) if evaluate_after else {}
    return RunResult(run_dir, metrics, result.history, time.perf_counter() - t0)


def _config_dict(cfg: RestorationConfig) -> dict:
    d = asdict(cfg)
    if cfg.data not in ("bundled", "phantoms"):
        d["data"] = str(Path(cfg.data).resolve())
    return d


def load_run(run_dir: str | Path, which: str = "best") -> tuple[RestorationConfig, Restorer, LinearOperator]:
    """The config, the trained model and the fixed operator of a run folder."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise PixelwiseError(f"{run_dir} is not a restore run folder; train one with `pixelwise restore train`.")
    cfg = RestorationConfig.from_dict(read_json(run_dir / "config.json"))
    p = _train_size(cfg)
    fixed_op = build_operator(cfg, (p, p), torch.Generator().manual_seed(cfg.seed + 7))
    model = build_model(cfg, fixed_op if cfg.model == "unrolled" else None)
    path = run_dir / "checkpoints" / f"{which}.safetensors"
    if not path.is_file():
        path = run_dir / "checkpoints" / "last.safetensors"
    load_weights(model, path)
    return cfg, model.eval(), fixed_op


# --- evaluation -------------------------------------------------------------------------------------------
def score(prediction: torch.Tensor, truth: torch.Tensor, protocol: str, scale: int = 1) -> dict:
    """PSNR / SSIM of one ``(1, C, H, W)`` or ``(C, H, W)`` image under ``protocol`` (see the module doc)."""
    pred = prediction.detach().double().reshape(truth.shape[-3:]).clamp(0, 1)
    t = truth.detach().double().reshape(truth.shape[-3:])
    if protocol == "denoise":
        p8, t8 = (pred * 255).round(), (t * 255).round()
        return {"psnr": psnr(p8, t8, 255.0), "ssim": ssim(p8, t8, 255.0)}
    if protocol == "sr":
        return {"psnr": psnr_y(pred, t, 1.0, shave=scale), "ssim": ssim_y(pred, t, 1.0, shave=scale)}
    if protocol == "plain":
        return {"psnr": psnr(pred, t, 1.0), "ssim": ssim(pred, t, 1.0)}
    raise PixelwiseError(f"protocol {protocol!r} is not known; use one of {', '.join(PROTOCOLS[1:])}.")


def _display(img: torch.Tensor) -> np.ndarray:
    img = img.detach().double().reshape(img.shape[-3:]).clamp(0, 1)
    return img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy()


def _measurement_picture(op: LinearOperator, y: torch.Tensor, naive: torch.Tensor) -> np.ndarray:
    if isinstance(op, (MRI, Radon)):
        from pixelwise.tasks.inverse import _picture_of_measurement

        return _picture_of_measurement(op, y)
    return _display(y) if y.shape == naive.shape else _display(naive)


def evaluation_cases(cfg: RestorationConfig, fixed_op: LinearOperator | None, data: str | None,
               protocol: str) -> tuple[list[tuple[str, torch.Tensor, LinearOperator, torch.Tensor]], str]:
    """The evaluation cases of :func:`evaluate`: ``([(name, measurement, operator, truth)], source)``, each
    measurement simulated with its own seeded generator (``cfg.seed + 1000 + i``), so that a peer method run
    later (e.g. BM3D in ``benchmarks/restore_quality.py``) sees exactly the same noisy inputs."""
    sigma = cfg.sigma / 255.0
    cases = []
    if (data or cfg.data) == "phantoms":
        source = "a test draw of phantoms"
    elif data is not None:
        source = "the bundled photographs" if data == "bundled" else str(Path(data).resolve())
    else:
        source = "the run's validation images"
    if cfg.regime == "pairs":
        pairs = load_pairs(cfg, data) if data is not None else split_images(cfg, load_pairs(cfg, cfg.data))[1]
        for name, y, x in pairs:
            cases.append((name, y[None], _pairs_operator(cfg), x[None]))
    else:
        if data is None:
            if cfg.data == "phantoms":
                images = clean_images(cfg, "phantoms", "test")
            else:
                images = split_images(cfg, clean_images(cfg, cfg.data, "train"))[1]
        else:
            images = clean_images(cfg, data, "test")
        for i, (name, x) in enumerate(images):
            g = torch.Generator().manual_seed(cfg.seed + 1000 + i)
            x = x[None].double()
            if protocol == "denoise" or (protocol == "sr" and cfg.channels == 1):
                x = (x * 255).round() / 255  # the 8-bit clean image (for sr: MATLAB's uint8 rgb2ycbcr Y)
            op = fixed_op if cfg.task in FIXED_SIZE_TASKS else build_operator(cfg, x.shape[-2:], g)
            cases.append((name, simulate(op, x, torch.full((1,), sigma), g), op, x))
    return cases, source


def evaluate(run_dir: str | Path, data: str | None = None, protocol: str | None = None, which: str = "best",
             log: Callable[[str], None] = print) -> dict:
    """Score the run's network next to the naive and TV baselines; writes ``metrics.json`` (per image, and the
    mean, median and bootstrap interval of each method and of the network's paired gain over each baseline,
    see :func:`summaries`), ``per_case.csv``, ``plots/`` and ``report.html`` into the run folder.

    ``data``: a folder of clean images, "bundled" or "phantoms" (a fresh test draw); default: the run's
    validation images (phantoms: a test draw). In the pairs regime ``data`` holds input/ and target/.
    """
    run_dir = Path(run_dir)
    cfg, model, fixed_op = load_run(run_dir, which)
    protocol = protocol or cfg.eval_protocol
    if protocol not in PROTOCOLS[1:]:
        raise PixelwiseError(f"protocol {protocol!r} is not known; use one of {', '.join(PROTOCOLS[1:])}.")
    cases, source = evaluation_cases(cfg, fixed_op, data, protocol)
    sigma = cfg.sigma / 255.0
    rows, panels = [], []
    methods = ("naive", "network") if cfg.regime == "pairs" else ("naive", "tv", "network")
    lam, search = default_lambda(SOLVE_NAMES[cfg.task], "tv", sigma), None
    rule = "the heuristic of `pixelwise solve`"
    if isinstance(cfg.tv_lambda, (int, float)):
        lam, rule = float(cfg.tv_lambda), "given"
    elif cfg.tv_lambda == "auto" and "tv" in methods:
        search = search_tv_lambda(cfg, fixed_op, lam)
        lam, rule = search["lambda"], "searched on validation images"
    t_net, t_tv = 0.0, time.perf_counter()
    if "tv" in methods:
        ops = tv_operators([op for _, _, op, _ in cases])
        tv, tv_used = tv_reconstructions([(y, ops[id(op)]) for _, y, op, _ in cases], lam, cfg.tv_iterations,
                                         cfg.tv_tol)
    t_tv = time.perf_counter() - t_tv
    for i, (name, y, op, x) in enumerate(cases):
        with torch.no_grad():
            t = time.perf_counter()
            out = model((y.float(), op)).double()
            t_net += time.perf_counter() - t
            recon = {"naive": op.naive(y.double()), "network": out}
            if "tv" in methods:
                recon["tv"] = tv[i]
        row = {"case": name}
        for m in methods:
            s = score(recon[m], x, protocol, cfg.scale)
            row[f"psnr_{m}"], row[f"ssim_{m}"] = s["psnr"], s["ssim"]
        if "tv" in methods:
            row["tv_iterations"] = tv_used[i]
        rows.append(row)
        if i < cfg.figure_count:
            err = (out.clamp(0, 1) - x).abs() * 5
            panels.append([("measurement", _measurement_picture(op, y, recon["naive"]))]
                          + [(f"{NAIVE_NAMES[cfg.task] if m == 'naive' else m}\n{row[f'psnr_{m}']:.2f} dB",
                              _display(recon[m])) for m in methods]
                          + [("truth", _display(x)), ("|network - truth| x5", _display(err))])
    mean = {m: {"psnr": _mean([r[f"psnr_{m}"] for r in rows]), "ssim": _mean([r[f"ssim_{m}"] for r in rows])}
            for m in methods}
    metrics = {"task": cfg.task, "model": cfg.model, "regime": cfg.regime, "protocol": protocol,
               "sigma": cfg.sigma, "source": source, "count": len(rows), "naive_name": NAIVE_NAMES[cfg.task],
               "tv": _tv_summary(cfg, lam, rule, search, rows, t_tv) if "tv" in methods else None,
               "tv_lambda": lam if "tv" in methods else None, "mean": mean,
               **summaries(rows, methods, cfg.seed),
               "network_seconds_per_image": t_net / max(len(rows), 1), "per_case": rows}
    write_json(run_dir / "metrics.json", metrics)
    write_csv(run_dir / "per_case.csv", rows)
    from pixelwise.report.reconstruction import grid, write_report

    grid(panels, run_dir / "plots" / "figure.png", title=f"{cfg.task} / {cfg.model} ({protocol} protocol)")
    report = write_report(run_dir, metrics)
    stats, gain = metrics["summary"], metrics["gain"]
    log("  ".join(f"{m} {stats[m]['psnr']['mean']:.2f} dB [{stats[m]['psnr']['ci_low']:.2f}, "
                  f"{stats[m]['psnr']['ci_high']:.2f}] / {stats[m]['ssim']['mean']:.3f}" for m in methods)
        + f" on {len(rows)} images; network - "
        + ", ".join(f"{b} {gain[b]['psnr']['mean']:+.2f} dB [{gain[b]['psnr']['ci_low']:+.2f}, "
                    f"{gain[b]['psnr']['ci_high']:+.2f}]" for b in gain) + f"; report {report}")
    return metrics


def summaries(rows: Sequence[dict], methods: Sequence[str], seed: int, confidence: float = 0.95,
              n_boot: int = 2000) -> dict:
    """Mean, median, spread and a seeded percentile-bootstrap interval of the mean of each method's PSNR and
    SSIM over the images, and of the network's gain over each other method.

    The gains are paired: each image's score difference ``network - baseline`` is one sample, so every
    bootstrap draw resamples the same images for both methods. Every image counts (none is dropped).
    Returns ``{"summary": {method: {"psnr": ..., "ssim": ...}}, "gain": {baseline: {...}}, "bootstrap": ...}``.
    """
    keys = ("psnr", "ssim")
    summary = {m: {k: summarise([r[f"{k}_{m}"] for r in rows], confidence, n_boot, seed) for k in keys}
               for m in methods}
    gain = {b: {k: summarise([r[f"{k}_network"] - r[f"{k}_{b}"] for r in rows], confidence, n_boot, seed)
                for k in keys} for b in methods if b != "network"}
    for b in gain:
        gain[b]["network_better"] = sum(r["psnr_network"] > r[f"psnr_{b}"] for r in rows)  # images, by PSNR
    return {"summary": summary, "gain": gain,
            "bootstrap": {"confidence": confidence, "samples": n_boot, "seed": seed,
                          "method": "percentile bootstrap of the mean over images; gains paired by image"}}


# Chambolle-Pock's tau / sigma for the TV baseline (the minimiser is the same; see pixelwise.solvers.tv): 100
# reached a relative change of 1e-6 2 to 6 times sooner than 1 on 64 x 64 CT (30 views), MRI (4x), deblurring
# and x3 super-resolution; inpainting (half the pixels) took about twice as long as with 1
TV_STEP_RATIO = 100.0
# The TV baseline's default tolerances on the relative change of the iterate, by solver. FGP (denoising, change
# relative to ||y||): 1e-4 and 1e-6 gave the same PSNR to 0.002 dB on a 321 x 481 photograph at sigma 25.
# Chambolle-Pock (change relative to ||x||, a slow tail), four 64 x 64 phantoms at the searched lambda: CT with
# 30 views stopped at 1e-6 after 3580 iterations with 53.51 dB, at 1e-7 after 5026 with 53.77 dB, and 20000
# iterations gave 53.81 dB; MRI at 4x gave 38.61 dB at either tolerance (487 and 1058 iterations).
TV_TOL = {"fgp": 1e-4, "pdhg": 1e-7}


def tv_operators(ops: Sequence[LinearOperator]) -> dict[int, LinearOperator]:
    """``id(op) -> the operator TV iterates with``: for CT the explicit sparse matrix (``Radon(sparse=True)``,
    the same map, several times faster) when it holds at most about 8 million entries, else ``op`` itself."""
    out: dict[int, LinearOperator] = {}
    for op in ops:
        if id(op) not in out:
            small = isinstance(op, Radon) and op.angles.numel() * op.detectors * op.samples <= 2_000_000
            out[id(op)] = Radon(op.size, op.angles, op.detectors, sparse=True) if small else op
    return out


def tv_baseline(op: LinearOperator, y: torch.Tensor, lam: float, iterations: int, tol: float | None = None
                ) -> tuple[torch.Tensor, int]:
    """``argmin_x 1/2 ||A x - y||^2 + lam TV(x)``: FGP for denoising, Chambolle-Pock otherwise, run until the
    relative change of the iterate falls below ``tol`` (None: :data:`TV_TOL` of the solver). Returns the image
    and the iterations run (equal to ``iterations``: stopped by the cap, not by the tolerance)."""
    used = [0]

    def count(k: int, _x: torch.Tensor) -> None:
        used[0] = k

    if isinstance(op, Identity):
        x = tv_denoise(y, lam, iterations, TV_TOL["fgp"] if tol is None else tol, callback=count)
    else:
        x = tv_pdhg(op, y, lam, iterations, TV_TOL["pdhg"] if tol is None else tol, callback=count,
                    generator=torch.Generator().manual_seed(0), step_ratio=TV_STEP_RATIO)
    return x, used[0]


def tv_reconstructions(measurements: Sequence[tuple[torch.Tensor, LinearOperator]], lam: float, iterations: int,
                       tol: float | None = None) -> tuple[list[torch.Tensor], list[int]]:
    """:func:`tv_baseline` of each ``(y, op)``. Measurements with the same operator object and shape are solved
    as one batch (one operator call serves them all), so they stop together, when the relative change of the
    batch falls below ``tol``. Returns the images and the iterations each ran."""
    groups: dict[tuple, list[int]] = {}
    for i, (y, op) in enumerate(measurements):
        groups.setdefault((id(op), tuple(y.shape[1:])), []).append(i)
    images: list = [None] * len(measurements)
    used = [0] * len(measurements)
    for members in groups.values():
        op = measurements[members[0]][1]
        x, k = tv_baseline(op, torch.cat([measurements[i][0] for i in members]).double(), lam, iterations, tol)
        for j, i in enumerate(members):
            images[i], used[i] = x[j:j + 1], k
    return images, used


def search_tv_lambda(cfg: RestorationConfig, fixed_op: LinearOperator, centre: float) -> dict:
    """The TV weight with the best mean PSNR (plain, range 1) on the first ``tv_tune_images`` validation
    images, each TV solved as in the evaluation (:func:`tv_reconstructions`).

    The search (:func:`pixelwise.solvers.search_lambda`) starts on a log grid two decades either side of the
    heuristic ``centre`` at two points per decade, goes a decade further while the best is at an end (three
    times at most), then refines to a sixth of a decade. The answer says whether the first grid's best was
    at its edge and whether the final best still is. Validation, not test, images: phantoms of the validation
    draw, or the run's validation split (which is also the default evaluation set of a folder run; the
    search then favours the baseline, not the network).
    """
    if cfg.data == "phantoms":
        images = clean_images(cfg, "phantoms", "val")
    else:
        images = split_images(cfg, clean_images(cfg, cfg.data, "train"))[1]
    cases = _val_cases(cfg, [x for _, x in images[: cfg.tv_tune_images]], fixed_op)
    ops = tv_operators([op for (_, op), _ in cases])
    measurements = [(y, ops[id(op)]) for (y, op), _ in cases]

    def mean_psnr(lam: float) -> float:
        tv = tv_reconstructions(measurements, lam, cfg.tv_iterations, cfg.tv_tol)[0]
        return float(np.mean([psnr(z.clamp(0, 1), x.double(), 1.0) for z, (_, x) in zip(tv, cases)]))

    found = search_lambda(mean_psnr, centre / 100, centre * 100, per_decade=2, widen=3, refine=2)
    return {"lambda": found.lam, "validation_psnr": found.score, "images": len(cases),
            "first_grid": list(found.grid), "first_grid_best_at_edge": found.hit_edge,
            "searched": list(found.searched), "best_at_edge": found.at_edge,
            "table": [list(row) for row in found.table], "summary": found.describe()}


def _tv_summary(cfg: RestorationConfig, lam: float, rule: str, search: dict | None, rows: list[dict],
                seconds: float) -> dict:
    """How the TV baseline was run: its weight and where that came from, and whether every solve converged."""
    used = [r["tv_iterations"] for r in rows]
    solver = "fgp" if cfg.task == "denoise" else "pdhg"
    return {"lambda": lam, "lambda_rule": rule, "search": search, "solver": solver, "max_iterations": cfg.tv_iterations,
            "tol": TV_TOL[solver] if cfg.tv_tol is None else cfg.tv_tol,
            "step_ratio": TV_STEP_RATIO if solver == "pdhg" else None, "iterations_run": used,
            "stopped_by_tolerance": sum(n < cfg.tv_iterations for n in used), "seconds_per_image":
            seconds / max(len(rows), 1)}


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if len(finite) == len(values) else float("inf")


# --- applying a run to measured images ---------------------------------------------------------------
def apply(run_dir: str | Path, inputs: Sequence[str | Path], out: str | Path, which: str = "best") -> list[Path]:
    """Restore image measurements (noisy, low-resolution or blurred images) with a run's network and write
    ``out/<stem>.png``. Every input is read before anything is written. A grey run (``channels=1``) reads
    colour files as grey (the BT.601 Y channel for sr) and writes grey results."""
    from pixelwise.data.folders import list_images, unique_stems

    cfg, model, _ = load_run(run_dir, which)
    if cfg.task not in ("denoise", "sr", "deblur"):
        raise PixelwiseError(f"apply restores image measurements (denoise, sr, deblur); a {cfg.task} run needs "
                             "its operator's measurements, use `pixelwise restore eval`.")
    paths = unique_stems(list_images(list(inputs)))
    images = [(p.stem, read_clean(cfg, p)) for p in paths]
    outs = []
    for stem, y in images:
        h, w = y.shape[-2:]
        size = (h * cfg.scale, w * cfg.scale) if cfg.task == "sr" else (h, w)
        op = build_operator(cfg, size, torch.Generator().manual_seed(cfg.seed))
        with torch.no_grad():
            outs.append((stem, model((y[None], op))[0]))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, x in outs:
        write_image(out / f"{stem}.png", to_uint8(x.clamp(0, 1)))
        written.append(out / f"{stem}.png")
    return written

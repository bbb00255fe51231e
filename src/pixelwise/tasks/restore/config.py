"""The settings of ``pixelwise restore train`` (and of its run folders).

This module imports no torch (the command line builds its options from it): the tables it checks names
against (models, losses, protocols) are imported inside the checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from pixelwise.errors import PixelwiseError
from pixelwise.physics.presets import FIXED_SIZE, Measurement
from pixelwise.train.config import TrainingConfig, one_of, option, whole

REGIMES = ("pairs", "simulate", "measurements")
SPLITTINGS = (None, "r2r")
UPSAMPLINGS = ("shuffle", "transpose")
NAMED_DATA = ("bundled", "phantoms")  # what --data may name instead of a folder
# noise in grey levels when none is given: the DnCNN benchmark level for denoising, the noise-free bicubic
# degradation of the SR papers, and a little noise elsewhere so that the inverse stays a regularised one
DEFAULT_SIGMA = {"denoise": 25.0, "downsample": 0.0, "blur": 2.0, "inpaint": 2.0, "mri": 2.0, "ct": 2.0}
# operators whose measurements are images, so that a folder of measured pairs can hold them
IMAGE_MEASUREMENTS = ("denoise", "downsample", "blur", "inpaint")


def default_patch(multiple: int = 1) -> int:
    """The training crop when none is given: DnCNN's 40 x 40 (Zhang et al. 2017), rounded up to a multiple of
    ``multiple`` (the scale, for super-resolution: 42 for x3). The same for every model: 7-minute probes of the
    depth-3 residual U-Net (batch 16, sigma 25, train400, 2 cores) reached a validation PSNR of 28.68 dB with
    40 x 40 crops (4,800 steps) and 28.58 dB with 64 x 64 (2,100 steps), although its deepest level sees only
    5 x 5 of a 40-pixel crop."""
    return -(-40 // multiple) * multiple


def check_sigma(sigma: float) -> float:
    """A noise level in grey levels, refused in one sentence unless a finite number >= 0."""
    if not (sigma >= 0 and math.isfinite(sigma)):
        raise PixelwiseError(f"sigma={sigma} must be a finite number >= 0 (grey levels out of 255).")
    return float(sigma)


def _pair(text: str) -> tuple[float, float]:
    low, high = (float(v) for v in text.split(","))  # anything but two numbers is a ValueError
    return low, high


def _default_measurement() -> Measurement:
    return Measurement(scale=3)  # x3 super-resolution, the SRCNN / VDSR tables' middle case


@dataclass
class RestorationConfig(TrainingConfig):
    """Clean images (or pairs, or measurements) -> a network f ~ A^{-1}, scored beside the naive inverse and TV
    (see :mod:`pixelwise.tasks.restore`)."""

    RECIPE: ClassVar[str] = "restore"
    DEFAULT_EPOCHS: ClassVar[int] = 10

    measurement: Measurement = option(default_factory=_default_measurement, help="the measurement")
    model: str = option("dncnn", help="dncnn, srcnn, vdsr, post, unet or unrolled")
    regime: str = option("simulate", help="simulate (clean images and a known A), measurements (min ||A f(y) - "
                         "y||), pairs (input/ and target/ folders)")
    data: str = option("bundled", path=True, keywords=NAMED_DATA, help="a folder of clean images (of input/ and "
                       "target/ for pairs), 'bundled' (two photographs) or 'phantoms' (random ellipses)")
    out: str = option("runs/restore", path=True, help="run folder to create")
    channels: int = option(1, help="1 (grey; the Y channel for downsample) or 3")
    sigma: float | None = option(None, help="Gaussian noise in 8-bit grey levels (default: 25 for denoise, 0 for "
                                 "downsample, 2 otherwise); with --sigma-range the level evaluated")
    sigma_range: tuple[float, float] | None = option(None, parse=_pair, metavar="LOW,HIGH",
                                                     help="blind training: sigma ~ U(low, high) per patch, e.g. 0,55")
    noise_map: bool = option(False, help="dncnn or unet told each image's noise level as one more input channel "
                             "(FFDNet, DRUNet): with --sigma-range, one network for every level, and the denoiser "
                             "that plug-and-play's schedule of levels expects")
    splitting: str | None = option(None, help="noise splitting of the measurements regime: r2r (Pang et al. 2021)")
    r2r_alpha: float = option(0.5, help="r2r: the recorruption strength alpha")
    # the network (None: the paper's size)
    depth: int | None = option(None, help="layers (default: the paper's)")
    width: int | None = option(None, help="channels (default: the paper's)")
    iterations: int = option(5, help="unrolled: iterations K")
    shared: bool = option(False, help="unrolled: one CNN for every iteration")
    up: str = option("shuffle", help="post: upsampling layer, shuffle or transpose")
    # the loss
    loss: str = option("l2", help="fidelity: l2, l1 or huber")
    huber_delta: float = option(0.01, help="huber: where the loss turns from quadratic to linear")
    tv_weight: float = option(0.0, help="weight of a TV penalty on the output")
    adversarial_weight: float = option(0.0, help="weight of the SRGAN-style patch-discriminator term (1e-3 in "
                                       "SRGAN; 0: off)")
    # data
    patch: int | None = option(None, help="training crop (default 40, rounded up to a multiple of --scale for "
                               "downsample: 42 for x3)")
    size: int = option(64, help="mri / ct image size and phantom size")
    phantoms: int = option(64, help="number of training phantoms")
    pool: int = option(256, help="measurements regime: number of fixed measured patches")
    val_fraction: float = option(0.2, help="fraction of a folder's images kept for validation")
    val_size: int = option(64, help="validation centre crop (at most the image)")
    augment: bool = option(True, help="random flips and 90-degree rotations of the training crops")
    steps_per_epoch: int = option(50, help="training steps per epoch")
    # the training loop: the recipe's own defaults
    batch_size: int = option(16, help="images per training step")
    warmup: int = option(200, help="linear learning-rate warm-up steps (keeps Adam's first steps from killing a "
                         "residual net; at most a fifth of the run)")
    grad_clip: float | None = option(1.0, help="clip the gradient norm to this value (VDSR clips; it keeps unrolled "
                                     "CT stable; none: off)")
    # evaluation
    protocol: str = option("auto", help="scoring: auto (by operator), plain, denoise or sr")
    tv_lambda: float | str | None = option(None, help="TV baseline weight: a number, or auto (a search on "
                                           "validation images) (default: the heuristic of `pixelwise solve`)")
    tv_iterations: int = option(10000, help="TV baseline: at most this many iterations")
    tv_tol: float | None = option(None, help="TV baseline: stop below this relative change (default: 1e-4 for "
                                  "denoise, 1e-7 otherwise; 0 runs every iteration)")
    tv_tune_images: int = option(4, help="validation images scored by --tv-lambda auto")
    figure_count: int = option(4, help="cases shown in the figure")

    def __post_init__(self):
        super().__post_init__()
        op = self.measurement.operator
        if self.sigma is None:
            self.sigma = DEFAULT_SIGMA[op]
        if self.patch is None:
            self.patch = default_patch(self.measurement.scale if op == "downsample" else 1)
        self._check_names()
        self._check_sizes()
        self._check_noise()
        self._check_combinations()
        self._check_baseline()

    def _check_names(self) -> None:
        from pixelwise.losses.restoration import LOSSES
        from pixelwise.metrics.protocols import PROTOCOLS
        from pixelwise.tasks.restore.models import MODELS

        one_of(self.model, "model", tuple(MODELS))
        one_of(self.regime, "regime", REGIMES)
        one_of(self.protocol, "protocol", ("auto", *PROTOCOLS))
        one_of(self.loss, "loss", tuple(LOSSES))
        one_of(self.up, "up", UPSAMPLINGS)
        one_of(self.splitting, "splitting", SPLITTINGS)

    def _check_sizes(self) -> None:
        for name in ("channels", "iterations", "patch", "size", "phantoms", "pool", "steps_per_epoch",
                     "tv_iterations", "tv_tune_images", "val_size"):
            whole(getattr(self, name), name)
        whole(self.figure_count, "figure_count", 0)
        if self.channels not in (1, 3):
            raise PixelwiseError(f"channels={self.channels} must be 1 (grey) or 3 (colour).")
        if self.depth is not None:
            whole(self.depth, "depth", 2)
        if self.width is not None:
            whole(self.width, "width")
        if self.patch < 11 or self.size < 11:
            raise PixelwiseError(f"patch={self.patch} and size={self.size} must be >= 11 (the SSIM window).")
        m = self.measurement
        if m.operator == "downsample" and m.scale < 2:
            raise PixelwiseError(f"scale={m.scale} must be >= 2 for super-resolution (downsample).")
        if m.operator == "downsample" and self.patch % m.scale:
            raise PixelwiseError(f"patch={self.patch} must be a multiple of scale={m.scale} for downsample, e.g. "
                                 f"{default_patch(m.scale)}.")
        if not 0 <= self.val_fraction < 1:
            raise PixelwiseError(f"val_fraction={self.val_fraction} must be in [0, 1).")

    def _check_noise(self) -> None:
        check_sigma(self.sigma)
        if self.sigma_range is not None:
            self.sigma_range = tuple(float(s) for s in self.sigma_range)
            if len(self.sigma_range) != 2 or not 0 <= self.sigma_range[0] <= self.sigma_range[1]:
                raise PixelwiseError(f"sigma_range={self.sigma_range} must be two numbers 0 <= low <= high, e.g. "
                                     "0,55.")
        if not (self.r2r_alpha > 0 and math.isfinite(self.r2r_alpha)):
            raise PixelwiseError(f"r2r_alpha={self.r2r_alpha} must be a finite number > 0 (0.5 is usual).")
        if self.splitting == "r2r" and (self.sigma_range is not None or self.sigma == 0):
            raise PixelwiseError("r2r splitting needs one known noise level: give sigma > 0 (--sigma) without "
                                 "sigma_range (--sigma-range).")
        for name in ("tv_weight", "adversarial_weight"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise PixelwiseError(f"{name}={value} must be a finite number >= 0 (0: off).")
        if not (self.huber_delta > 0 and math.isfinite(self.huber_delta)):
            raise PixelwiseError(f"huber_delta={self.huber_delta} must be a finite number > 0, e.g. 0.01.")

    def _check_combinations(self) -> None:
        op, regime = self.measurement.operator, self.regime
        if self.model == "post" and op != "downsample":
            raise PixelwiseError("model post upsamples its input; use it with the downsample operator (--task sr).")
        if self.model == "unrolled" and regime == "pairs":
            raise PixelwiseError("model unrolled needs the operator A, which the pairs regime does not have; use "
                                 "--regime simulate.")
        if regime == "pairs" and op not in IMAGE_MEASUREMENTS:
            raise PixelwiseError(f"the pairs regime needs image measurements; {op} measurements are not images "
                                 "(use --regime simulate).")
        if self.splitting is not None and regime != "measurements":
            raise PixelwiseError("noise splitting belongs to the measurements regime; add --regime measurements.")
        if regime == "measurements" and op == "denoise" and self.splitting is None:
            raise PixelwiseError("measurement-only denoising is degenerate (A = identity, f = identity is optimal); "
                                 "add --splitting r2r for recorrupted pairs.")
        if self.adversarial_weight > 0 and regime == "measurements":
            raise PixelwiseError("the adversarial loss compares with clean images, which the measurements regime "
                                 "does not have; drop --adversarial-weight or use --regime simulate.")
        if self.noise_map and (self.model not in ("dncnn", "unet") or regime != "simulate"):
            raise PixelwiseError(f"--noise-map tells a dncnn or unet the noise level of each simulated measurement; "
                                 f"use it with --model dncnn or unet and --regime simulate (not {self.model}, "
                                 f"{regime}).")
        if self.data == "phantoms" and self.channels != 1:
            raise PixelwiseError("phantoms are grey; use --channels 1.")

    def _check_baseline(self) -> None:
        if isinstance(self.tv_lambda, str) and self.tv_lambda != "auto":
            raise PixelwiseError(f"tv_lambda={self.tv_lambda!r} must be a number >= 0, 'auto' or unset.")
        if isinstance(self.tv_lambda, (int, float)) and not (self.tv_lambda >= 0 and math.isfinite(self.tv_lambda)):
            raise PixelwiseError(f"tv_lambda={self.tv_lambda} must be a finite number >= 0 (or auto, or unset).")
        if self.tv_tol is not None and not self.tv_tol >= 0:
            raise PixelwiseError(f"tv_tol={self.tv_tol} must be >= 0 (0 runs all tv_iterations), or unset.")

    @property
    def operator(self) -> str:
        return self.measurement.operator

    @property
    def fixed_size(self) -> bool:
        """Whether the operator is built for one image size (MRI, CT): those train and score at ``size``."""
        return self.measurement.operator in FIXED_SIZE

    @property
    def train_size(self) -> int:
        """The side of the training crops (the image size for MRI and CT)."""
        return self.size if self.fixed_size else self.patch

    @property
    def eval_protocol(self) -> str:
        """The scoring protocol: the one given, or by operator (denoise, sr for downsample, plain otherwise)."""
        if self.protocol != "auto":
            return self.protocol
        return {"denoise": "denoise", "downsample": "sr"}.get(self.measurement.operator, "plain")

    def check_processes(self, world: int) -> None:
        """Several processes (``torchrun``): the adversarial term trains its discriminator inside the loss, which
        DistributedDataParallel cannot keep in step across processes."""
        if self.adversarial_weight > 0:
            raise PixelwiseError(f"adversarial_weight={self.adversarial_weight} trains a discriminator inside the "
                                 f"loss, which the {world} processes of this torchrun job cannot share; train it in "
                                 "one process, or drop --adversarial-weight.")

    def loop_settings(self) -> dict:
        """The recipe's own settings of the loop: the best checkpoint by validation PSNR, or by the measurement-
        space loss when the regime has no clean images."""
        if self.regime == "measurements":
            return {"monitor": "val_meas_loss", "mode": "min"}
        return {"monitor": "val_psnr", "mode": "max"}

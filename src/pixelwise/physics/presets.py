"""The measurement vocabulary: one table of named forward operators and the settings that build them.

``solve`` (classical reconstruction), ``restore`` (learned reconstruction) and ``restore dip`` (deep image
prior) all describe their measurement by a :class:`Measurement` and build it with :func:`build_operator`, so an
operator has one name and its settings one meaning everywhere. The names: ``denoise`` (identity), ``blur``,
``downsample``, ``inpaint``, ``mri`` and ``ct``; the command line may accept other spellings (``sr``,
``deblur``) and maps them to these.

Noise is not part of a measurement's operator: each recipe states its own noise (in 8-bit grey levels).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from pixelwise.errors import PixelwiseError
from pixelwise.physics.base import Identity, LinearOperator
from pixelwise.physics.blur import Blur
from pixelwise.physics.ct import Radon, views
from pixelwise.physics.inpainting import Inpainting, random_mask
from pixelwise.physics.kernels import box_kernel_1d, gaussian_kernel_1d, motion_kernel
from pixelwise.physics.mri import MRI
from pixelwise.physics.resize import AveragePool, BicubicDownsample

KERNELS = ("gaussian", "box", "motion")
BOUNDARIES = ("circular", "zero", "valid")
DOWNSAMPLE_KINDS = ("bicubic", "average")
MASK_KINDS = ("random", "equispaced")


def _setting(default, help: str, **extra):
    return field(default=default, metadata={"help": help, **extra})


@dataclass
class Measurement:
    """Which operator A, and its settings (only those of the chosen operator are used)."""

    operator: str = _setting("denoise", "forward operator: denoise, blur, downsample, inpaint, mri or ct")
    # blur
    kernel: str = _setting("gaussian", "blur kernel: gaussian, box or motion")
    kernel_sigma: float = _setting(1.6, "blur: the Gaussian kernel's sigma in pixels")
    kernel_size: int | None = _setting(None, "blur: kernel size (default: from sigma, 5 for box, from the length)")
    motion_length: float = _setting(9.0, "blur: motion kernel length in pixels")
    motion_angle: float = _setting(0.0, "blur: motion kernel angle in degrees")
    boundary: str = _setting("circular", "blur boundary: circular, zero or valid")
    # down-sampling
    scale: int = _setting(2, "downsample: factor")
    downsample_kind: str = _setting("bicubic", "downsample: bicubic (MATLAB imresize) or average")
    # inpainting
    keep: float = _setting(0.5, "inpaint: kept fraction of a random mask")
    # MRI
    acceleration: float = _setting(4.0, "mri: acceleration (4 or 8 as in fastMRI)")
    center_fraction: float | None = _setting(None, "mri: fully sampled centre fraction (default 0.32 / accel)")
    mask_kind: str = _setting("random", "mri: random or equispaced lines")
    # CT
    views: int = _setting(30, "ct: projection angles over 180 degrees")

    def __post_init__(self):
        _one_of(self.operator, "operator", OPERATOR_BUILDERS)
        _one_of(self.kernel, "kernel", KERNELS)
        _one_of(self.boundary, "boundary", BOUNDARIES)
        _one_of(self.downsample_kind, "downsample_kind", DOWNSAMPLE_KINDS)
        _one_of(self.mask_kind, "mask_kind", MASK_KINDS)
        for name in ("scale", "views"):
            value = getattr(self, name)
            if isinstance(value, bool) or value != int(value) or value < 1:
                raise PixelwiseError(f"{name}={value} must be a whole number >= 1.")
        if not 0 < self.kernel_sigma < math.inf:
            raise PixelwiseError(f"kernel_sigma={self.kernel_sigma} must be a finite number > 0 (pixels).")
        if not 0 < self.motion_length < math.inf:
            raise PixelwiseError(f"motion_length={self.motion_length} must be a finite number > 0 (pixels).")
        if self.kernel_size is not None and self.kernel_size < 1:
            raise PixelwiseError(f"kernel_size={self.kernel_size} must be >= 1 (or unset).")
        if not 0 < self.keep <= 1:
            raise PixelwiseError(f"keep={self.keep} must be in (0, 1]: the kept fraction of the pixels.")
        if not self.acceleration >= 1:
            raise PixelwiseError(f"acceleration={self.acceleration} must be >= 1 (1 keeps every k-space line; 4 or "
                                 "8 as in fastMRI).")
        if self.center_fraction is not None and not 0 < self.center_fraction <= 1:
            raise PixelwiseError(f"center_fraction={self.center_fraction} must be in (0, 1] (or unset).")

    @property
    def naive_name(self) -> str:
        """What the operator's naive reconstruction is called in tables and figures."""
        return NAIVE_NAMES[self.operator]


def _one_of(value, name: str, allowed) -> None:
    if value not in allowed:
        raise PixelwiseError(f"{name} {value!r} is not known; use one of {', '.join(allowed)}.")


def kernel_side(m: Measurement) -> tuple[int, str]:
    """The side of the square blur kernel ``m`` asks for, and the setting that sets it (before it is built)."""
    if m.kernel_size is not None:
        return int(m.kernel_size), f"--kernel-size {m.kernel_size}"
    if m.kernel == "motion":
        return 2 * math.ceil(m.motion_length / 2) + 1, f"--motion-length {m.motion_length:g}"
    if m.kernel == "gaussian":
        return 2 * math.ceil(3 * m.kernel_sigma) + 1, f"--kernel-sigma {m.kernel_sigma:g}"
    return 5, "the box kernel's default size"


def _blur(m: Measurement, size, generator, mask) -> LinearOperator:
    side, setting = kernel_side(m)
    if side > min(size):
        raise PixelwiseError(f"{setting} asks for a {side}x{side} blur kernel, larger than the image "
                             f"{size[0]}x{size[1]}; use a smaller kernel.")
    if m.kernel == "motion":
        return Blur(motion_kernel(m.motion_length, m.motion_angle, m.kernel_size), m.boundary)
    factor = gaussian_kernel_1d(m.kernel_sigma, m.kernel_size) if m.kernel == "gaussian" else box_kernel_1d(
        m.kernel_size or 5)
    return Blur.separable(factor, factor, m.boundary)  # the kernel's own 1-D factors: two 1-D passes


def _downsample(m: Measurement, size, generator, mask) -> LinearOperator:
    if m.downsample_kind == "average":
        return AveragePool(m.scale)
    return BicubicDownsample(m.scale, input_size=tuple(size))


def _inpaint(m: Measurement, size, generator, mask) -> LinearOperator:
    if mask is None:
        return Inpainting(random_mask(tuple(size), m.keep, generator))
    if tuple(mask.shape[-2:]) != tuple(size):
        raise PixelwiseError(f"the inpainting mask is {mask.shape[-2]}x{mask.shape[-1]} but the image is "
                             f"{size[0]}x{size[1]}; give a mask of the image's size.")
    return Inpainting(mask)


def _ct(m: Measurement, size, generator, mask) -> LinearOperator:
    if m.views > 8 * max(size):  # far beyond the ~pi/2 N views that sample an N-pixel image fully
        raise PixelwiseError(f"views={m.views} is more than 8 times the image's {max(size)} pixels and adds nothing "
                             f"but time; use at most {8 * max(size)} (sparse-view CT uses 30 to 180).")
    return Radon(tuple(size), views(m.views))


# name -> builder(measurement, image size (H, W), generator of random masks, mask or None); the one table
OPERATOR_BUILDERS: dict[str, Callable[..., LinearOperator]] = {
    "denoise": lambda m, size, generator, mask: Identity(),
    "blur": _blur,
    "downsample": _downsample,
    "inpaint": _inpaint,
    "mri": lambda m, size, generator, mask: MRI.cartesian(tuple(size), m.acceleration, m.center_fraction,
                                                           m.mask_kind, generator),
    "ct": _ct,
}
OPERATOR_NAMES = tuple(OPERATOR_BUILDERS)
# the naive reconstruction of each operator (its ``naive``): what tables and figures call it
NAIVE_NAMES = {"denoise": "noisy", "blur": "blurred", "downsample": "bicubic", "inpaint": "zero-filled",
               "mri": "zero-filled", "ct": "FBP"}
# operators whose size is fixed by the image they were built for (learned recipes train them at one size)
FIXED_SIZE = ("mri", "ct")


def build_operator(measurement: Measurement, size: Sequence[int], generator: torch.Generator | None = None,
                   mask: torch.Tensor | None = None) -> LinearOperator:
    """The operator of ``measurement`` for images of ``size = (H, W)``; random masks (inpainting, MRI) draw from
    ``generator``; ``mask`` is a given inpainting mask (H, W) of 0/1."""
    return OPERATOR_BUILDERS[measurement.operator](measurement, (int(size[-2]), int(size[-1])), generator, mask)


__all__ = ["BOUNDARIES", "DOWNSAMPLE_KINDS", "FIXED_SIZE", "KERNELS", "MASK_KINDS", "NAIVE_NAMES", "OPERATOR_BUILDERS",
           "OPERATOR_NAMES", "Measurement", "build_operator"]

"""The settings of ``pixelwise solve`` (and of its output folders).

The module imports no solver: the names of the methods are read inside ``__post_init__``. (The measurement's
preset table, :mod:`pixelwise.physics.presets`, imports torch at module level.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from pixelwise.errors import PixelwiseError
from pixelwise.physics.presets import Measurement
from pixelwise.train.config import one_of, option, whole

# operators whose measurements may be negative (k-space, line integrals of a zero-mean part): no photon counts
SIGNED_MEASUREMENTS = ("mri", "ct")


def height_width(text: str) -> tuple[int, int]:
    """``"256x192"`` -> ``(256, 192)``: rows, then columns."""
    parts = text.lower().split("x")
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not HxW")
    return int(parts[0]), int(parts[1])


@dataclass
class SolveConfig:
    """An image (or a measurement file) -> a simulated measurement -> classical reconstructions, scored against
    the truth (see :mod:`pixelwise.tasks.solve`)."""

    RECIPE: ClassVar[str] = "solve"

    image: str | None = option(None, path=True, help="clean image (the truth); optional with --measured")
    out: str = option("runs/solve", path=True, help="output folder to create")
    method: str = option("tv", help="adjoint (the naive inverse: A^T y, zero-filled, bicubic or FBP), cg, "
                         "tikhonov, tv or pgd")
    compare: bool = option(False, help="run every method and print a table")
    lam: float | str | None = option(None, flag="--lambda", metavar="LAMBDA", help="regularisation weight >= 0, or "
                                     "auto (a grid search on a validation photograph); default: per method and "
                                     "operator")
    iterations: int | None = option(None, help="solver iterations (default: per method, cg 10, tikhonov 50, "
                                    "tv 200, pgd 50)")
    noise_sigma: float = option(2.0, help="Gaussian noise std in grey levels of 255")
    poisson_peak: float | None = option(None, help="Poisson noise instead: photons at value 1")
    grey: bool = option(False, help="convert the image to grey")
    size: int | None = option(None, help="centre-crop the image to SIZE x SIZE")
    seed: int = option(0, help="seed of the noise and of random masks")
    measured: str | None = option(None, path=True, help="measurement file (.npy from a previous run, or an image)")
    image_size: tuple[int, int] | None = option(None, parse=height_width, metavar="HxW",
                                                help="height x width of the image behind --measured (CT, valid "
                                                "blur)")
    validation: str | None = option(None, path=True, help="validation image for --lambda auto (default: the "
                                    "bundled astronaut)")
    mask: str | None = option(None, path=True, help="inpaint: mask image of the image's size, white = kept "
                              "(default: a random mask)")
    measurement: Measurement = option(default_factory=lambda: Measurement(operator="blur"), help="the measurement")

    def __post_init__(self):
        from pixelwise.solvers.methods import METHOD_NAMES

        if not isinstance(self.measurement, Measurement):
            raise PixelwiseError(f"measurement={self.measurement!r} is not a Measurement; build it with "
                                 "pixelwise.physics.presets.Measurement(operator=...).")
        one_of(self.method, "method", METHOD_NAMES)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise PixelwiseError(f"seed={self.seed!r} (--seed) is not a valid seed; give a whole number seed >= 0, "
                                 "e.g. 0.")
        if self.image is None and self.measured is None:
            raise PixelwiseError("give a clean IMAGE to simulate a measurement from, or --measured FILE.")
        self._check_noise()
        self._check_lambda()
        if self.iterations is not None:
            whole(self.iterations, "iterations")
        if self.size is not None:
            whole(self.size, "size")
        if self.image_size is not None:
            self._check_image_size()
        if self.mask is not None and self.measurement.operator != "inpaint":
            raise PixelwiseError(f"mask={self.mask} (--mask) is the pixel mask of the inpaint operator; the "
                                 f"{self.measurement.operator} operator does not use it: leave it out (for MRI's "
                                 "k-space lines see --mask-kind).")

    def _check_noise(self) -> None:
        if isinstance(self.noise_sigma, bool) or not (self.noise_sigma >= 0 and math.isfinite(self.noise_sigma)):
            raise PixelwiseError(f"noise_sigma={self.noise_sigma} (--noise-sigma) must be a finite number >= 0 "
                                 "(grey levels out of 255).")
        if self.poisson_peak is None:
            return
        if not (self.poisson_peak > 0 and math.isfinite(self.poisson_peak)):
            raise PixelwiseError(f"poisson_peak={self.poisson_peak} (--poisson-peak) must be a finite number > 0 "
                                 "(photons at value 1), or unset for Gaussian noise.")
        if self.measurement.operator in SIGNED_MEASUREMENTS:
            raise PixelwiseError(f"Poisson noise needs non-negative measurements, which {self.measurement.operator} "
                                 "does not give; use --noise-sigma instead of --poisson-peak.")

    def _check_lambda(self) -> None:
        lam = self.lam
        if isinstance(lam, str) and lam != "auto":
            raise PixelwiseError(f"lam={lam!r} (--lambda) must be a number >= 0 or 'auto'.")
        if isinstance(lam, bool) or (lam is not None and not isinstance(lam, (str, int, float))):
            raise PixelwiseError(f"lam={lam!r} (--lambda) must be a number >= 0 or 'auto'.")
        if isinstance(lam, (int, float)) and not (lam >= 0 and math.isfinite(lam)):
            raise PixelwiseError(f"lam={lam} (--lambda) must be a finite number >= 0 (or 'auto').")

    def _check_image_size(self) -> None:
        size = tuple(self.image_size)
        if len(size) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in size):
            shown = "x".join(map(str, size))
            raise PixelwiseError(f"image_size={shown} (--image-size) must be two whole numbers >= 1, height x "
                                 "width, e.g. 256x256.")
        self.image_size = size

    @property
    def sigma(self) -> float:
        """The Gaussian noise level in measurement units (``noise_sigma / 255``)."""
        return self.noise_sigma / 255.0

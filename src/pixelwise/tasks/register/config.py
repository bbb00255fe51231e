"""The settings of ``pixelwise register FIXED MOVING`` (and of its output folders)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from pixelwise.errors import PixelwiseError
from pixelwise.train.config import one_of, option, whole

TRANSFORM_NAMES = ("translation", "rigid", "affine", "deformable")
METRIC_NAMES = ("ssd", "sad", "ncc", "lncc", "nmi")
REGULARISER_NAMES = ("diffusion", "bending")


@dataclass
class RegisterConfig:
    """Two images -> the transform that carries the moving one onto the fixed one (see
    :mod:`pixelwise.tasks.register`)."""

    RECIPE: ClassVar[str] = "register"

    fixed: str = option("", path=True, help="the fixed (reference) image")
    moving: str = option("", path=True, help="the moving image, warped onto the fixed one")
    out: str = option("runs/register", path=True, help="output folder to create")
    transform: str = option("affine", help=f"{', '.join(TRANSFORM_NAMES)} (deformable: affine, then a dense field)")
    metric: str = option("ncc", help="similarity: ssd, sad, ncc, lncc (local NCC) or nmi (normalised mutual "
                         "information, for different contrasts)")
    grey: bool = option(False, help="register the grey versions of both images")
    levels: int = option(3, help="pyramid levels (each half the size of the next)")
    iterations: int = option(200, help="optimiser steps per level (and per level of the deformable stage)")
    lr: float = option(0.02, help="Adam's step for the linear part (matrix entries; translation in half image "
                       "sizes)")
    deformable_lr: float = option(0.2, help="Adam's step for the displacement field, in pixels")
    regulariser: str = option("diffusion", help="deformable: diffusion (first derivatives) or bending (second)")
    weight: float = option(0.1, help="deformable: weight of the regulariser beside the similarity loss")
    bins: int = option(32, help="nmi: histogram bins")
    window: int = option(9, help="lncc: odd window size in pixels")
    inverse: bool = option(True, help="also register the other way and measure inverse consistency")

    def __post_init__(self):
        one_of(self.transform, "transform", TRANSFORM_NAMES)
        one_of(self.metric, "metric", METRIC_NAMES)
        one_of(self.regulariser, "regulariser", REGULARISER_NAMES)
        for name in ("levels", "iterations"):
            whole(getattr(self, name), name)
        whole(self.bins, "bins", 2)
        whole(self.window, "window")
        if self.window % 2 == 0:
            raise PixelwiseError(f"window={self.window} must be odd, e.g. 9.")
        for name in ("lr", "deformable_lr"):
            if not (getattr(self, name) > 0 and math.isfinite(getattr(self, name))):
                raise PixelwiseError(f"{name}={getattr(self, name)} must be a finite number > 0.")
        if not (self.weight >= 0 and math.isfinite(self.weight)):
            raise PixelwiseError(f"weight={self.weight} must be a finite number >= 0.")

    def measure_options(self) -> dict:
        """The options of the chosen similarity measure (bins for NMI, the window for local NCC)."""
        return {"nmi": {"bins": self.bins}, "lncc": {"window": self.window}}.get(self.metric, {})

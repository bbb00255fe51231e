"""The settings of ``pixelwise segment baseline`` (and of its run folders): a classical method, scored like a
trained network on the same test cases."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from pixelwise.errors import PixelwiseError
from pixelwise.tasks.segment.config import check_split, checked_spacing
from pixelwise.train.config import one_of, option, whole

METHODS = ("otsu", "multiotsu", "adaptive", "region", "watershed", "atlas")
CHANNEL_NAMES = ("grey", "red", "green", "blue", "hue", "saturation", "value", "lab_l", "lab_a", "lab_b", "pca")
POLARITIES = ("bright", "dark", "auto")
FUSIONS = ("majority", "weighted")
LABEL_WARPS = ("nearest", "probability")
ATLAS_TRANSFORMS = ("rigid", "affine", "deformable")
ATLAS_METRICS = ("ssd", "sad", "ncc", "lncc", "nmi")
SELECTIONS = ("similar", "random")


def _fractions(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


@dataclass
class BaselineConfig:
    """A folder of images and masks -> a classical segmentation of its test cases, scored exactly as ``segment
    eval`` scores a network (see :mod:`pixelwise.tasks.segment.baseline`)."""

    RECIPE: ClassVar[str] = "segment baseline"

    data: str = option("", path=True, help="folder with images/ and masks/ (default with --like: that run's data)")
    out: str = option("runs/baseline", path=True, help="run folder to create")
    method: str = option("otsu", help=f"{', '.join(METHODS)}")
    like: str | None = option(None, path=True, help="a segment run folder whose split to use (its test cases are "
                              "scored and compared with its per_case.csv)")
    split: tuple[float, float, float] = option((0.6, 0.2, 0.2), parse=_fractions, help="train,val,test fractions "
                                               "(as segment train)")
    train_ids: str | None = option(None, path=True, help="file of training ids instead of --split")
    test_ids: str | None = option(None, path=True, help="file of test ids (with --train-ids)")
    seed: int = option(0, help="seed of the split, of random atlases and of the bootstrap")
    channels: int = option(3, help="3 for RGB images, 1 for grey")
    threshold: int = option(127, help="binary masks: foreground is grey > threshold")
    # what the methods see
    channel: str = option("grey", help=f"grey channel the methods work on: {', '.join(CHANNEL_NAMES)}, or auto (the "
                          "best on training cases)")
    polarity: str = option("auto", help="foreground is bright, dark, or auto (the better on training cases)")
    tune_cases: int = option(40, help="training cases that choose the channel and polarity when auto")
    work_size: int = option(256, help="the longer side, in pixels, the methods work at (masks go back to each "
                            "image's size)")
    smooth: float = option(1.0, help="Gaussian smoothing (sigma in working pixels) before the method")
    field_of_view: bool = option(True, help="leave out the dark frame around the picture (dark pixels connected to "
                                 "the border, as around endoscopy and fundus images)")
    classes: int = option(3, help="multiotsu: classes (the brightest, or with dark the darkest, is the foreground)")
    block_size: int = option(51, help="adaptive: odd window in working pixels")
    offset: float = option(0.0, help="adaptive: threshold = local mean - offset (channel units, 0..1)")
    adaptive_method: str = option("gaussian", help="adaptive: gaussian or mean window")
    seeds: str | None = option(None, path=True, help="region, watershed: CSV of seeds, lines stem,row,col in the "
                               "image's own pixels (default: one automatic seed per image)")
    tolerance: float = option(0.1, help="region: grow while |value - region mean| <= this (channel units)")
    gradient_max: float | None = option(None, help="region: stop at gradient magnitudes above this (channel units "
                                        "per working pixel; default: no limit)")
    # clean-up
    open_radius: int = option(2, help="clean-up: opening by a disk of this radius (0: none)")
    close_radius: int = option(2, help="clean-up: closing by a disk of this radius (0: none)")
    fill_holes: bool = option(True, help="clean-up: fill holes")
    largest: bool = option(True, help="clean-up: keep the largest component")
    # atlas
    atlases: int = option(5, help="atlas: labelled cases registered to each target")
    atlas_data: str | None = option(None, path=True, help="atlas: folder of labelled atlases (default: the training "
                                    "cases)")
    selection: str = option("similar", help="atlas: the most similar atlases (NCC) or random ones (seeded)")
    transform: str = option("affine", help="atlas: rigid, affine or deformable registration")
    metric: str = option("ncc", help=f"atlas: similarity, {', '.join(ATLAS_METRICS)}")
    label_warp: str = option("probability", help="atlas: warp masks by nearest neighbour or as probabilities")
    fusion: str = option("weighted", help="atlas: majority vote or locally weighted vote")
    atlas_size: int = option(96, help="atlas: square size in pixels the registration works at")
    iterations: int = option(100, help="atlas: optimiser steps per pyramid level")
    # evaluation (as segment train / eval)
    empty_score: float = option(1.0, help="overlap score of a case whose truth and prediction are both empty")
    spacing: tuple[float, float] | None = option(None, help="pixel spacing (rows,columns) for surface distances")
    good_iou: float = option(0.8, help="gallery: good cases have IoU >= this")
    partial_iou: float = option(0.2, help="gallery: partial cases have IoU >= this, poor ones less")
    gallery_size: int = option(8, help="cases shown per gallery")

    num_classes: ClassVar[None] = None  # binary masks only (the scoring reads these)
    ignore_index: ClassVar[None] = None

    @property
    def model(self) -> str:
        """The report's name for the method."""
        return f"{self.method} (classical baseline)"

    def __post_init__(self):
        one_of(self.method, "method", METHODS)
        one_of(self.channel, "channel", (*CHANNEL_NAMES, "auto"))
        for name, allowed in (("polarity", POLARITIES), ("adaptive_method", ("gaussian", "mean")),
                              ("fusion", FUSIONS), ("label_warp", LABEL_WARPS), ("transform", ATLAS_TRANSFORMS),
                              ("metric", ATLAS_METRICS), ("selection", SELECTIONS)):
            one_of(getattr(self, name), name, allowed)
        for name in ("tune_cases", "atlases", "iterations", "gallery_size", "classes"):
            whole(getattr(self, name), name)
        whole(self.seed, "seed", 0)
        for name in ("open_radius", "close_radius"):
            whole(getattr(self, name), name, 0)
        if self.channels not in (1, 3):
            raise PixelwiseError(f"channels={self.channels} must be 3 (RGB) or 1 (grey).")
        if self.channels == 1 and self.channel not in ("grey", "auto"):
            raise PixelwiseError(f"channel={self.channel} needs colour images; with --channels 1 use grey.")
        self._check_sizes()
        self._check_numbers()
        self._check_split()

    def _check_sizes(self) -> None:
        whole(self.work_size, "work_size", 16)
        whole(self.atlas_size, "atlas_size", 16)
        whole(self.block_size, "block_size", 3)
        if self.block_size % 2 == 0:
            raise PixelwiseError(f"block_size={self.block_size} must be odd, e.g. 51.")
        if self.classes < 2:
            raise PixelwiseError(f"classes={self.classes} must be >= 2.")

    def _check_numbers(self) -> None:
        for name in ("smooth", "tolerance"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise PixelwiseError(f"{name}={value} must be a finite number >= 0.")
        if not math.isfinite(self.offset):
            raise PixelwiseError(f"offset={self.offset} must be a finite number.")
        if self.gradient_max is not None and not self.gradient_max > 0:
            raise PixelwiseError(f"gradient_max={self.gradient_max} must be > 0 (or unset for no limit).")
        if not 0 <= self.partial_iou <= self.good_iou <= 1:
            raise PixelwiseError(f"gallery thresholds need 0 <= partial_iou ({self.partial_iou}) <= good_iou "
                                 f"({self.good_iou}) <= 1.")
        self.spacing = checked_spacing(self.spacing)

    def _check_split(self) -> None:
        check_split(self)
        if self.like and (self.train_ids or self.test_ids):
            raise PixelwiseError("like (--like) takes the split of that run; drop --train-ids / --test-ids, or "
                                 "drop --like.")

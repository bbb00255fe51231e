"""The settings of ``pixelwise explain``. No torch here."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import ClassVar

from pixelwise.errors import PixelwiseError
from pixelwise.train.config import one_of, option, whole

ATTRIBUTIONS = ("saliency", "smoothgrad", "gradient_x_input", "guided_backprop", "occlusion")  # per image
EXTRA_METHODS = ("filters", "maximise")  # per network
TARGET_FORMS = ("predicted", "class:K", "box:TOP,LEFT,BOTTOM,RIGHT", "mask:FILE")


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def parse_target(text: str) -> tuple[str, object]:
    """``"predicted"`` -> ("predicted", None); ``"class:3"`` -> ("class", 3); ``"box:1,2,30,40"`` -> ("box",
    (1, 2, 30, 40)); ``"mask:path.png"`` -> ("mask", "path.png"); anything else is refused."""
    if text == "predicted":
        return "predicted", None
    kind, _, value = text.partition(":")
    if kind == "class" and re.fullmatch(r"\d+", value):
        return "class", int(value)
    if kind == "box" and re.fullmatch(r"\d+,\d+,\d+,\d+", value):
        return "box", tuple(int(v) for v in value.split(","))
    if kind == "mask" and value:
        return "mask", value
    raise PixelwiseError(f"target={text!r} is not one of {', '.join(TARGET_FORMS)}; e.g. --target box:10,20,60,90.")


@dataclass
class ExplainConfig:
    """Attribution maps of images under a run's network, its filters and activation maximisation."""

    RECIPE: ClassVar[str] = "explain"

    run: str = option("", path=True, help="the run to explain (segment, classify or restore)")
    images: tuple[str, ...] = option((), help="image files or folders", cli=False)
    methods: tuple[str, ...] = option(ATTRIBUTIONS, flag="--method", parse=_names, metavar="NAME,...",
                                      help=f"comma-separated: {', '.join(ATTRIBUTIONS + EXTRA_METHODS)} (default: "
                                           "the five attributions)")
    target: str = option("predicted", help="what is explained: predicted (the predicted region or class), class:K, "
                         "box:TOP,LEFT,BOTTOM,RIGHT (pixels of the image as given) or mask:FILE (a mask of the "
                         "image's size); default predicted")
    channel: int | None = option(None, help="segmentation with label masks: the class whose region is explained "
                                 "(default 1)")
    patch: int | None = option(None, help="occlusion: patch side in pixels (default: an eighth of the side)")
    stride: int | None = option(None, help="occlusion: stride (default: half the patch)")
    samples: int = option(25, help="smoothgrad: noisy copies")
    noise: float = option(0.15, help="smoothgrad: noise standard deviation in [0, 1] pixel units")
    layer: str | None = option(None, help="maximise: the layer, by its module name (default: the last convolution)")
    unit: int = option(0, help="maximise: the channel of --layer to maximise")
    steps: int = option(200, help="maximise: gradient-ascent steps")
    tv_weight: float = option(0.05, help="maximise: weight of the total-variation penalty")
    jitter: int = option(2, help="maximise: random shift in pixels before each step")
    which: str = option("best", help="checkpoint: best or last")
    seed: int = option(0, help="seed of smoothgrad's noise and of activation maximisation")
    out: str = option("", path=True, help="folder to create for the maps, overlays and report")

    def __post_init__(self):
        self.methods = tuple(self.methods)
        if not self.methods:
            raise PixelwiseError("methods is empty; give --method, e.g. --method saliency,occlusion.")
        for m in self.methods:
            one_of(m, "method", ATTRIBUTIONS + EXTRA_METHODS)
        parse_target(self.target)
        one_of(self.which, "which", ("best", "last"))
        for name in ("samples", "steps"):
            whole(getattr(self, name), name)
        for name in ("patch", "stride", "channel"):
            if getattr(self, name) is not None:
                whole(getattr(self, name), name, 0 if name == "channel" else 1)
        whole(self.unit, "unit", 0)
        whole(self.jitter, "jitter", 0)
        whole(self.seed, "seed", 0)
        for name in ("noise", "tv_weight"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value >= 0 and math.isfinite(value)):
                raise PixelwiseError(f"{name}={value} must be a finite number >= 0.")
        if self.patch is not None and self.stride is not None and self.stride > self.patch:
            raise PixelwiseError(f"stride={self.stride} must not exceed patch={self.patch} (every pixel is covered).")

    @property
    def per_image(self) -> tuple[str, ...]:
        return tuple(m for m in self.methods if m in ATTRIBUTIONS)

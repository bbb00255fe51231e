"""The settings of ``pixelwise invert``. No torch here."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from pixelwise.errors import PixelwiseError
from pixelwise.train.config import one_of, option, whole

DISTANCES = ("cosine", "l2")


@dataclass
class InvertConfig:
    """Recover training images of a segment or classify run from one shared gradient (Zhu et al. 2019; Geiping et
    al. 2020)."""

    RECIPE: ClassVar[str] = "invert"

    run: str = option("", path=True, help="the run whose training images are attacked (segment or classify)")
    batch: int = option(1, help="images in the shared gradient")
    iterations: int = option(300, help="optimisation steps")
    lr: float = option(0.1, help="Adam's step on the signed gradient (divided by 10 at 3/8, 5/8 and 7/8 of the run)")
    tv_weight: float = option(0.01, help="weight of the total-variation prior (0: Zhu et al.'s attack without one)")
    distance: str = option("cosine", help="gradient distance: cosine (Geiping et al.) or l2 (Zhu et al.)")
    dp_clip: float | None = option(None, help="attack DP-SGD's gradient: per-example clip C (default: the run's own "
                                   "DP-SGD settings, or none)")
    dp_noise: float | None = option(None, help="attack DP-SGD's gradient: noise multiplier sigma (with --dp-clip)")
    which: str = option("best", help="checkpoint: best or last (the weights at which the gradient is shared)")
    seed: int = option(0, help="seed of the batch's choice, the DP noise and the random start")
    out: str | None = option(None, path=True, help="folder for the results (default RUN/evaluations/invert-bB)")

    def __post_init__(self):
        for name in ("batch", "iterations"):
            whole(getattr(self, name), name)
        whole(self.seed, "seed", 0)
        one_of(self.distance, "distance", DISTANCES)
        one_of(self.which, "which", ("best", "last"))
        for name, low in (("lr", 0.0), ("tv_weight", None), ("dp_clip", 0.0), ("dp_noise", None)):
            value = getattr(self, name)
            if value is None and name.startswith("dp"):
                continue
            ok = isinstance(value, (int, float)) and math.isfinite(value) and (value > low if low is not None
                                                                               else value >= 0)
            if not ok:
                raise PixelwiseError(f"{name}={value} must be a finite number {'>' if low is not None else '>='} 0.")
        if (self.dp_noise is None) != (self.dp_clip is None):
            raise PixelwiseError("dp_clip (--dp-clip) and dp_noise (--dp-noise) go together; give both, or neither "
                                 "(the run's own DP-SGD settings).")

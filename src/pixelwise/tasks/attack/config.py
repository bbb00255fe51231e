"""The settings of ``pixelwise attack``. No torch here."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from pixelwise.errors import PixelwiseError
from pixelwise.train.config import one_of, option, whole
from pixelwise.train.protection import ATTACKS, fraction


def _fractions(text: str) -> tuple[float, ...]:
    return tuple(fraction(v) for v in text.split(","))


@dataclass
class AttackConfig:
    """FGSM or PGD (L-infinity) against a segment, classify or restore run, at each radius of ``epsilons``."""

    RECIPE: ClassVar[str] = "attack"

    run: str = option("", path=True, help="the run to attack (segment, classify or restore)")
    method: str = option("pgd", help=f"{' or '.join(ATTACKS)}")
    epsilons: tuple[float, ...] = option((0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255), flag="--epsilon",
                                         parse=_fractions, metavar="EPS,...",
                                         help="L-infinity radii in input units ([0, 1] pixels; restore: the "
                                              "measurement's), e.g. 0,2/255,8/255; 0 (the clean metric) is always "
                                              "added (default 0,1/255,2/255,4/255,8/255)")
    steps: int = option(10, help="PGD: steps")
    step_size: float | None = option(None, parse=fraction, help="PGD: step size (default 2.5 epsilon / steps)")
    random_start: bool = option(True, help="PGD: start at a uniform random point of the ball")
    data: str | None = option(None, path=True, help="other data to attack (default: the run's test split)")
    max_cases: int | None = option(None, help="attack at most this many cases (default: all)")
    batch_size: int = option(8, help="cases per attack batch")
    which: str = option("best", help="checkpoint: best or last")
    seed: int = option(0, help="seed of PGD's random starts")
    out: str | None = option(None, path=True, help="folder for the results (default RUN/evaluations/attack-METHOD)")

    def __post_init__(self):
        one_of(self.method, "method", ATTACKS)
        one_of(self.which, "which", ("best", "last"))
        self.epsilons = tuple(sorted({0.0, *(float(e) for e in self.epsilons)}))
        if any(not (e >= 0 and math.isfinite(e)) for e in self.epsilons) or self.epsilons[-1] == 0:
            raise PixelwiseError(f"epsilons={','.join(f'{e:g}' for e in self.epsilons)} must be finite radii > 0 "
                                 "(0 is added for the clean metric), e.g. --epsilon 2/255,8/255.")
        whole(self.steps, "steps")
        whole(self.batch_size, "batch_size")
        whole(self.seed, "seed", 0)
        if self.max_cases is not None:
            whole(self.max_cases, "max_cases")
        if self.step_size is not None and not (self.step_size > 0 and math.isfinite(self.step_size)):
            raise PixelwiseError(f"step_size={self.step_size} must be a finite number > 0, e.g. 1/255.")

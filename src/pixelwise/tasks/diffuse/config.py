"""The settings of ``pixelwise diffuse train`` (and of its run folders).

This module imports no torch (the command line builds its options from :class:`DiffusionConfig`); the names
of the noise schedules and sampler variances are checked against :mod:`pixelwise.diffusion` inside
``__post_init__``.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import ClassVar

from pixelwise.errors import PixelwiseError
from pixelwise.train.config import SCHEDULES as LR_SCHEDULES
from pixelwise.train.config import TrainingConfig, one_of, option, whole

NAMED_SOURCES = ("mnist", "mnist-test", "digits")  # what --data may name instead of a path (data.imagesets)


def check_corrector(steps, snr) -> None:
    """Refuse a number of Langevin corrector steps that is not a whole number >= 0, or a step-size ratio <= 0."""
    try:
        ok = not isinstance(steps, bool) and operator.index(steps) >= 0
    except TypeError:  # 1.5, "2", None: not a whole number
        ok = False
    if not ok:
        raise PixelwiseError(f"corrector_steps={steps} must be a whole number >= 0 (0: none; 1 doubles the network "
                             "calls of sampling).")
    if isinstance(snr, bool) or not isinstance(snr, int | float) or not (snr > 0 and math.isfinite(snr)):
        raise PixelwiseError(f"snr={snr} must be a finite number > 0: the Langevin corrector's step size, e.g. 0.1.")


@dataclass
class DiffusionConfig(TrainingConfig):
    """Images -> a DDPM (Ho, Jain and Abbeel, NeurIPS 2020) and its samples (see :mod:`pixelwise.tasks.diffuse`)."""

    RECIPE: ClassVar[str] = "diffuse"
    DEFAULT_EPOCHS: ClassVar[int] = 30

    data: str = option("digits", path=True, keywords=NAMED_SOURCES,
                       help="mnist (downloaded once), mnist-test, digits (bundled 8x8), an .npz file or a folder")
    out: str = option("runs/diffuse", path=True, help="run folder to create")
    size: int | None = option(None, help="folders only: resize images to SIZE x SIZE (default: as they are)")
    max_images: int | None = option(None, help="a seeded random subset of this many images (default: all)")
    split: tuple[float, float] = option((0.9, 0.1), help="train,val fractions of the images")
    cache_dir: str | None = option(None, path=True, cli=False, help="where mnist is downloaded to")
    # the diffusion and its net
    T: int = option(200, help="diffusion steps (Ho et al. use 1000; fewer keep CPU sampling short)")
    noise_schedule: str = option("cosine", help="beta schedule of the diffusion: cosine (Nichol and Dhariwal "
                                 "2021) or linear (Ho et al. 2020)")
    base: int = option(32, help="U-Net channels of the first level")
    mults: tuple[int, ...] = option((1, 2, 2), help="channel multipliers per level, e.g. 1,2,2")
    attention: int = option(0, metavar="HEADS", help="self-attention with HEADS heads at the lowest resolution "
                            "(0: none)")
    # training (the loop's settings come from TrainingConfig)
    batch_size: int = option(64, help="images per training step")
    grad_clip: float | None = option(1.0, help="clip the gradient norm to this value (none: no clipping)")
    ema: float | None = option(0.999, help="decay of the moving average of the weights that is validated and "
                               "sampled from (Ho et al. use 0.9999; none: the raw weights)")
    min_snr: float | None = option(None, metavar="GAMMA", help="weight the loss by min(SNR, GAMMA) / SNR (Min-SNR, "
                                   "Hang et al. 2023; 5 in the paper; default: the plain epsilon MSE)")
    conditional: bool = option(False, help="learn the class-conditional and the unconditional model in one net "
                               "(labelled data: mnist, digits, an .npz with labels, a folder of class sub-folders)")
    label_dropout: float = option(0.1, metavar="P", help="conditional: probability that a label is hidden in "
                                  "training (Ho and Salimans 2022)")
    # the samples drawn after training
    n_samples: int = option(64, flag="--samples", metavar="N", help="samples drawn after training")
    variance: str = option("beta", help="sigma_t^2 of the ancestral sampler: beta or posterior")
    clip_x0: float | None = option(1.0, help="clip the predicted x_0 to [-c, c] at every sampling step (none: "
                                   "no clipping)")
    guidance: float = option(0.0, metavar="W", help="conditional: classifier-free guidance weight of the samples "
                             "drawn after training, each class in turn (0: unguided)")
    corrector_steps: int = option(0, metavar="M", help="M Langevin corrector steps after each ancestral step of "
                                  "the samples drawn after training (predictor-corrector, Song et al. 2021)")
    snr: float = option(0.1, metavar="R", help="the corrector's step-size ratio")
    # set by the recipe from the data
    image_shape: tuple[int, ...] | None = option(None, derived=True)  # (C, H, W) of the images
    classes: int = option(0, derived=True)  # K of a conditional run (0: unconditional)

    def __post_init__(self):
        if self.schedule == "linear":  # the old spelling of the noise schedule, refused with a pointer to it
            raise PixelwiseError(f"schedule={self.schedule!r} is the learning-rate schedule ({', '.join(LR_SCHEDULES)})"
                                 f"; the diffusion's is noise_schedule (--noise-schedule {self.schedule}).")
        super().__post_init__()
        from pixelwise.diffusion.ddpm import VARIANCES
        from pixelwise.diffusion.schedule import SCHEDULES

        if not self.data:
            raise PixelwiseError("data (--data) is empty; name digits, mnist, mnist-test, an .npz file or a folder.")
        for name in ("T", "base", "n_samples"):
            whole(getattr(self, name), name)
        one_of(self.noise_schedule, "noise_schedule", SCHEDULES)
        one_of(self.variance, "variance", VARIANCES)
        self._check_net()
        self._check_data()
        self._check_training()
        self._check_sampling()

    def _check_net(self) -> None:
        try:
            ok = bool(self.mults) and all(not isinstance(m, bool) and m == int(m) >= 1 for m in self.mults)
        except (TypeError, ValueError):  # text, None, a table
            ok = False
        if not ok:
            raise PixelwiseError(f"mults={self.mults} must be whole numbers >= 1, one per level, e.g. 1,2,2.")
        self.mults = tuple(int(m) for m in self.mults)
        whole(self.attention, "attention", 0)
        lowest = self.base * self.mults[-1]
        if self.attention and lowest % self.attention:
            raise PixelwiseError(f"attention={self.attention} must be 0 (none) or a number of heads that divides "
                                 f"the {lowest} channels of the lowest level (base x the last of mults).")

    def _check_data(self) -> None:
        self.split = tuple(float(f) for f in self.split)
        if len(self.split) != 2 or min(self.split) <= 0 or abs(sum(self.split) - 1) > 1e-6:
            raise PixelwiseError(f"split={self.split} must be two positive fractions (train, val) summing to 1, "
                                 "e.g. 0.9,0.1.")
        if self.max_images is not None:
            whole(self.max_images, "max_images", 2)
        if self.size is not None:
            whole(self.size, "size", 2)

    def _check_training(self) -> None:
        if self.ema is not None and not 0 <= self.ema < 1:
            raise PixelwiseError(f"ema={self.ema} must be a decay in [0, 1), e.g. 0.999 (or none to sample from "
                                 "the raw weights).")
        if self.min_snr is not None and not (self.min_snr > 0 and math.isfinite(self.min_snr)):
            raise PixelwiseError(f"min_snr={self.min_snr} must be a finite number > 0, e.g. 5 (or none for the plain "
                                 "objective).")
        if not 0 < self.label_dropout < 1:
            raise PixelwiseError(f"label_dropout={self.label_dropout} must lie strictly between 0 and 1 (0.1 in Ho "
                                 "and Salimans 2022): both the conditional and the unconditional model are learnt.")

    def _check_sampling(self) -> None:
        check_corrector(self.corrector_steps, self.snr)
        if self.clip_x0 is not None and not (self.clip_x0 > 0 and math.isfinite(self.clip_x0)):
            raise PixelwiseError(f"clip_x0={self.clip_x0} must be a finite number > 0, e.g. 1 (or none for no "
                                 "clipping).")
        if not (self.guidance >= 0 and math.isfinite(self.guidance)):
            raise PixelwiseError(f"guidance={self.guidance} must be a finite number >= 0 (0 = the conditional model "
                                 "unguided).")
        if self.guidance and not self.conditional:
            raise PixelwiseError(f"guidance={self.guidance} needs a class-conditional model; train with "
                                 "conditional=True (--conditional) or leave guidance at 0.")

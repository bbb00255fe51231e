"""Configs as dataclasses, and what the rest of pixelwise reads off their fields.

Every recipe's settings are one ``@dataclass`` whose fields carry their own help text and rules through
:func:`option`. From those fields, and nothing else, come the command line's options (``pixelwise.cli.options``),
the ``config.json`` of a run folder and its round trip (:mod:`pixelwise.train.runs`), ``--config`` files (TOML
or JSON) and the strict resume rule. A field's metadata says:

- ``help``: one line for ``--help``;
- ``flag``: the option's name when it is not ``--field-name`` (e.g. ``--lambda`` for ``lam``);
- ``parse``: a function from the option's text to the value, when the type alone does not say;
- ``path`` / ``keywords``: a file or folder, written to ``config.json`` as an absolute path unless it is one of
  the ``keywords`` (named sources such as ``digits``);
- ``budget``: may change when a run is resumed (``epochs``, ``minutes``, and where and how it runs: ``device``,
  ``precision``, ``local_batch_norm``); every other setting may not;
- ``derived``: set by the recipe from the data (normalisation statistics), not an option, not compared.

This module imports no torch, so that the command line can build its parsers without it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from pixelwise.errors import PixelwiseError

SCHEDULES = ("cosine", "onecycle", "constant")


def option(default: Any = dataclasses.MISSING, *, help: str = "", flag: str | None = None, parse=None,
           path: bool = False, keywords: tuple[str, ...] = (), budget: bool = False, derived: bool = False,
           cli: bool = True, metavar: str | None = None, default_factory: Any = dataclasses.MISSING):
    """A dataclass field with the metadata described in the module docstring."""
    meta = {"help": help, "flag": flag, "parse": parse, "path": path, "keywords": tuple(keywords),
            "budget": budget, "derived": derived, "cli": cli and not derived, "metavar": metavar}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def meta(f: dataclasses.Field) -> dict:
    """The :func:`option` metadata of a field (defaults for a plain field)."""
    out = {"help": "", "flag": None, "parse": None, "path": False, "keywords": (), "budget": False, "derived": False,
           "cli": True, "metavar": None}
    out.update(f.metadata)
    return out


def whole(value, name: str, low: int = 1) -> None:
    """Refuse ``value`` unless it is a whole number >= ``low`` (booleans and 2.5 are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < low:
        raise PixelwiseError(f"{name}={value!r} must be a whole number >= {low}.")


def check_vit(config) -> None:
    """The ViT's shape settings of a segmentation or pretraining config (``patch_size``, ``dim``, ``vit_depth``,
    ``heads``, ``size``): whole numbers, ``dim`` divisible by ``heads``, ``size`` by ``patch_size``."""
    for name in ("patch_size", "dim", "vit_depth", "heads"):
        whole(getattr(config, name), name)
    if config.dim % config.heads:
        raise PixelwiseError(f"dim={config.dim} (--dim) must be divisible by heads={config.heads} (--heads), "
                             "e.g. --dim 192 --heads 3.")
    if config.size % config.patch_size:
        raise PixelwiseError(f"size={config.size} must be a multiple of patch_size={config.patch_size} for the ViT.")


def one_of(value, name: str, allowed) -> None:
    if value not in allowed:
        raise PixelwiseError(f"{name}={value!r} is not known; use one of {', '.join(map(str, allowed))}.")


@dataclass
class FitConfig:
    """The settings of :func:`pixelwise.train.fit`."""

    epochs: int = 20  # the number of epochs, or the upper bound when ``minutes`` is set
    minutes: float | None = None  # time budget; the loop plans the epochs to end within it
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)  # Adam's; GANs use (0.5, 0.999) after Radford et al. 2016
    schedule: str = "cosine"
    warmup_steps: int = 0  # linear learning-rate warm-up (train.schedule), at most a fifth of the planned steps
    patience: int | None = None  # stop after this many epochs without improvement of ``monitor``
    monitor: str | None = None  # the metric that picks the best epoch; None: val_loss (train_loss without validation)
    mode: str | None = None  # "max" or "min" for ``monitor``; None: "min" for a *loss, else "max"
    seed: int = 0
    deterministic: bool = False
    progress: bool = True
    grad_clip: float | None = None
    ema: float | None = None  # decay of an exponential moving average of the weights, e.g. 0.999; None: off
    compile: bool = False  # train through torch.compile (inductor); validation and checkpoints use the plain model
    device: str = "auto"  # train.devices: auto, cpu, cuda, cuda:N, mps; the model goes back where it was after fit
    precision: str = "32"  # train.devices.PRECISIONS: 32, bf16, 16-mixed
    local_batch_norm: bool = False  # under torchrun: batch norm with each process's shard, not the global batch

    def __post_init__(self):
        from pixelwise.train.devices import check_device_name, check_precision_name

        check_device_name(self.device)
        check_precision_name(self.precision)
        whole(self.epochs, "epochs")
        if self.minutes is not None and not (self.minutes > 0 and math.isfinite(self.minutes)):
            raise PixelwiseError(f"minutes={self.minutes} must be a finite number > 0.")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise PixelwiseError(f"lr={self.lr} must be a finite number > 0, e.g. 1e-3.")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise PixelwiseError(f"betas={self.betas} must be two numbers in [0, 1), e.g. (0.9, 0.999).")
        self.betas = (float(self.betas[0]), float(self.betas[1]))
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise PixelwiseError(f"weight_decay={self.weight_decay} must be a finite number >= 0.")
        one_of(self.schedule, "schedule", SCHEDULES)
        whole(self.warmup_steps, "warmup_steps", 0)
        if self.patience is not None:
            whole(self.patience, "patience")
        one_of(self.mode, "mode", ("max", "min", None))
        if self.ema is not None and not 0 <= self.ema < 1:
            raise PixelwiseError(f"ema={self.ema} must be a decay in [0, 1), e.g. 0.999 (or unset for none).")
        if self.grad_clip is not None and not (self.grad_clip > 0 and math.isfinite(self.grad_clip)):
            raise PixelwiseError(f"grad_clip={self.grad_clip} must be a finite number > 0 (or unset for none).")


def _optional_number(text: str) -> float | None:
    return None if text.strip().lower() == "none" else float(text)


@dataclass
class TrainingConfig:
    """The settings every training recipe shares: its run folder and the loop's. A recipe's config subclasses
    it, adds its own fields, and may give these other defaults by declaring them again."""

    out: str = option("runs/run", help="run folder to create", path=True)
    epochs: int | None = option(None, budget=True, help="epochs (default {default_epochs}; with --minutes the "
                                "upper bound, 1000)")
    minutes: float | None = option(None, budget=True, help="time budget in minutes: the schedule is planned to "
                                   "end within it")
    lr: float = option(1e-3, help="Adam's learning rate")
    weight_decay: float = option(0.0, help="Adam's L2 weight decay")
    batch_size: int = option(8, help="images per training step")
    schedule: str = option("cosine", help=f"learning-rate schedule: {', '.join(SCHEDULES)}")
    warmup: int = option(0, help="linear learning-rate warm-up steps (at most a fifth of the run)")
    patience: int | None = option(None, help="stop after this many epochs without improvement (default: never)")
    grad_clip: float | None = option(None, parse=_optional_number, help="clip the gradient norm to this value "
                                     "(default: no clipping)")
    seed: int = option(0, help="seed of the split, the initial weights and every random draw")
    deterministic: bool = option(False, help="deterministic algorithms: bitwise reproducible runs and resumes on a "
                                 "CPU, sometimes slower")
    compile: bool = option(False, help="train through torch.compile (needs a C++ compiler; falls back to eager "
                           "without one)")
    device: str = option("auto", budget=True, help="auto (CUDA, then MPS, else CPU), cpu, cuda, cuda:N or mps; may "
                         "change on --resume")
    precision: str = option("32", budget=True, help="32, bf16 (autocast) or 16-mixed (float16 with a gradient "
                            "scaler, CUDA only); may change on --resume")
    local_batch_norm: bool = option(False, budget=True, help="under torchrun: batch norm with each process's own "
                                    "share of the batch instead of the whole batch's statistics (faster: 2 CPU "
                                    "processes trained 1.4 times as fast); may change on --resume")

    DEFAULT_EPOCHS: ClassVar[int] = 20
    MAX_EPOCHS_WITH_BUDGET: ClassVar[int] = 1000

    def __post_init__(self):
        if self.epochs is None:
            self.epochs = self.MAX_EPOCHS_WITH_BUDGET if self.minutes else self.DEFAULT_EPOCHS
        whole(self.seed, "seed", 0)
        whole(self.batch_size, "batch_size")
        self.fit_config()  # the loop's own checks, before any data is read

    def fit_config(self, progress: bool = True, **settings) -> FitConfig:
        """The loop's settings from this config; ``settings`` (``monitor``, ``mode``, ``ema``, ``betas``, ...)
        are the recipe's own."""
        return FitConfig(epochs=self.epochs, minutes=self.minutes, lr=self.lr, weight_decay=self.weight_decay,
                         schedule=self.schedule, warmup_steps=self.warmup, patience=self.patience,
                         grad_clip=self.grad_clip, seed=self.seed, deterministic=self.deterministic,
                         compile=self.compile, device=self.device, precision=self.precision,
                         local_batch_norm=self.local_batch_norm, progress=progress,
                         **settings)

"""``run(config)``: clean images (or pairs, or measurements) -> a trained network, evaluated beside the baselines."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from pixelwise.data.memory import check_fits
from pixelwise.tasks.restore.batches import (
    measurement_batches,
    measurement_pool,
    pair_batches,
    simulate_batches,
    validation_cases,
    validator,
)
from pixelwise.tasks.restore.config import RestorationConfig
from pixelwise.tasks.restore.data import load_pairs, pairs_operator, split_images, training_images
from pixelwise.tasks.restore.evaluation import evaluate
from pixelwise.tasks.restore.inference import fixed_operator
from pixelwise.tasks.restore.losses import loss_for
from pixelwise.tasks.restore.models import build_model
from pixelwise.train import fit
from pixelwise.train.distributed import is_main
from pixelwise.train.runs import RunFolder, RunResult


@dataclass
class Training:
    """What the loop needs, every piece built (and every file read) before the run folder is written."""

    model: nn.Module
    loss_fn: nn.Module
    batches: Callable
    validation: list  # [((y, op), x)]
    split: dict  # {"train": names, "val": names}


def run(config: RestorationConfig, overwrite: bool = False, resume: bool = False, progress: bool = True,
        log: Callable[[str], None] = print, evaluate_after: bool = True) -> RunResult:
    """Train (and, with ``evaluate_after``, evaluate on the validation images); writes only inside ``config.out``.

    An existing run folder is replaced only with ``overwrite``. ``resume`` continues the run in ``config.out``
    from its last checkpoint with its saved settings: any other setting that differs is refused by name; only
    ``epochs`` (raised, never lowered) and ``minutes`` (the total budget) may change (see
    :mod:`pixelwise.train.runs`). The data must give the same split as before. Every image is read and the
    network built before anything is written.
    """
    t0 = time.perf_counter()
    folder = RunFolder(config, overwrite=overwrite, resume=resume)
    config = folder.config
    torch.manual_seed(config.seed)  # the initial weights (and a discriminator's) are part of what the seed fixes
    p = config.train_size  # a floor on a step's memory: one feature map of the first layer and its gradient
    check_fits(config.batch_size * p * p * (config.width or 32) * 4 * 2, f"a training step of --batch-size "
               f"{config.batch_size} at {p}x{p}", "lower --batch-size or --patch.")
    training = _pairs(config) if config.regime == "pairs" else _images(config)
    log(f"{config.operator} / {config.model} / {config.regime}: {len(training.split['train'])} training images, "
        f"{len(training.split['val'])} validation")
    run_dir = folder.create(training.split)
    validate = validator(training.validation, measured=config.regime != "pairs")
    result = fit(training.model, training.loss_fn, training.batches, config.steps_per_epoch, validate,
                 config.fit_config(progress, **config.loop_settings()), run_dir, resume, log)
    log(f"trained {len(result.history)} epochs in {result.seconds:.0f}s (stopped by {result.stopped}); "
        f"best epoch {result.best_epoch}")
    metrics = evaluate(run_dir, progress=progress, log=log) if evaluate_after and is_main() else {}
    return RunResult(run_dir, metrics, result.history, time.perf_counter() - t0)


def _pairs(config: RestorationConfig) -> Training:
    """Regime ``pairs``: measured (input, target) pairs on disk, no operator."""
    train, val = split_images(config, load_pairs(config, config.data))
    op = pairs_operator(config)
    return Training(build_model(config), loss_for(config), pair_batches(config, [(y, x) for _, y, x in train], op),
                    [((y[None], op), x[None]) for _, y, x in val],
                    {"train": [n for n, _, _ in train], "val": [n for n, _, _ in val]})


def _images(config: RestorationConfig) -> Training:
    """Regimes ``simulate`` and ``measurements``: clean images and the known operator."""
    train, val = training_images(config)
    images = [x for _, x in train]
    op = fixed_operator(config)  # the one operator of MRI / CT (and of the measurement pool)
    p = config.train_size
    model = build_model(config, op, (1, config.channels, p, p))
    if config.regime == "simulate":
        batches = simulate_batches(config, images, op)
    else:
        batches = measurement_batches(config, measurement_pool(config, images, op), op)
    return Training(model, loss_for(config), batches, validation_cases(config, [x for _, x in val], op),
                    {"train": [n for n, _ in train], "val": [n for n, _ in val]})

"""``run(config)``: images -> a trained DDPM (Ho et al. 2020) -> samples and their metrics."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import torch

from pixelwise.diffusion import NoiseSchedule
from pixelwise.tasks.diffuse.config import DiffusionConfig
from pixelwise.tasks.diffuse.data import batches, class_count, load_data, make_split, scaled, validator
from pixelwise.tasks.diffuse.evaluation import evaluate
from pixelwise.tasks.diffuse.models import build_model, loss_for
from pixelwise.train import fit
from pixelwise.train.distributed import is_main
from pixelwise.train.runs import RunFolder, RunResult


def run(config: DiffusionConfig, overwrite: bool = False, resume: bool = False, progress: bool = True,
        log: Callable[[str], None] = print) -> RunResult:
    """Train, then sample ``n_samples`` images; writes only inside ``config.out`` (see
    :mod:`pixelwise.train.runs` for the rules: ``resume`` refuses changed settings but the budget, and data that
    no longer gives the saved split). The data is read and checked and the net built before anything is
    written."""
    t0 = time.perf_counter()
    folder = RunFolder(config, overwrite=overwrite, resume=resume)
    data = load_data(folder.config)
    classes = class_count(data, folder.config)
    split = make_split(data, folder.config, classes)
    config = folder.config = dataclasses.replace(folder.config, image_shape=tuple(data.shape), classes=classes)
    images = scaled(data.images)
    labels = torch.from_numpy(data.labels).long() if classes else None
    train, val = images[split["train"]], images[split["val"]]
    train_labels, val_labels = (None, None) if labels is None else (labels[split["train"]], labels[split["val"]])
    schedule = NoiseSchedule.named(config.noise_schedule, config.T)
    log(f"{len(data)} images of {data.shape} from {data.name}: {len(train)} train, {len(val)} val; {schedule}"
        + (f"; conditional on {classes} classes" if classes else ""))
    torch.manual_seed(config.seed)  # the initial weights are part of what the seed reproduces
    model = build_model(config)
    run_dir = folder.create(split)
    epoch_batches, steps = batches(train, schedule, config, train_labels)
    fit_config = config.fit_config(progress, monitor="val_loss", mode="min", ema=config.ema)
    result = fit(model, loss_for(config), epoch_batches, steps, validator(val, schedule, config.seed, val_labels),
                 fit_config, run_dir, resume, log)
    log(f"trained {len(result.history)} epochs in {result.seconds:.0f}s (stopped by {result.stopped}); best epoch "
        f"{result.best_epoch}")
    metrics = evaluate(run_dir, image_set=data, progress=progress, log=log) if is_main() else {}
    return RunResult(run_dir, metrics, result.history, time.perf_counter() - t0)

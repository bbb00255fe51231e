"""``run(config)``: unlabelled images -> a pretrained encoder, with its pretext task scored on held-out images."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from pixelwise.data.splits import random_split
from pixelwise.errors import PixelwiseError
from pixelwise.tasks.pretrain.batches import batches, validator
from pixelwise.tasks.pretrain.config import PretrainConfig
from pixelwise.tasks.pretrain.data import read_images
from pixelwise.tasks.pretrain.evaluation import evaluate
from pixelwise.tasks.pretrain.models import build_model, loss_for
from pixelwise.tasks.segment.data import channel_statistics
from pixelwise.train import fit
from pixelwise.train.runs import RunFolder, RunResult


def split_ids(ids: list[str], config: PretrainConfig) -> dict:
    """The seeded train/val split of the images (no test part: a pretext task has nothing to test)."""
    if len(ids) < 2:
        raise PixelwiseError(f"{config.data} gives {len(ids)} image; pretraining needs at least 2.")
    return random_split(ids, (1 - config.val_fraction, config.val_fraction, 0.0), config.seed)


def run(config: PretrainConfig, overwrite: bool = False, resume: bool = False, progress: bool = True,
        log: Callable[[str], None] = print) -> RunResult:
    """Pretrain and score the pretext task on the validation images; writes only inside ``config.out`` (see
    :mod:`pixelwise.train.runs`). Every image is decoded and checked before anything is written."""
    t0 = time.perf_counter()
    folder = RunFolder(config, overwrite=overwrite, resume=resume)
    config = folder.config
    data = read_images(config.data, config.size, config.channels, config.max_images, config.seed, progress)
    split = split_ids(data.ids, config)
    index = {name: i for i, name in enumerate(data.ids)}
    train, val = (data.images[[index[i] for i in split[part]]] for part in ("train", "val"))
    if config.method == "simclr" and len(train) < 2:
        raise PixelwiseError(f"{len(train)} training image gives SimCLR no negatives; add images or lower "
                             "--val-fraction.")
    trained = "whole U-Net" if config.method == "genesis" else f"{config.model} encoder"
    log(f"{len(data.ids)} images from {data.source}: {len(train)} train, {len(val)} val; {config.method} on the "
        f"{trained}")
    if not resume:
        config.norm_mean, config.norm_std = channel_statistics(train)
    torch.manual_seed(config.seed)  # the initial weights are part of what the seed reproduces
    net = build_model(config).to(memory_format=torch.channels_last)
    run_dir = folder.create(split)
    loss_fn = loss_for(config)
    validate = validator(val, config, loss_fn) if len(val) else None
    steps = max(1, len(train) // config.batch_size)
    result = fit(net, loss_fn, batches(train, config), steps, validate, config.fit_config(progress), run_dir, resume,
                 log)
    log(f"pretrained {len(result.history)} epochs in {result.seconds:.0f}s (stopped by {result.stopped}); best epoch "
        f"{result.best_epoch}")
    metrics = evaluate(run_dir, progress=progress, log=log)
    return RunResult(run_dir, metrics, result.history, time.perf_counter() - t0)

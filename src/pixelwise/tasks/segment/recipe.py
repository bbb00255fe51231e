"""``run(config)``: a folder of images and masks -> a trained model, evaluated on its test split."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from pixelwise.data.folders import ImageMaskFolder
from pixelwise.data.memory import check_fits
from pixelwise.errors import DataError, PixelwiseError
from pixelwise.tasks.segment.canvases import canvas_statistics, crop_batches, load_canvases, subset
from pixelwise.tasks.segment.config import CUSTOM, SegmentationConfig
from pixelwise.tasks.segment.data import batches, channel_statistics, make_split, planned_bytes, validator
from pixelwise.tasks.segment.evaluation import evaluate
from pixelwise.tasks.segment.models import build_model, loss_for
from pixelwise.tasks.segment.pseudo import check_teacher, pseudo_masks, unlabelled_ids
from pixelwise.tasks.segment.transfer import prepare, with_labels
from pixelwise.train import fit
from pixelwise.train.distributed import is_main
from pixelwise.train.protected import client_split, settle, training_plan
from pixelwise.train.runs import RunFolder, RunResult


def run(config: SegmentationConfig, model: nn.Module | None = None, overwrite: bool = False, resume: bool = False,
        progress: bool = True, log: Callable[[str], None] = print) -> RunResult:
    """Train and evaluate; writes only inside ``config.out`` (see :mod:`pixelwise.train.runs` for the rules).

    ``model``: any ``nn.Module`` mapping (N, C, S, S) to (N, K, S, S) logits (K = 1 for binary masks, else the
    number of classes) to train instead of the one named by ``config.model``; the run records it as "custom",
    and ``evaluate``/``predict`` of the run then need the same kind of model passed to them. It is trained in
    place and left with the best checkpoint's weights. Every file is decoded and checked before anything is
    written."""
    t0 = time.perf_counter()
    if not config.data:
        raise PixelwiseError("data (--data) is not given; name a folder with images/ and masks/.")
    if model is not None:
        config = dataclasses.replace(config, model=CUSTOM)
    folder = RunFolder(config, overwrite=overwrite, resume=resume)
    config = folder.config
    data = ImageMaskFolder(config.data, config.num_classes, config.threshold, config.channels,
                          ignore_index=config.ignore_index)
    split = with_labels(make_split(data, config), config)  # "labelled": the training ids used, if not all
    trained, pseudo = split.get("labelled", split["train"]), unlabelled_ids(split, config)
    if pseudo:
        check_teacher(config, split)  # --pseudo-labels: a fair teacher, or refused before anything is written
        split = {**split, "pseudo_labelled": pseudo}
    train_idx, val_idx, test_idx = (data.index(ids) for ids in (trained + pseudo, split["val"], split["test"]))
    log(f"{len(data)} cases in {data.root}: {len(train_idx)} train"
        + (f" ({len(pseudo)} of them labelled by the teacher {config.pseudo_labels})" if pseudo else "")
        + f", {len(val_idx)} val, {len(test_idx)} test")
    check_fits(planned_bytes(config, len(train_idx) + len(val_idx), data.depth.itemsize),
               f"training at --size {config.size} (batch {config.batch_size})",
               "use a smaller --size (or --batch-size, or fewer cases).")
    tr_img, tr_msk = load_canvases(data, train_idx, config, progress)  # every file decoded (and checked) once,
    va_img, va_msk = load_canvases(data, val_idx, config, progress)  # before writing, by the --resize rule
    data.load(test_idx, (8, 8), progress=False)  # fully decodes the test files: a broken one fails now
    if not any(m.any() for m in tr_msk[:len(trained)]) and not config.allow_empty_masks:
        raise DataError(f"every one of the {len(trained)} training masks in {data.root / 'masks'} is empty, so the "
                        "model would learn to predict nothing (Dice 0); check the masks (their encoding: see "
                        "--threshold and --num-classes), or pass --allow-empty-masks to train anyway.")
    if pseudo:  # the teacher's masks replace the unlabelled cases' own (decoded with their images, never trained on)
        tr_msk[len(trained):] = pseudo_masks(config, tr_img[len(trained):])
    if not resume:
        stacked = isinstance(tr_img, np.ndarray)
        config.norm_mean, config.norm_std = (channel_statistics if stacked else canvas_statistics)(tr_img)
    brightness = np.array([float(im.mean()) for im in tr_img])  # the federated clients' non-IID split statistic
    clients = client_split(config, len(tr_img), statistic=brightness)  # federated averaging, or None
    split = {**split, "clients": clients} if clients is not None else split
    settle(config, len(tr_img), clients, resume)  # the DP-SGD noise, or nothing
    torch.manual_seed(config.seed)  # the initial weights are part of what the seed reproduces
    net = (model if model is not None else build_model(config)).to(memory_format=torch.channels_last)
    prepare(net, config, resume, log)  # --init: the encoder of another run (checked before anything is written)
    run_dir = folder.create(split)
    loss_fn = loss_for(config)
    validate = validator(va_img, va_msk, config, loss_fn) if len(va_img) else None
    monitor = {"monitor": "val_iou", "mode": "max"} if validate is not None else {"monitor": "train_loss"}
    whole = isinstance(tr_img, np.ndarray) and config.crop == config.size  # the canvases themselves, no crops
    make = batches if whole else crop_batches
    plan = training_plan(config, net, len(tr_img), lambda idx, sampler: make(
        subset(tr_img, idx), subset(tr_msk, idx), config, sampler), clients, config.norm_mean, config.norm_std)
    result = fit(net, loss_fn, plan.batches, plan.steps, validate, config.fit_config(progress, **monitor), run_dir,
                 resume, log, backward=plan.backward)
    log(f"trained {len(result.history)} epochs in {result.seconds:.0f}s (stopped by {result.stopped}); "
        f"best epoch {result.best_epoch}")
    metrics = (evaluate(run_dir, model=model, progress=progress, log=log, device=config.device)
               if test_idx and is_main() else {})
    return RunResult(run_dir, metrics, result.history, time.perf_counter() - t0)

"""Transfer and label fractions for ``segment train``: start from another run's encoder (``--init RUN``, optionally
``--freeze-encoder``), and train on a seeded fraction of the training labels (``--label-fraction`` or ``--label-ids``)
while the split's validation and test cases stay exactly those of the full run.

The encoder is the model's encoder view (:func:`pixelwise.models.encoder_of`): the U-Net's contracting path or the
ViT's embedding and transformer, under the segmentation model's own parameter names. A pretraining run saves them
as ``encoder.<name>``, a segmentation run as ``<name>`` (``net.<name>`` behind the valid-padding wrapper). Every
tensor of the encoder must be found with its shape, or the run is refused naming the first that is not. The
normalisation of the inputs comes with the encoder: the run adopts its source's mean and standard deviation.
A pretraining run of the whole U-Net (``--method genesis``, Models Genesis) also holds a decoder, saved as
``net.up.<name>``: it loads into the U-Net's expanding path the same way (every tensor, with its shape), and only
the last 1x1 convolution (the head, an image there and a mask here) starts afresh, as Zhou et al. fine-tune it.

The labelled cases: a seeded permutation of the sorted training ids, its first round(F n) (so the subsets of one
seed are nested: 5% within 10% within 25%); or the ids of a file, all of which must be training cases of the split.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pixelwise.data.splits import read_id_list
from pixelwise.errors import PixelwiseError
from pixelwise.models import encoder_of, freeze
from pixelwise.tasks.segment.config import SegmentationConfig
from pixelwise.train.checkpoint import read_weights
from pixelwise.train.files import read_json
from pixelwise.train.runs import RECIPE_KEY, checkpoint_path

SOURCES = {"pretrain": "encoder.", "segment": ""}  # the recipes whose runs hold an encoder, and its key prefix


def with_labels(split: dict, config: SegmentationConfig) -> dict:
    """``split`` with ``"labelled"``: the training ids whose labels are used, when they are not all of them."""
    train = sorted(split["train"])
    if config.label_ids:
        chosen = sorted(set(read_id_list(config.label_ids)))
        outside = [i for i in chosen if i not in set(train)]
        if outside:
            part = next((part for part in ("val", "test") if outside[0] in split.get(part, [])), None)
            where = f"a {part} case" if part else "not in the data folder"
            raise PixelwiseError(f"label_ids {config.label_ids}: {len(outside)} ids are not training cases of this "
                                 f"split (e.g. {outside[0]}, {where}); list training ids only.")
    elif config.label_fraction < 1:
        k = round(config.label_fraction * len(train))
        if k < 1:
            raise PixelwiseError(f"label_fraction={config.label_fraction} (--label-fraction) of {len(train)} training "
                                 "cases leaves none; "
                                 f"use at least {1 / len(train):.3g} (one case).")
        order = np.random.default_rng(config.seed).permutation(len(train))
        chosen = sorted(train[i] for i in order[:k])
    else:
        return split
    return {**split, "labelled": chosen}


def prepare(net: nn.Module, config: SegmentationConfig, resume: bool, log: Callable[[str], None] = print) -> None:
    """Load ``config.init``'s encoder into ``net`` (not on resume: the checkpoint holds the weights) and adopt its
    input normalisation; freeze the encoder with ``config.freeze_encoder``."""
    if not config.init:
        return
    try:
        view = encoder_of(net)
    except ValueError as err:
        raise PixelwiseError(f"init (--init) needs a U-Net or ViT: {err}") from None
    if not resume:
        state, source = encoder_state(config.init, view, config.model)
        view.load_state_dict(state)
        config.norm_mean, config.norm_std = source["norm_mean"], source["norm_std"]
        log(f"encoder: {len(state)} tensors from the {source[RECIPE_KEY]} run {config.init}"
            + (" (frozen)" if config.freeze_encoder else ""))
        if source.get(RECIPE_KEY) == "pretrain" and source.get("method") == "genesis":
            up = getattr(net, "net", net).up
            decoder = decoder_state(config.init, up)
            up.load_state_dict(decoder)
            log(f"decoder: {len(decoder)} tensors from the same run (the head starts afresh)")
    if config.freeze_encoder:
        freeze(view)


def decoder_state(run: str | Path, up: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors of a U-Net's expanding path ``up`` found in the whole-U-Net pretraining ``run`` (``net.up.*``),
    every name and shape checked; a run that does not fit is refused naming what differs."""
    saved = {key.removeprefix("net.up."): value for key, value in read_weights(checkpoint_path(run, "best")).items()
             if key.startswith("net.up.")}
    for name, value in up.state_dict().items():
        if name not in saved:
            raise PixelwiseError(f"init {run} does not fit this model: its decoder has no up.{name}; use the same "
                                 "--depth, --norm and --up as the run.")
        if saved[name].shape != value.shape:
            raise PixelwiseError(f"init {run} does not fit this model: up.{name} is {tuple(saved[name].shape)} in the "
                                 f"run but {tuple(value.shape)} here; use the same --base-channels as the run.")
    return {name: saved[name] for name in up.state_dict()}


def encoder_state(run: str | Path, view: nn.Module, model: str) -> tuple[dict[str, torch.Tensor], dict]:
    """The tensors of ``view`` found in ``run``'s best checkpoint, and the run's settings; every name and shape is
    checked, and a run that does not fit is refused naming what differs."""
    run = Path(run)
    if not (run / "config.json").is_file():
        raise PixelwiseError(f"init {run} is not a run folder (no config.json); give --init a folder made by "
                             "`pixelwise pretrain train` or `pixelwise segment train`.")
    source = read_json(run / "config.json")
    recipe = source.get(RECIPE_KEY)
    if recipe not in SOURCES:
        raise PixelwiseError(f"init {run} was made by `pixelwise {recipe}`; --init takes a pretrain or segment run.")
    if source.get("model") in ("unet", "vit") and source["model"] != model:
        raise PixelwiseError(f"init {run} holds a {source['model']} encoder but this model is a {model}; use --model "
                             f"{source['model']}, or --init a {model} run.")
    prefix = SOURCES[recipe]
    saved = {}
    for key, value in read_weights(checkpoint_path(run, "best")).items():
        name = key[len(prefix):] if key.startswith(prefix) else None
        if name is not None:
            saved[name.removeprefix("net.") if recipe == "segment" else name] = value
    wanted = view.state_dict()
    what = f"a {source.get('model')} encoder of the run"
    missing = [k for k in wanted if k not in saved]
    if missing:
        raise PixelwiseError(f"init {run} does not fit this model: {what} has no {missing[0]} ({len(missing)} of "
                             f"{len(wanted)} encoder tensors missing); use the same --model, --depth, --norm (and ViT "
                             "sizes) as the run.")
    extra = [k for k in saved if k not in wanted] if recipe == "pretrain" else []
    if extra:
        raise PixelwiseError(f"init {run} does not fit this model: {what} has {extra[0]}, which this model's encoder "
                             "lacks; use the same --model, --depth and --norm as the run.")
    for k, v in wanted.items():
        if saved[k].shape != v.shape:
            raise PixelwiseError(f"init {run} does not fit this model: {k} is {tuple(saved[k].shape)} in the run but "
                                 f"{tuple(v.shape)} here; use the same --base-channels, --channels (and ViT --size, "
                                 "--patch-size, --dim) as the run.")
    return {k: saved[k] for k in wanted}, source

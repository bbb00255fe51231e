"""The data of a latent run: the image set, its split, the training batches and the shape checks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from pixelwise.data.imagesets import ImageSet, load_image_set, split_indices
from pixelwise.errors import DataError, PixelwiseError
from pixelwise.models.corruption import corrupt
from pixelwise.tasks.latent.config import CONV_FREE, LatentConfig


def load_data(config: LatentConfig, source: str | None = None) -> ImageSet:
    """The run's images (``config.data``, or another ``source`` scored whole), the seeded subset of
    ``max_images`` included for the run's own data; refused when the conv models cannot take their size."""
    own = source is None
    data = load_image_set(config.data if own else source, config.size, config.cache_dir,
                          max_images=config.max_images if own else None, seed=config.seed)
    h, w = data.images.shape[-2:]
    if config.model not in CONV_FREE and min(h, w) < 4:
        raise PixelwiseError(f"images of {h}x{w} are too small for the conv model {config.model}; use --size 8 or "
                             "more (folders), or an MLP model (ae, sparse, cae).")
    return data


def make_split(data: ImageSet, config: LatentConfig) -> dict:
    """The seeded train/val/test split of the images (indices into ``data``); with ``anomaly_class`` that
    class leaves train and val (the test part keeps it)."""
    split = split_indices(len(data), config.split, config.seed)
    if config.anomaly_class is not None:
        if data.labels is None:
            raise PixelwiseError(f"anomaly_class={config.anomaly_class} needs labelled data; {data.name} has no "
                                 "labels (use digits, mnist, an .npz with labels or class sub-folders).")
        if not np.any(data.labels == config.anomaly_class):
            raise PixelwiseError(f"no image has label {config.anomaly_class}; choose --anomaly-class from "
                                 f"{sorted(set(data.labels.tolist()))}.")
        for part in ("train", "val"):
            split[part] = [i for i in split[part] if data.labels[i] != config.anomaly_class]
        if not any(data.labels[i] == config.anomaly_class for i in split["test"]):
            raise PixelwiseError("the test split holds no image of the anomaly class; raise the test fraction of "
                                 "--split.")
    if not split["train"] or not split["val"] or not split["test"]:
        raise PixelwiseError(f"{len(data)} images are too few for the split {config.split}; add data or raise "
                             "--max-images.")
    return {**split, "seed": config.seed, "fractions": list(config.split), "anomaly_class": config.anomaly_class}


def set_derived(config: LatentConfig, data: ImageSet, resume: bool) -> None:
    """Record the image shape and the number of label classes in the config (on resume: check them)."""
    shape = [int(s) for s in data.shape]
    classes = int(data.labels.max()) + 1 if data.labels is not None and len(data.labels) else 0
    if resume and config.image_shape and (config.image_shape, config.classes) != (shape, classes):
        raise DataError(f"the data now gives images of {tuple(shape)} in {classes} classes, but the run was "
                        f"trained on {tuple(config.image_shape)} in {config.classes}; resume with the data the run "
                        "started with, or start a new run.")
    config.image_shape, config.classes = shape, classes


def tensor(data: ImageSet, index) -> torch.Tensor:
    """The images ``index`` of ``data`` as one float32 tensor (N, C, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(data.images[np.asarray(index, dtype=np.int64)]))


def autoencoder_batches(images: torch.Tensor, config: LatentConfig) -> tuple[Callable, int]:
    """(``batches(epoch, generator)`` for :func:`pixelwise.train.fit`, steps per epoch): shuffled (input, target)
    pairs, the input corrupted for the dae (Vincent et al. 2008) and differentiable for the cae's penalty."""
    n, bs = len(images), min(config.batch_size, len(images))

    def batches(epoch: int, generator: torch.Generator):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - bs + 1, bs):  # a ragged last batch is dropped
            x = images[order[start:start + bs]]  # (B, C, H, W)
            inp = corrupt(x, config.corruption, config.noise, generator) if config.model == "dae" else x
            if config.model == "cae":
                inp = inp.clone().requires_grad_(True)  # the contractive penalty differentiates z w.r.t. x
            yield inp, x

    return batches, max(1, n // bs)

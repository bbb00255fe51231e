"""Segmentation data for the loop: the split, normalised tensors, training batches and the validator."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from pixelwise.data.augment import AugmentConfig, augment_batch
from pixelwise.data.decode import unit_scale
from pixelwise.data.folders import ImageMaskFolder
from pixelwise.data.splits import random_split, read_id_list, split_from_lists
from pixelwise.data.tensors import unit_tensor
from pixelwise.tasks.segment.config import SegmentationConfig
from pixelwise.train.devices import device_of
from pixelwise.train.distributed import shard_range


def make_split(folder: ImageMaskFolder, config: SegmentationConfig) -> dict:
    """The seeded split of the folder's cases, or the given id lists (validation carved from the training ids)."""
    if config.train_ids:
        test = read_id_list(config.test_ids) if config.test_ids else None
        return split_from_lists(folder.stems, read_id_list(config.train_ids), test, config.split[1] or 0.2, config.seed)
    return random_split(folder.stems, config.split, config.seed)


def normalise(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] -> (x - mean) / std per channel, channels-last in memory."""
    m = torch.tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
    return ((x - m) / s).contiguous(memory_format=torch.channels_last)


def to_tensor(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(N, H, W, C) decoded images -> (N, C, H, W) float32 normalised, channels-last in memory (normalised in
    place: one float copy of the images, which matters for a large image predicted window by window)."""
    x = unit_tensor(images)  # a new tensor, channels-last already (a permuted (N, H, W, C) array)
    x.sub_(torch.tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)).div_(torch.tensor(std, dtype=x.dtype).view(1, -1, 1, 1))
    return x.contiguous(memory_format=torch.channels_last)


def channel_statistics(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation (floored at 1e-3) of (N, H, W, C) decoded images, in [0, 1] units."""
    flat = images.reshape(-1, images.shape[-1]).astype(np.float64) / unit_scale(images.dtype)
    return [round(float(v), 6) for v in flat.mean(0)], [round(float(max(v, 1e-3)), 6) for v in flat.std(0)]


def batches(images: np.ndarray, masks: np.ndarray, config: SegmentationConfig,
            sampler: Callable | None = None) -> Callable:
    """``epoch_batches(epoch, generator)`` for :func:`pixelwise.train.fit`: shuffled, augmented, normalised.
    ``sampler(epoch, generator)``: the index arrays of an epoch's batches (default: a shuffle cut into batches,
    :func:`pixelwise.train.privacy.shuffled_batches`; DP-SGD gives Poisson batches)."""
    from pixelwise.train.privacy import shuffled_batches

    aug = AugmentConfig() if config.augment else None
    sampler = sampler or shuffled_batches(len(images), config.batch_size)

    def epoch_batches(epoch: int, generator: torch.Generator):
        for idx in sampler(epoch, generator):
            x = unit_tensor(images[idx])  # (B, C, S, S) in [0, 1]
            y = torch.from_numpy(masks[idx]).long()  # (B, S, S)
            if aug is not None and len(idx):
                x, y = augment_batch(x, y, aug, generator)
            x = normalise(x, config.norm_mean, config.norm_std)
            yield x, (y.float()[:, None] if config.num_classes is None else y)

    return epoch_batches


def batch_iou(logits: torch.Tensor, target: torch.Tensor, num_classes: int | None,
              empty_score: float = 1.0, ignore_index: int | None = None) -> torch.Tensor:
    """Per-image IoU (foreground mean for multi-class), with the empty-mask policy: both empty -> empty_score;
    pixels labelled ``ignore_index`` left out."""
    if num_classes is None:
        pred, truth = logits[:, 0] > 0, target.reshape(logits.shape[0], *logits.shape[2:]) > 0.5
        return _iou(pred, truth, empty_score)
    labels = logits.argmax(1)
    if ignore_index is not None:
        labels = torch.where(target == ignore_index, -1, labels)  # counted in no class
    return torch.stack([_iou(labels == k, target == k, empty_score) for k in range(1, num_classes)]).mean(0)


def _iou(pred: torch.Tensor, truth: torch.Tensor, empty_score: float) -> torch.Tensor:
    inter = (pred & truth).flatten(1).sum(1).float()
    union = (pred | truth).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.full_like(union, empty_score))


def validator(images: np.ndarray | list, masks: np.ndarray | list, config: SegmentationConfig,
              loss_fn: nn.Module) -> Callable:
    """``validate(model) -> {"val_loss", "val_iou"}`` on the validation cases at their working size: stacked
    canvases (squash, fit, pad) batch by batch, lists of canvases of several sizes (crop, none) one by one. The
    network runs where the model is (``device_aware``); under torchrun each process scores every N-th case
    and says how many (``_count``, :mod:`pixelwise.train.distributed`)."""
    step = config.batch_size if isinstance(images, np.ndarray) else 1

    def validate(model: nn.Module) -> dict:
        device = device_of(model)
        cases, count = shard_range(len(images))
        cases, losses, ious = list(cases), [], []
        for start in range(0, len(cases), step):
            idx = cases[start:start + step]
            x = to_tensor(np.stack([images[i] for i in idx]), config.norm_mean, config.norm_std).to(device)
            y = torch.from_numpy(np.stack([masks[i] for i in idx])).long().to(device)
            logits = model(x)
            target = y.float()[:, None] if config.num_classes is None else y
            losses.append(loss_fn(logits, target).item() * len(x))
            ious.append(batch_iou(logits, y, config.num_classes, config.empty_score, config.ignore_index).cpu())
        if not cases:  # more processes than validation cases: this one scored none
            return {"val_loss": 0.0, "val_iou": 0.0, "_count": 0}
        return {"val_loss": sum(losses) / len(cases), "val_iou": torch.cat(ious).mean().item(), "_count": count}

    validate.device_aware = True
    return validate


# Peak memory of a U-Net training step, measured on a CPU (3 channels, batch 8, base 32): about 25 to 34 times
# base_channels x size^2 x batch x 4 bytes (activations, their gradients, the normalisation's buffers); the
# lower figure plans, so that no run that fits is refused.
ACTIVATION_FACTOR = 24


def planned_bytes(config: SegmentationConfig, cases: int, itemsize: int) -> int:
    """The memory a run plans to hold at once: the decoded cache of ``cases`` images and masks at the training
    size, and one training step's activations."""
    pixels = config.size * config.size
    cache = cases * pixels * (config.channels * itemsize + 1)
    if config.model == "vit":
        tokens = (config.size // config.patch_size) ** 2
        step = config.batch_size * config.vit_depth * (3 * config.heads * tokens * tokens + 8 * tokens * config.dim)
        step *= 4
    else:
        step = ACTIVATION_FACTOR * config.base_channels * pixels * config.batch_size * 4
    return cache + step

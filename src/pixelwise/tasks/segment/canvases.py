"""Segmentation training data by the run's ``--resize`` rule (:mod:`pixelwise.data.geometry`): the working canvases
of the cases, their statistics, and batches of random ``--patch`` crops."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from pixelwise.data.augment import AugmentConfig, augment_batch
from pixelwise.data.decode import convert_depth, unit_scale
from pixelwise.data.folders import ImageMaskFolder
from pixelwise.data.geometry import UNIFORM, placement, to_canvas
from pixelwise.data.tensors import unit_tensor
from pixelwise.tasks.segment.config import SegmentationConfig
from pixelwise.tasks.segment.data import normalise


def load_canvases(data: ImageMaskFolder, indices: Sequence[int], config: SegmentationConfig, progress: bool = True
                  ) -> tuple[np.ndarray | list, np.ndarray | list]:
    """Every case decoded once onto its canvas: (N, S, S, C) and (N, S, S) arrays for squash, fit and pad (squash
    through ``ImageMaskFolder.load``), lists of (h, w, C) and (h, w) arrays of each case's own size for crop and
    none."""
    from tqdm.auto import tqdm

    if config.resize == "squash":
        return data.load(indices, (config.size, config.size), progress)
    binary = config.num_classes is None

    def read(i: int):
        image, mask = data.read(i)
        image = convert_depth(image, data.depth)  # every case at the folder's common depth (data.decode's rule)
        return to_canvas(image, placement(*image.shape[:2], config.size, config.resize), mask, binary)

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        pairs = list(tqdm(pool.map(read, indices), total=len(indices), desc="decoding", disable=not progress,
                          leave=False))
    images, masks = [p[0] for p in pairs], [p[1] for p in pairs]
    if config.resize in UNIFORM:
        empty = (0, config.size, config.size)
        return (np.stack(images) if images else np.empty((*empty, config.channels), data.depth),
                np.stack(masks) if masks else np.empty(empty, np.uint8))
    return images, masks


def canvas_statistics(images: list[np.ndarray]) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation (floored at 1e-3) of decoded canvases of several sizes, in [0, 1]
    units, over every pixel (accumulated image by image: no float copy of them all)."""
    total, squares, count = 0.0, 0.0, 0
    for im in images:
        flat = im.reshape(-1, im.shape[-1]).astype(np.float64) / unit_scale(im.dtype)
        total, squares, count = total + flat.sum(0), squares + (flat ** 2).sum(0), count + len(flat)
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean ** 2, 0))
    return [round(float(v), 6) for v in mean], [round(float(max(v, 1e-3)), 6) for v in std]


def random_crop(image: np.ndarray, mask: np.ndarray, side: int, generator: torch.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    """A ``side`` x ``side`` crop at a place drawn from ``generator``; a canvas smaller than that is first padded
    (black image, background mask) on its bottom and right."""
    h, w = mask.shape
    if h < side or w < side:
        image = np.pad(image, ((0, max(side - h, 0)), (0, max(side - w, 0)), (0, 0)))
        mask = np.pad(mask, ((0, max(side - h, 0)), (0, max(side - w, 0))))
        h, w = mask.shape
    top = int(torch.randint(h - side + 1, (), generator=generator))
    left = int(torch.randint(w - side + 1, (), generator=generator))
    return image[top:top + side, left:left + side], mask[top:top + side, left:left + side]


def subset(arrays: np.ndarray | list, idx) -> np.ndarray | list:
    """The cases ``idx`` of stacked canvases or of a list of them (all of them for ``idx`` None)."""
    if idx is None:
        return arrays
    return arrays[idx] if isinstance(arrays, np.ndarray) else [arrays[i] for i in idx]


def crop_batches(images: np.ndarray | list, masks: np.ndarray | list, config: SegmentationConfig,
                 sampler: Callable | None = None) -> Callable:
    """``epoch_batches(epoch, generator)`` for :func:`pixelwise.train.fit`: the cases of each batch (``sampler``, as
    in :func:`~pixelwise.tasks.segment.data.batches`), a random ``--patch`` crop of each (:func:`random_crop`),
    augmented and normalised, every draw from the loop's generator."""
    from pixelwise.train.privacy import shuffled_batches

    aug = AugmentConfig() if config.augment else None
    sampler = sampler or shuffled_batches(len(images), config.batch_size)

    def epoch_batches(epoch: int, generator: torch.Generator):
        for idx in sampler(epoch, generator):
            crops = [random_crop(images[i], masks[i], config.crop, generator) for i in idx]
            x = unit_tensor(np.stack([c[0] for c in crops]))  # (B, C, P, P) in [0, 1]
            y = torch.from_numpy(np.stack([c[1] for c in crops])).long()  # (B, P, P)
            if aug is not None:
                x, y = augment_batch(x, y, aug, generator)
            x = normalise(x, config.norm_mean, config.norm_std)
            yield x, (y.float()[:, None] if config.num_classes is None else y)

    return epoch_batches

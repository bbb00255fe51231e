"""Pretraining batches for the loop (views, noise, masks; all randomness from the loop's generator) and the validator.

What a batch of B images becomes, by method (inputs normalised with the training images' mean and std):

- ``simclr``: two SimCLR views of each image, ``(2B, C, S, S)``, first views then second views; no target.
- ``ae``: the image (randomly flipped), target the same image.
- ``dae``: the image plus Gaussian noise of standard deviation ``noise`` (in [0, 1] units), target the clean image.
- ``mae``: a fraction ``mask_ratio`` of the patches hidden; the U-Net sees them as zeros (the mean colour after
  normalisation, SimMIM's way), the ViT does not see them at all (MAE's way: its input is the image and the indices
  of the visible patches); the loss counts the hidden patches only.
- ``genesis``: the image distorted by Models Genesis's transforms (:mod:`pixelwise.data.genesis`), target the
  image.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from pixelwise.data.genesis import GenesisConfig, genesis_distort
from pixelwise.data.tensors import unit_tensor
from pixelwise.data.views import ViewConfig, crop_and_flip, mask_image, patch_mask, simclr_views
from pixelwise.tasks.pretrain.config import PretrainConfig
from pixelwise.tasks.segment.data import normalise

VALIDATION_SEED = 7919  # validation views, noise and masks are drawn from seed + this, the same every epoch


def view_config(config: PretrainConfig) -> ViewConfig:
    return ViewConfig(crop_scale=config.crop_scale, flips=config.flips, jitter=config.jitter, grey_p=config.grey_p,
                      blur_p=config.blur_p)


def _float(images: np.ndarray, idx) -> torch.Tensor:
    return unit_tensor(images[idx])  # (B, C, S, S) in [0, 1]


def make_batch(x: torch.Tensor, config: PretrainConfig, g: torch.Generator, augment: bool = True):
    """(input, target) of the pretext task for images ``x`` (B, C, S, S) in [0, 1] (see the module docstring)."""
    norm = lambda t: normalise(t, config.norm_mean, config.norm_std)  # noqa: E731
    if config.method == "simclr":
        views = view_config(config)
        return norm(torch.cat([simclr_views(x, views, g), simclr_views(x, views, g)])), torch.zeros(0)
    if augment and config.flips != "none":
        x = crop_and_flip(x, ViewConfig(crop_scale=(1.0, 1.0), flips=config.flips), g)
    clean = norm(x)
    if config.method == "ae":
        return clean, (clean, None)
    if config.method == "dae":
        return norm(x + config.noise * torch.randn(x.shape, generator=g)), (clean, None)
    if config.method == "genesis":
        return norm(genesis_distort(x, GenesisConfig(), g)), (clean, None)
    patch = config.patch_size if config.model == "vit" else config.mask_patch
    grid = (-(-x.shape[-2] // patch), -(-x.shape[-1] // patch))
    keep = patch_mask(len(x), grid, config.mask_ratio, g)
    hidden = mask_image(keep, grid, patch, x.shape[-2:])  # (B, 1, S, S): 1 where hidden
    inputs = (clean, keep) if config.model == "vit" else clean * (1 - hidden)
    return inputs, (clean, hidden)


def batches(images: np.ndarray, config: PretrainConfig) -> Callable:
    """``epoch_batches(epoch, generator)`` for :func:`pixelwise.train.fit`: shuffled, drop the ragged last batch."""
    n, bs = len(images), config.batch_size

    def epoch_batches(epoch: int, generator: torch.Generator):
        order = torch.randperm(n, generator=generator).numpy()
        for start in range(0, n - bs + 1 if n >= bs else 1, bs):
            yield make_batch(_float(images, np.sort(order[start:start + bs])), config, generator)

    return epoch_batches


def pretext_scores(model: nn.Module, loss_fn: nn.Module, images: np.ndarray, config: PretrainConfig) -> list[dict]:
    """Per-image scores of the pretext task on fixed draws (the generator seeded ``seed + VALIDATION_SEED``), in
    batches of ``batch_size``: ``loss`` (the batch's loss, for each of its images) and for SimCLR ``top1`` (1 if the
    nearest other view, by cosine similarity, is the image's own second view) and ``top1_chance`` (what a random
    pick scores: one over the 2B - 1 other views of its batch of B; 1 for a lone image, whose loss is 0 too), for
    autoencoders ``mse``."""
    g = torch.Generator().manual_seed(config.seed + VALIDATION_SEED)
    rows = []
    for start in range(0, len(images), config.batch_size):
        x = _float(images, slice(start, start + config.batch_size))
        if config.method == "simclr" and len(x) < 2:  # a lone image has no negatives: pair it with the previous
            x = _float(images, slice(max(start - 1, 0), start + 1))
        inputs, target = make_batch(x, config, g, augment=False)
        out = model(inputs)
        loss = loss_fn(out, target).item()
        if config.method == "simclr":
            chance = 1.0 / (len(out) - 1)  # one positive among the 2B - 1 other views
            scores = [{"loss": loss, "top1": float(v), "top1_chance": chance} for v in _top1(out)]
        else:
            clean, w = target
            err = (out - clean).pow(2).mean(1, keepdim=True)  # (B, 1, S, S)
            per = (err * w).flatten(1).sum(1) / w.flatten(1).sum(1) if w is not None else err.flatten(1).mean(1)
            scores = [{"loss": loss, "mse": float(v)} for v in per]
        rows.extend(scores[-min(len(scores), len(images) - start):])
    return rows


def _top1(z: torch.Tensor) -> torch.Tensor:
    """For the first views of (2N, D) projections: whether the most similar other view is the positive."""
    n = z.shape[0] // 2
    u = nn.functional.normalize(z, dim=1)
    sim = (u @ u.T).fill_diagonal_(-2.0)  # (2N, 2N), itself excluded
    return (sim[:n].argmax(1) == torch.arange(n, 2 * n)).float()


def validator(images: np.ndarray, config: PretrainConfig, loss_fn: nn.Module) -> Callable:
    """``validate(model) -> {"val_loss", and "val_top1" for SimCLR}`` over the validation images' fixed draws."""
    key = "top1" if config.method == "simclr" else None

    def validate(model: nn.Module) -> dict:
        rows = pretext_scores(model, loss_fn, images, config)
        out = {"val_loss": float(np.mean([r["loss"] for r in rows]))}
        if key:
            out["val_top1"] = float(np.mean([r[key] for r in rows]))
        return out

    return validate

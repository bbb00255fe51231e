"""DDPM data for the loop: the image set, its classes, the split, noised training batches and the validator.

Images are scaled from [0, 1] to [-1, 1] for the diffusion. Every random draw of a training batch (the order,
t, the noise, the hidden labels) comes from the loop's generator, which the checkpoints save, so that a run
and a resumed run draw the same batches.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from pixelwise.data.imagesets import ImageSet, load_image_set, split_indices
from pixelwise.diffusion import NoiseSchedule, drop_labels, min_snr_weights
from pixelwise.diffusion.ddpm import noised_batch
from pixelwise.errors import DataError
from pixelwise.tasks.diffuse.config import DiffusionConfig
from pixelwise.tasks.diffuse.models import epsilon_mse


def load_data(config: DiffusionConfig) -> ImageSet:
    """The run's images: the source named by ``config.data``, or its seeded subset of ``max_images``."""
    return load_image_set(config.data, config.size, config.cache_dir, max_images=config.max_images, seed=config.seed)


def class_count(data: ImageSet, config: DiffusionConfig) -> int:
    """The number of classes K of a conditional run (0 for an unconditional one); labels must be 0..K-1."""
    if not config.conditional:
        return 0
    if data.labels is None:
        raise DataError(f"{config.data} has no labels, and a class-conditional DDPM needs them: use an .npz with "
                        "'labels', mnist or digits, or a folder with one sub-folder per class; or train without "
                        "--conditional.")
    if data.labels.min() < 0:
        raise DataError(f"{config.data} has a negative label ({data.labels.min()}); labels must be 0..K-1.")
    return max(int(data.labels.max()) + 1, len(data.class_names or ()))


def make_split(data: ImageSet, config: DiffusionConfig, classes: int) -> dict:
    """The seeded train/val split of the images, with their shape and number of classes (so that a resumed run
    on other data is refused by :meth:`~pixelwise.train.runs.RunFolder.create`)."""
    if len(data) < 2:
        raise DataError(f"{config.data} holds {len(data)} image; a DDPM needs at least 2 (a training and a "
                        "validation image).")
    parts = split_indices(len(data), (config.split[0], config.split[1], 0.0), config.seed)
    return {"train": parts["train"], "val": parts["val"], "shape": list(data.shape), "classes": classes}


def scaled(images) -> torch.Tensor:
    """(N, C, H, W) float images in [0, 1] -> a float32 tensor in [-1, 1]."""
    return torch.as_tensor(images, dtype=torch.float32) * 2 - 1


def batches(images: torch.Tensor, schedule: NoiseSchedule, config: DiffusionConfig,
            labels: torch.Tensor | None = None) -> tuple[Callable, int]:
    """``(epoch_batches(epoch, generator), steps per epoch)`` for :func:`pixelwise.train.fit`.

    Each batch is ``((x_t, t), eps)``, or ``((x_t, t, y), eps)`` with ``labels`` (each hidden, i.e. replaced by
    the "no label" index K, with probability ``label_dropout``; Ho and Salimans 2022, Algorithm 1); with
    ``min_snr`` the target is ``(eps, Min-SNR weights)`` (Hang et al. 2023). A ragged last batch is dropped."""
    n, bs = len(images), min(config.batch_size, len(images))

    def epoch_batches(epoch: int, generator: torch.Generator):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - bs + 1, bs):
            chosen = order[start:start + bs]
            x_t, t, eps = noised_batch(schedule, images[chosen], generator)
            inputs = (x_t.float(), t)
            if labels is not None:
                inputs += (drop_labels(labels[chosen], config.label_dropout, config.classes, generator),)
            if config.min_snr is None:
                yield inputs, eps.float()
            else:
                yield inputs, (eps.float(), min_snr_weights(schedule, t, config.min_snr).float())

    return epoch_batches, max(1, n // bs)


def validator(images: torch.Tensor, schedule: NoiseSchedule, seed: int,
              labels: torch.Tensor | None = None) -> Callable[[nn.Module], dict]:
    """``validate(model) -> {"val_loss"}``: the plain epsilon MSE on the validation images, with the same t and
    noise every epoch (drawn from ``seed + 1``) and their true labels, when given."""

    def validate(model: nn.Module) -> dict:
        g = torch.Generator().manual_seed(seed + 1)
        total = 0.0
        for start in range(0, len(images), 256):
            x_t, t, eps = noised_batch(schedule, images[start:start + 256], g)
            inputs = (x_t.float(), t) if labels is None else (x_t.float(), t, labels[start:start + 256])
            total += epsilon_mse(model(inputs), eps.float()).item() * len(x_t)
        return {"val_loss": total / len(images)}

    return validate

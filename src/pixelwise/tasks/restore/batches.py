"""The batches of the three regimes for :func:`pixelwise.train.fit`, the validation cases and the validator.

Every batch function is ``epoch_batches(epoch, generator)`` and draws all its randomness (crops, flips, noise,
inpainting masks, r2r noise) from the loop's ``generator``, so that a run and its resumption are reproducible.
Inputs are ``(y, op)``: a measurement and its operator (see :class:`~pixelwise.tasks.restore.models.Restorer`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from pixelwise.metrics.image import psnr
from pixelwise.physics import LinearOperator
from pixelwise.physics.presets import build_operator
from pixelwise.tasks.restore.config import RestorationConfig
from pixelwise.tasks.restore.data import random_patches, sigmas, simulate

VALIDATION_SEED = 12345  # the noise of the validation measurements: config.seed + this


def simulate_batches(config: RestorationConfig, images: list[torch.Tensor], fixed_op: LinearOperator) -> Callable:
    """Regime ``simulate``: random crops x, fresh noise (and, for inpainting, a fresh mask) every batch:
    ``((A x + n, A), x)``, or ``((A x + n, A, sigma), x)`` with each crop's noise level for a noise-map network."""
    p = config.train_size

    def epoch_batches(epoch: int, generator: torch.Generator):
        for _ in range(config.steps_per_epoch):
            x = random_patches(images, config.batch_size, p, generator, config.augment)
            op = build_operator(config.measurement, (p, p), generator) if config.operator == "inpaint" else fixed_op
            levels = sigmas(config, len(x), generator)
            y = simulate(op, x, levels, generator)
            yield ((y, op, levels.to(y.dtype)) if config.noise_map else (y, op)), x

    return epoch_batches


def measurement_pool(config: RestorationConfig, images: list[torch.Tensor], op: LinearOperator) -> torch.Tensor:
    """Regime ``measurements``: one fixed pool of measured crops ``A x_i + n_i`` (a single noise draw each),
    simulated once; the clean crops are dropped."""
    generator = torch.Generator().manual_seed(config.seed + 99)
    x = random_patches(images, config.pool, config.train_size, generator, config.augment)
    return simulate(op, x, torch.full((len(x),), config.sigma / 255.0), generator)


def measurement_batches(config: RestorationConfig, pool: torch.Tensor, op: LinearOperator) -> Callable:
    """Batches drawn from the fixed pool; the target is the measurement itself, or with ``splitting="r2r"`` its
    recorrupted twin: inputs ``y + alpha sigma z``, targets ``y - sigma / alpha z`` with z ~ N(0, I) every batch,
    whose noises are independent (Pang, Zhou, Xu, Ji and Wu 2021, "Recorrupted-to-Recorrupted", CVPR)."""
    sigma, a = config.sigma / 255.0, config.r2r_alpha

    def epoch_batches(epoch: int, generator: torch.Generator):
        for _ in range(config.steps_per_epoch):
            y = pool[torch.randint(len(pool), (config.batch_size,), generator=generator)]
            if config.splitting == "r2r":
                z = torch.randn(y.shape, generator=generator)
                yield (y + a * sigma * z, op), (y - sigma / a * z, op)
            else:
                yield (y, op), (y, op)

    return epoch_batches


def pair_batches(config: RestorationConfig, pairs: list[tuple[torch.Tensor, torch.Tensor]], op: LinearOperator
                 ) -> Callable:
    """Regime ``pairs``: aligned random crops of (input, target) pairs; the input may be ``scale`` times smaller
    (super-resolution)."""
    p = config.patch

    def epoch_batches(epoch: int, generator: torch.Generator):
        for _ in range(config.steps_per_epoch):
            ins, outs = [], []
            for _ in range(config.batch_size):
                y, x = pairs[int(torch.randint(len(pairs), (), generator=generator))]
                r = x.shape[-1] // y.shape[-1]
                q = p // r
                top = int(torch.randint(y.shape[-2] - q + 1, (), generator=generator))
                left = int(torch.randint(y.shape[-1] - q + 1, (), generator=generator))
                ins.append(y[:, top:top + q, left:left + q])
                outs.append(x[:, top * r:top * r + p, left * r:left * r + p])
            yield (torch.stack(ins), op), torch.stack(outs)

    return epoch_batches


def validation_cases(config: RestorationConfig, images: list[torch.Tensor], fixed_op: LinearOperator) -> list:
    """``[((y, op), x)]``: each validation image (a centre crop of at most ``val_size``; MRI / CT whole) measured
    once with seeded noise."""
    g = torch.Generator().manual_seed(config.seed + VALIDATION_SEED)
    cases = []
    for img in images:
        if config.fixed_size:
            x, op = img[None], fixed_op
        else:
            s = min(config.val_size, *img.shape[-2:])
            s -= s % config.measurement.scale if config.operator == "downsample" else 0
            h, w = img.shape[-2:]
            x = img[None, :, (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
            op = build_operator(config.measurement, (s, s), g)
        cases.append(((simulate(op, x, torch.full((1,), config.sigma / 255.0), g), op), x))
    return cases


def validator(cases: list[tuple[tuple, torch.Tensor]], measured: bool) -> Callable:
    """``validate(model)``: mean PSNR (plain, range 1), the image loss and, where there is an operator
    (``measured``), the measurement-space loss ``mean ||A f(y) - y||^2``."""

    def validate(model: nn.Module) -> dict:
        ps, losses, meas = [], [], []
        for (y, op), x in cases:
            out = model((y, op))
            ps.append(psnr(out.clamp(0, 1), x, 1.0))
            losses.append(float(((out - x) ** 2).mean()))
            if measured:
                meas.append(float(((op.A(out) - y) ** 2).mean()))
        row = {"val_psnr": float(np.mean(ps)), "val_loss": float(np.mean(losses))}
        if meas:
            row["val_meas_loss"] = float(np.mean(meas))
        return row

    return validate

"""DP-SGD in the fit loop: Poisson-sampled batches, the private gradient as :func:`pixelwise.train.fit`'s
``backward``, the noise calibrated to a target epsilon, and the privacy spent, for ``metrics.json``.

The accountant (:mod:`pixelwise.privacy.accountant`) assumes that every step includes each training case
independently with probability q = batch_size / N (Poisson sampling, :func:`poisson_batches`), so the batches of a
private run vary in size around ``batch_size`` (an epoch is N / batch_size steps). The noise comes from torch's
global generator, which the checkpoints hold (runs resume bitwise); it is seeded by ``--seed``, so the noise is
reproducible: fine for measuring, but a deployment that must resist an adversary who knows the seed needs a
cryptographically secure generator (as Opacus's ``secure_mode``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.privacy.accountant import noise_for_epsilon
from pixelwise.privacy.dpsgd import check_per_example, private_gradient
from pixelwise.train.protection import PrivacyConfig

ACCOUNTANT = ("RDP of the Poisson-sampled Gaussian mechanism (Mironov et al. 2019), converted to (epsilon, delta) "
              "by Balle et al. 2020, Thm 21; checked against Opacus's RDPAccountant")


class DPSGD:
    """``backward(forward, loss_fn, x, y) -> loss`` for :func:`pixelwise.train.fit`: sets every parameter's
    ``.grad`` to the DP-SGD gradient of the batch (:func:`pixelwise.privacy.dpsgd.private_gradient`) and returns
    the batch's mean loss (0 for an empty batch, which still takes a noisy step)."""

    def __init__(self, model: nn.Module, clip: float, noise: float, expected_batch: float):
        try:
            check_per_example(model)
        except ValueError as err:
            raise PixelwiseError(f"{err} (e.g. --norm group)") from None
        self.model, self.clip, self.noise, self.expected = model, clip, noise, expected_batch

    def __call__(self, forward: Callable, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        grads, losses = private_gradient(self.model, loss_fn, x, y, self.clip, self.noise, self.expected)
        for name, p in self.model.named_parameters():
            if name in grads:
                p.grad = grads[name].to(p.dtype)
        return losses.mean() if len(losses) else torch.zeros(())


def poisson_batches(n: int, rate: float, steps: int) -> Callable:
    """``sampler(epoch, generator)``: ``steps`` index arrays, each holding every index of range(n) independently
    with probability ``rate`` (Poisson sampling: the sampling the accountant assumes)."""

    def sampler(epoch: int, generator: torch.Generator):
        for _ in range(steps):
            yield torch.nonzero(torch.rand(n, generator=generator) < rate).flatten().numpy()

    return sampler


def shuffled_batches(n: int, batch_size: int) -> Callable:
    """``sampler(epoch, generator)``: a random permutation of range(n) cut into batches of ``batch_size`` (a ragged
    last batch dropped, for batch normalisation; all n in one batch when n < batch_size)."""

    def sampler(epoch: int, generator: torch.Generator):
        order = torch.randperm(n, generator=generator).numpy()
        for start in range(0, n - batch_size + 1 if n >= batch_size else 1, batch_size):
            yield np.sort(order[start:start + batch_size])

    return sampler


def private_schedule(n: int, batch_size: int) -> tuple[float, int]:
    """``(sampling rate q, steps per epoch)`` of DP-SGD on ``n`` cases with expected batch ``batch_size``."""
    rate = min(1.0, batch_size / n)
    return rate, max(1, round(1 / rate))


def settle_noise(settings: PrivacyConfig, n: int, batch_size: int, steps: int) -> float:
    """The noise multiplier of a run: ``dp_noise``, or the one that reaches ``dp_epsilon`` in ``steps`` steps at
    rate q = batch_size / n; refuses a delta of 1 / n or more (it would allow releasing a whole case)."""
    if settings.dp_delta >= 1 / n:
        raise PixelwiseError(f"dp_delta={settings.dp_delta:g} is not below 1 / {n} training cases; use a smaller "
                             f"--dp-delta, e.g. {10 ** math.floor(math.log10(0.1 / n)):g}.")
    if settings.dp_noise is not None:
        return float(settings.dp_noise)
    rate, _ = private_schedule(n, batch_size)
    return noise_for_epsilon(settings.dp_epsilon, rate, steps, settings.dp_delta)

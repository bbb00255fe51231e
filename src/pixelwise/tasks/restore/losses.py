"""The training losses of a restoration run, as modules whose whole state is in their ``state_dict``.

:func:`pixelwise.train.fit` checkpoints a loss module's state dict and restores it on ``resume``; so the
adversarial term (:class:`~pixelwise.losses.restoration.AdversarialLoss`) keeps its discriminator, the
discriminator's Adam moments and its step counter as parameters and buffers, and an interrupted run resumes
bitwise.
"""

from __future__ import annotations

import torch
from torch import nn

from pixelwise.losses.restoration import AdversarialLoss, RestorationLoss
from pixelwise.models.discriminator import PatchDiscriminator


class ImageLoss(nn.Module):
    """``fidelity(p, t) + tv_weight TV(p)`` (:class:`~pixelwise.losses.restoration.RestorationLoss`), plus
    ``adversarial_weight L_G`` when there is an :class:`AdversarialLoss`."""

    def __init__(self, fidelity: RestorationLoss, adversarial: AdversarialLoss | None = None, weight: float = 0.0):
        super().__init__()
        self.fidelity, self.adversarial, self.weight = fidelity, adversarial, float(weight)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = self.fidelity(prediction, target)
        if self.adversarial is not None:
            loss = loss + self.weight * self.adversarial(prediction, target)
        return loss


class MeasurementLoss(nn.Module):
    """``fidelity(A f(y), t) + tv_weight TV(f(y))`` with the target ``(t, A)``: a measurement (or its r2r twin)
    and its operator; the clean image is never seen."""

    def __init__(self, fidelity: RestorationLoss):
        super().__init__()
        self.fidelity = fidelity

    def forward(self, prediction: torch.Tensor, target: tuple) -> torch.Tensor:
        t, op = target
        return self.fidelity(prediction, t, operator=op)


def loss_for(config) -> nn.Module:
    """The loss of a run: in the image space, or through the operator in the measurements regime. The
    discriminator draws its initial weights from the global generator (seeded by the caller)."""
    fidelity = RestorationLoss(config.loss, config.tv_weight, config.huber_delta)
    if config.regime == "measurements":
        return MeasurementLoss(fidelity)
    if config.adversarial_weight == 0:
        return ImageLoss(fidelity)
    return ImageLoss(fidelity, AdversarialLoss(PatchDiscriminator(config.channels)), config.adversarial_weight)

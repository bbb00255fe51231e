"""Adversarial training as :func:`pixelwise.train.fit`'s ``backward``: each batch's loss is
(1 - w) L(f(x), y) + w L(f(x_adv), y), x_adv an FGSM or PGD example of the current network (Goodfellow et al.
2015 mix clean and adversarial terms with w = 0.5; Madry et al. 2018 train on PGD examples alone, w = 1).

The attack works in [0, 1] pixel units: the batch (normalised by the recipe, (x - mean) / std) is mapped back to
pixels, perturbed within epsilon and the [0, 1] range, and normalised again. The examples are made with the
network in eval mode (batch statistics untouched by the attack's passes, as torchattacks does by default); the
two loss terms are then computed in training mode. PGD's random start draws from torch's global generator,
which the checkpoints hold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from pixelwise.attacks import fgsm, pgd
from pixelwise.train.protection import AdversarialConfig


class AdversarialTraining:
    """``backward(forward, loss_fn, x, y) -> loss`` (see the module docstring)."""

    def __init__(self, model: nn.Module, settings: AdversarialConfig, mean: Sequence[float] = (0.0,),
                 std: Sequence[float] = (1.0,)):
        self.model, self.settings = model, settings
        self.mean = torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1)

    def _normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels - self.mean) / self.std

    def example(self, x: torch.Tensor, y, loss_fn: Callable) -> torch.Tensor:
        """The adversarial counterpart of the normalised batch ``x`` (normalised too)."""
        s, was_training = self.settings, self.model.training
        pixels = (x * self.std + self.mean).clamp(0, 1)
        self.model.eval()
        try:
            def forward(z):
                return self.model(self._normalise(z))
            if s.adversarial == "fgsm":
                adv = fgsm(forward, loss_fn, pixels, y, s.epsilon)
            else:
                adv = pgd(forward, loss_fn, pixels, y, s.epsilon, s.adv_steps, s.adv_step_size, random_start=True)
        finally:
            self.model.train(was_training)
        return self._normalise(adv).contiguous(memory_format=torch.channels_last) if x.dim() == 4 else \
            self._normalise(adv)

    def __call__(self, forward: Callable, loss_fn: Callable, x: torch.Tensor, y) -> torch.Tensor:
        adv = self.example(x, y, loss_fn)
        w = self.settings.adv_weight
        loss = w * loss_fn(forward(adv), y)
        if w < 1:
            loss = loss + (1 - w) * loss_fn(forward(x), y)
        loss.backward()
        return loss

"""Restoration losses ``loss(prediction, target) -> scalar`` (means over every entry), and a TV penalty.

- :func:`l2_loss`: ``mean((p - t)^2)``, the Gaussian log-likelihood (DnCNN, SRCNN, VDSR train with it).
- :func:`l1_loss`: ``mean(|p - t|)``, the Laplacian one; sharper edges in SR (Lim et al. 2017, EDSR).
- :func:`huber_loss`: ``mean(h_delta(p - t))`` with ``h(r) = r^2 / (2 delta)`` for ``|r| <= delta`` and
  ``|r| - delta / 2`` beyond (quadratic near 0, linear in the tails; scaled so the slope is 1 like L1).
- :class:`AdversarialLoss`: the non-saturating GAN term ``BCE(D(p), 1)`` with a patch discriminator ``D``
  trained alongside (SRGAN, Ledig et al. 2017).
- :func:`tv_penalty`: anisotropic total variation ``mean(|x[i+1, j] - x[i, j]|) + mean(|x[i, j+1] - x[i, j]|)``
  of a prediction, a penalty added with a weight (``RestorationLoss``).

Targets may be measurements (the measurement-only regime compares ``A f(y)`` with ``y``), so shapes are
only required to match; MRI k-space ``(N, C, H, W, 2)`` is fine.
"""

from __future__ import annotations

import torch
from torch import nn

from pixelwise.errors import PixelwiseError


def _same(p: torch.Tensor, t: torch.Tensor) -> None:
    if p.shape != t.shape:
        raise PixelwiseError(f"prediction {tuple(p.shape)} and target {tuple(t.shape)} differ in shape.")


def l2_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean((p - t)^2)``."""
    _same(prediction, target)
    return ((prediction - target) ** 2).mean()


def l1_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean(|p - t|)``."""
    _same(prediction, target)
    return (prediction - target).abs().mean()


def huber_loss(prediction: torch.Tensor, target: torch.Tensor, delta: float = 0.01) -> torch.Tensor:
    """``mean(h)``, ``h(r) = r^2 / (2 delta)`` if ``|r| <= delta`` else ``|r| - delta / 2``."""
    _same(prediction, target)
    if not delta > 0:
        raise PixelwiseError(f"Huber delta {delta} must be > 0 (e.g. 0.01 for images in [0, 1]).")
    r = (prediction - target).abs()
    return torch.where(r <= delta, r * r / (2 * delta), r - delta / 2).mean()


def tv_penalty(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic TV of ``(N, C, H, W)``: mean absolute row differences + mean absolute column differences."""
    if x.dim() != 4:
        raise PixelwiseError(f"tv_penalty needs (N, C, H, W), got {tuple(x.shape)}.")
    rows = (x[..., 1:, :] - x[..., :-1, :]).abs().mean() if x.shape[-2] > 1 else x.new_zeros(())
    cols = (x[..., :, 1:] - x[..., :, :-1]).abs().mean() if x.shape[-1] > 1 else x.new_zeros(())
    return rows + cols


LOSSES = {"l2": l2_loss, "l1": l1_loss, "huber": huber_loss}


class RestorationLoss(nn.Module):
    """``fidelity(p, t) + tv_weight * TV(p)``; with ``operator`` the fidelity compares ``A(p)`` with ``t``.

    ``kind``: "l2", "l1" or "huber" (with ``delta``). ``operator``: any object with ``A`` (the
    measurement-only regime, ``||A f(y) - y||``); the TV term always acts on the image ``p``.
    """

    def __init__(self, kind: str = "l2", tv_weight: float = 0.0, delta: float = 0.01, operator=None):
        super().__init__()
        if kind not in LOSSES:
            raise PixelwiseError(f"unknown loss {kind!r}; choose one of {', '.join(LOSSES)}.")
        if not tv_weight >= 0:
            raise PixelwiseError(f"tv_weight {tv_weight} must be >= 0.")
        if not delta > 0:
            raise PixelwiseError(f"Huber delta {delta} must be > 0.")
        self.kind, self.tv_weight, self.delta, self.operator = kind, float(tv_weight), float(delta), operator

    def forward(self, prediction: torch.Tensor, target: torch.Tensor, operator=None) -> torch.Tensor:
        """``operator`` (or the one given at construction) maps the prediction to the measurement first."""
        op = operator if operator is not None else self.operator
        p = op.A(prediction) if op is not None else prediction
        fidelity = huber_loss(p, target, self.delta) if self.kind == "huber" else LOSSES[self.kind](p, target)
        if self.tv_weight > 0:
            fidelity = fidelity + self.tv_weight * tv_penalty(prediction)
        return fidelity


class AdversarialLoss(nn.Module):
    """The generator's adversarial term with its own discriminator, trained inside the call.

    Each call first takes one Adam step on the discriminator,
    ``L_D = BCE(D(t), 1) + BCE(D(p.detach()), 0)`` (real targets against the current predictions), then
    returns the generator term ``L_G = BCE(D(p), 1)`` (the non-saturating loss of Goodfellow et al. 2014).
    This is the usual alternating GAN update folded into the loss so that the plain training loop needs
    no change. The discriminator's weights are not part of the model's checkpoint (a resumed run starts a
    fresh discriminator).
    """

    def __init__(self, discriminator: nn.Module, lr: float = 1e-4):
        super().__init__()
        if not lr > 0:
            raise PixelwiseError(f"discriminator lr {lr} must be > 0.")
        self.discriminator = discriminator
        self.optimizer = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
        self.last_discriminator_loss = float("nan")

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _same(prediction, target)
        bce = nn.functional.binary_cross_entropy_with_logits
        if self.training:
            with torch.enable_grad():
                real, fake = self.discriminator(target), self.discriminator(prediction.detach())
                loss_d = bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))
                self.optimizer.zero_grad(set_to_none=True)
                loss_d.backward()
                self.optimizer.step()
            self.last_discriminator_loss = loss_d.item()
        for p in self.discriminator.parameters():  # the generator's gradient must not touch D
            p.requires_grad_(False)
        try:
            logits = self.discriminator(prediction)
        finally:
            for p in self.discriminator.parameters():
                p.requires_grad_(True)
        return bce(logits, torch.ones_like(logits))

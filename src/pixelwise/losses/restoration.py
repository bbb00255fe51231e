"""Restoration losses ``loss(prediction, target) -> scalar`` (means over every entry), and a TV penalty.

- :func:`l2_loss`: ``mean((p - t)^2)``, the Gaussian log-likelihood (DnCNN, SRCNN, VDSR train with it).
- :func:`l1_loss`: ``mean(|p - t|)``, the Laplacian one; sharper edges in SR (Lim et al. 2017, EDSR).
- :func:`huber_loss`: ``mean(h_delta(p - t))`` with ``h(r) = r^2 / (2 delta)`` for ``|r| <= delta`` and
  ``|r| - delta / 2`` beyond (quadratic near 0, linear in the tails; scaled so the slope is 1 like L1).
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

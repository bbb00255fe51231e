"""Losses of the pretext tasks of self-supervised pretraining, as the loop calls them: ``loss(output, target)``."""

from __future__ import annotations

import torch
from torch import nn

from pixelwise.losses.contrastive import nt_xent


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """MSE over the pixels a weight map selects: sum(w (x_hat - x)^2) / (C sum(w)), ``w`` (N, 1, H, W) broadcast over
    the C channels; None: every pixel (the plain MSE). The masked autoencoder's loss with w = 1 on the hidden
    patches (He et al. 2022 score the hidden patches only)."""
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape.")
    err = (prediction - target).pow(2)
    if weight is None:
        return err.mean()
    return (err * weight).sum() / (weight.sum() * prediction.shape[1]).clamp(min=1e-12)


class ReconstructionLoss(nn.Module):
    """``loss(x_hat, (x, w)) = masked_mse(x_hat, x, w)``: the target is the clean image and its weights."""

    def forward(self, prediction: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor | None]) -> torch.Tensor:
        return masked_mse(prediction, *target)


class NTXentLoss(nn.Module):
    """``loss(z, _) = nt_xent(z[:N], z[N:], tau)`` for the projections z (2N, D) of a batch of N images' two views,
    first views then second views (:func:`pixelwise.losses.contrastive.nt_xent`); the target is not used."""

    def __init__(self, temperature: float = 0.5):
        super().__init__()
        self.temperature = temperature

    def forward(self, z: torch.Tensor, target=None) -> torch.Tensor:
        n = z.shape[0] // 2
        if z.shape[0] != 2 * n or n < 1:
            raise ValueError(f"NT-Xent needs the two views of each image, an even batch of 2N rows; got {z.shape[0]}.")
        return nt_xent(z[:n], z[n:], self.temperature)

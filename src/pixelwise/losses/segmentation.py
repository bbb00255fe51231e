"""Segmentation losses, computed from logits for numerical stability.

Binary: logits (N, 1, H, W) or (N, H, W), target of the same number of elements in {0, 1}.
Multi-class: logits (N, K, H, W), target (N, H, W) integer labels 0..K-1.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _flat_binary(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if logits.dim() == 4 and logits.shape[1] == 1:
        logits = logits[:, 0]  # (N, H, W)
    if target.dim() == 4 and target.shape[1] == 1:
        target = target[:, 0]  # (N, H, W)
    if logits.shape != target.shape:
        raise ValueError(f"binary logits {tuple(logits.shape)} and target {tuple(target.shape)} differ in shape.")
    return logits.reshape(logits.shape[0], -1), target.reshape(target.shape[0], -1).to(logits.dtype)


def bce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE(y, p) = -(1/N) sum(y log p + (1 - y) log(1 - p)), p = sigmoid(logits), mean over all pixels.

    Computed as max(z, 0) - z y + log(1 + exp(-|z|)) (logits z), which never takes the log of 0.
    """
    z, y = _flat_binary(logits, target)
    return F.binary_cross_entropy_with_logits(z, y)


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """DiceLoss(y, p) = 1 - 2 sum(y p) / (sum(y + p) + eps) per image, then averaged over the batch.

    p = sigmoid(logits); eps > 0 keeps an image with an empty truth and prediction finite (its loss is 1
    and its gradient 0, so the BCE term decides such images).
    """
    if eps <= 0:
        raise ValueError(f"dice eps={eps} must be > 0.")
    z, y = _flat_binary(logits, target)
    p = torch.sigmoid(z)
    dice = 2 * (y * p).sum(1) / ((y + p).sum(1) + eps)
    return (1 - dice).mean()


class BCEDiceLoss(nn.Module):
    """BCE + lambda_dice * DiceLoss, lambda_dice >= 0 (0 gives plain BCE)."""

    def __init__(self, lambda_dice: float = 1.0, eps: float = 1e-6):
        super().__init__()
        if not lambda_dice >= 0:  # also rejects NaN
            raise ValueError(f"lambda_dice={lambda_dice} must be >= 0 (0 turns the Dice term off).")
        self.lambda_dice, self.eps = float(lambda_dice), eps

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = bce_loss(logits, target)
        if self.lambda_dice > 0:
            loss = loss + self.lambda_dice * dice_loss(logits, target, self.eps)
        return loss


def cross_entropy_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CE = -(1/N) sum_i log softmax(z_i)[y_i] over all pixels i (N pixels in the batch)."""
    return F.cross_entropy(logits, target.long())


def multiclass_dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Soft multi-class Dice: 1 - mean over images and classes k of 2 sum(y_k p_k) / (sum(y_k + p_k) + eps),

    p = softmax(logits) over the class axis, y_k the one-hot truth of class k.
    """
    if eps <= 0:
        raise ValueError(f"dice eps={eps} must be > 0.")
    k = logits.shape[1]
    p = torch.softmax(logits, dim=1).flatten(2)  # (N, K, HW)
    y = F.one_hot(target.long(), k).permute(0, 3, 1, 2).flatten(2).to(p.dtype)  # (N, K, HW)
    dice = 2 * (y * p).sum(-1) / ((y + p).sum(-1) + eps)  # (N, K)
    return 1 - dice.mean()


class CEDiceLoss(nn.Module):
    """Cross-entropy + lambda_dice * soft multi-class Dice."""

    def __init__(self, lambda_dice: float = 1.0, eps: float = 1e-6):
        super().__init__()
        if not lambda_dice >= 0:
            raise ValueError(f"lambda_dice={lambda_dice} must be >= 0 (0 turns the Dice term off).")
        self.lambda_dice, self.eps = float(lambda_dice), eps

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = cross_entropy_loss(logits, target)
        if self.lambda_dice > 0:
            loss = loss + self.lambda_dice * multiclass_dice_loss(logits, target, self.eps)
        return loss

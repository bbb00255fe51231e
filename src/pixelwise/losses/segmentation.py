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
    """BCE + lambda_dice * DiceLoss, lambda_dice >= 0 (0 gives plain BCE). With ``generalised`` the Dice term is
    the generalised Dice loss of the two classes background and foreground (:func:`binary_generalised_dice_loss`)."""

    def __init__(self, lambda_dice: float = 1.0, eps: float = 1e-6, generalised: bool = False):
        super().__init__()
        if not lambda_dice >= 0:  # also rejects NaN
            raise ValueError(f"lambda_dice={lambda_dice} must be >= 0 (0 turns the Dice term off).")
        self.lambda_dice, self.eps = float(lambda_dice), eps
        self.dice = binary_generalised_dice_loss if generalised else dice_loss

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = bce_loss(logits, target)
        if self.lambda_dice > 0:
            loss = loss + self.lambda_dice * self.dice(logits, target, self.eps)
        return loss


def binary_generalised_dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """:func:`generalised_dice_loss` of a binary logit z as two classes: logits (0, z), whose softmax is
    (1 - sigmoid(z), sigmoid(z)), against labels 0 / 1."""
    z, y = _flat_binary(logits, target)
    two = torch.stack([torch.zeros_like(z), z], dim=1)  # (N, 2, HW)
    return generalised_dice_loss(two, y.round().long(), eps)


def cross_entropy_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None = None) -> torch.Tensor:
    """CE = -(1/N) sum_i log softmax(z_i)[y_i] over the N pixels of the batch whose label is not ``ignore_index``
    (0 with a zero gradient when every pixel is ignored)."""
    target = target.long()
    if ignore_index is None:
        return F.cross_entropy(logits, target)
    if not (target != ignore_index).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, target, ignore_index=ignore_index)


def _soft_and_one_hot(logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """p = softmax(logits) and the one-hot truth y, both (N, K, HW), zero at pixels labelled ``ignore_index``."""
    k = logits.shape[1]
    p = torch.softmax(logits, dim=1).flatten(2)  # (N, K, HW)
    target = target.long().flatten(1)  # (N, HW)
    valid = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    if ((target < 0) | (target >= k))[valid].any():
        raise ValueError(f"target labels must lie in 0..{k - 1}"
                         f"{'' if ignore_index is None else f' (or be ignore_index={ignore_index})'}.")
    y = F.one_hot(torch.where(valid, target, 0), k).permute(0, 2, 1).to(p.dtype)  # (N, K, HW)
    keep = valid[:, None].to(p.dtype)
    return p * keep, y * keep


def multiclass_dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1e-6,
                         ignore_index: int | None = None) -> torch.Tensor:
    """Soft multi-class Dice: 1 - mean over images and classes k of 2 sum(y_k p_k) / (sum(y_k + p_k) + eps),

    p = softmax(logits) over the class axis, y_k the one-hot truth of class k; pixels labelled
    ``ignore_index`` are left out of both sums.
    """
    if eps <= 0:
        raise ValueError(f"dice eps={eps} must be > 0.")
    p, y = _soft_and_one_hot(logits, target, ignore_index)
    dice = 2 * (y * p).sum(-1) / ((y + p).sum(-1) + eps)  # (N, K)
    return 1 - dice.mean()


def generalised_dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1e-6,
                          ignore_index: int | None = None) -> torch.Tensor:
    """Generalised Dice loss (Sudre, Li, Vercauteren, Ourselin and Cardoso 2017, DLMIA), per image, averaged:

        GDL = 1 - 2 sum_k w_k sum_i y_ki p_ki / (sum_k w_k sum_i (y_ki + p_ki) + eps),  w_k = 1 / (sum_i y_ki)^2,

    so that each class weighs in inversely to the square of its true area: a small structure counts as much as
    the background. A class absent from an image's truth (w_k infinite) gets that image's largest finite weight,
    so predicting it is still penalised (MONAI's rule); pixels labelled ``ignore_index`` are left out.
    """
    if eps <= 0:
        raise ValueError(f"dice eps={eps} must be > 0.")
    p, y = _soft_and_one_hot(logits, target, ignore_index)
    area = y.sum(-1)  # (N, K)
    w = torch.where(area > 0, 1.0 / area.clamp(min=1).pow(2), torch.zeros_like(area))
    w = torch.where(area > 0, w, w.max(dim=1, keepdim=True).values)
    inter = (w * (y * p).sum(-1)).sum(1)
    total = (w * (y + p).sum(-1)).sum(1)
    return (1 - 2 * inter / (total + eps)).mean()


class CEDiceLoss(nn.Module):
    """Cross-entropy + lambda_dice * soft multi-class Dice (or the generalised Dice loss with ``generalised``);
    pixels labelled ``ignore_index`` count in neither term."""

    def __init__(self, lambda_dice: float = 1.0, eps: float = 1e-6, ignore_index: int | None = None,
                 generalised: bool = False):
        super().__init__()
        if not lambda_dice >= 0:
            raise ValueError(f"lambda_dice={lambda_dice} must be >= 0 (0 turns the Dice term off).")
        self.lambda_dice, self.eps, self.ignore_index = float(lambda_dice), eps, ignore_index
        self.dice = generalised_dice_loss if generalised else multiclass_dice_loss

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = cross_entropy_loss(logits, target, self.ignore_index)
        if self.lambda_dice > 0:
            loss = loss + self.lambda_dice * self.dice(logits, target, self.eps, self.ignore_index)
        return loss

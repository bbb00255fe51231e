"""Losses: functions ``loss(prediction, target) -> scalar`` with the formula in the docstring."""

from pixelwise.losses.restoration import RestorationLoss, huber_loss, l1_loss, l2_loss, tv_penalty
from pixelwise.losses.segmentation import (
    BCEDiceLoss,
    CEDiceLoss,
    bce_loss,
    cross_entropy_loss,
    dice_loss,
    generalised_dice_loss,
    multiclass_dice_loss,
)

__all__ = ["BCEDiceLoss", "CEDiceLoss", "RestorationLoss", "bce_loss", "cross_entropy_loss", "dice_loss",
           "generalised_dice_loss", "huber_loss", "l1_loss", "l2_loss", "multiclass_dice_loss", "tv_penalty"]

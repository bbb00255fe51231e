"""Losses: functions ``loss(prediction, target) -> scalar`` with the formula in the docstring."""

from pixelwise.losses.segmentation import (
    BCEDiceLoss,
    CEDiceLoss,
    bce_loss,
    cross_entropy_loss,
    dice_loss,
    multiclass_dice_loss,
)

__all__ = ["BCEDiceLoss", "CEDiceLoss", "bce_loss", "cross_entropy_loss", "dice_loss", "multiclass_dice_loss"]

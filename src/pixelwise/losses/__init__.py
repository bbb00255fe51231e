"""Losses: functions ``loss(prediction, target) -> scalar`` with the formula in the docstring."""

from pixelwise.losses.contrastive import info_nce, nt_xent, triplet_loss
from pixelwise.losses.pretext import NTXentLoss, ReconstructionLoss, masked_mse
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

__all__ = ["BCEDiceLoss", "CEDiceLoss", "NTXentLoss", "ReconstructionLoss", "RestorationLoss", "bce_loss",
           "cross_entropy_loss", "dice_loss", "generalised_dice_loss", "huber_loss", "info_nce", "l1_loss", "l2_loss",
           "masked_mse", "multiclass_dice_loss", "nt_xent", "triplet_loss", "tv_penalty"]

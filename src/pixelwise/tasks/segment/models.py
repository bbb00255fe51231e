"""The segmentation models by name (one explicit table), the valid-padding wrapper and the losses."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from pixelwise.errors import PixelwiseError
from pixelwise.losses import BCEDiceLoss, CEDiceLoss
from pixelwise.models import FCN, SegmentViT, UNet, valid_input_for_output
from pixelwise.tasks.segment.config import CUSTOM, SegmentationConfig


class ValidPadded(nn.Module):
    """Reflect-pad the input so that a valid-padding U-Net's output covers it, then crop to the input size.

    For an H x W input the net sees I_H x I_W with I the smallest valid size whose output O >= the side; the
    output of a valid U-Net is centred on its input with an offset c = (I - O) / 2, the same for every valid
    size of a depth (184 / 2 for depth 4), so the input is padded by c on the top/left (and I - side - c on the
    bottom/right) and output pixel j lines up with input pixel j. ``size``: the training size.
    """

    def __init__(self, net: UNet, size: int):
        super().__init__()
        self.net = net
        self.size = size
        self.input_size, self.output_size = valid_input_for_output(size, net.depth)
        self.offset = (self.input_size - self.output_size) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, K, H, W), any H and W."""
        h, w = x.shape[-2:]
        c = self.offset
        ih, iw = (self.input_size if s == self.size else valid_input_for_output(s, self.net.depth)[0] for s in (h, w))
        pad = (c, iw - w - c, c, ih - h - c)
        mode = "reflect" if max(pad) < min(h, w) else "replicate"
        y = self.net(F.pad(x, pad, mode=mode))
        return y[..., :h, :w]


def _unet(c: SegmentationConfig) -> nn.Module:
    net = UNet(c.channels, c.out_channels, c.depth, c.base_channels, c.padding, c.norm, c.up)
    return ValidPadded(net, c.size) if c.padding == "valid" else net


def _vit(c: SegmentationConfig) -> nn.Module:
    return SegmentViT(c.channels, c.out_channels, c.size, c.patch_size, c.dim, c.vit_depth, c.heads)


def _fcn(c: SegmentationConfig) -> nn.Module:
    return FCN(c.channels, c.out_channels, c.base_channels, min(c.depth, 4), c.dilations, norm=c.norm)


# name -> builder(config); the one table of the models a segmentation run can be given by name
MODELS: dict[str, Callable[[SegmentationConfig], nn.Module]] = {"unet": _unet, "vit": _vit, "fcn": _fcn}


def build_model(config: SegmentationConfig) -> nn.Module:
    """The model named by ``config.model``, with random weights (seeded by the caller)."""
    if config.model == CUSTOM:
        raise PixelwiseError("this run trained a model given from Python (run(config, model=...)); pass the same "
                             "kind of model as model= to evaluate() or predict().")
    try:
        builder = MODELS[config.model]
    except KeyError:
        raise PixelwiseError(f"model {config.model!r} is not known; use one of {', '.join(MODELS)}.") from None
    try:
        return builder(config)
    except ValueError as err:  # a hyperparameter the model rejects
        raise PixelwiseError(str(err)) from None


def loss_for(config: SegmentationConfig) -> nn.Module:
    """BCE + lambda Dice for binary masks, cross-entropy + lambda Dice for label masks (the soft or the
    generalised Dice, ``config.dice_loss``; label ``config.ignore_index`` left out)."""
    generalised = config.dice_loss == "generalised"
    if config.num_classes is None:
        return BCEDiceLoss(config.lambda_dice, generalised=generalised)
    return CEDiceLoss(config.lambda_dice, ignore_index=config.ignore_index, generalised=generalised)

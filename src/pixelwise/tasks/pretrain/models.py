"""The pretraining networks by method (one explicit table), built around the encoder of the segmentation model."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from pixelwise.losses import NTXentLoss, ReconstructionLoss
from pixelwise.models import (
    ContrastiveNet,
    ConvReconstructionNet,
    RestorationUNet,
    SegmentViT,
    UNet,
    ViTReconstructionNet,
    encoder_of,
)
from pixelwise.tasks.pretrain.config import PretrainConfig


def build_encoder(config: PretrainConfig) -> nn.Module:
    """The encoder view of the segmentation model these settings describe (random weights, seeded by the caller):
    the U-Net's contracting path or the ViT's transformer, under the segmentation model's parameter names."""
    if config.model == "vit":
        net = SegmentViT(config.channels, 1, config.size, config.patch_size, config.dim, config.vit_depth, config.heads)
    else:
        net = UNet(config.channels, 1, config.depth, config.base_channels, "same", config.norm)
    return encoder_of(net)


def _contrastive(c: PretrainConfig) -> nn.Module:
    encoder = build_encoder(c)
    return ContrastiveNet(encoder, hidden=encoder.out_channels, out_dim=c.projection_dim)  # SimCLR: hidden = width


def _reconstruction(c: PretrainConfig) -> nn.Module:
    if c.model == "vit":
        return ViTReconstructionNet(build_encoder(c), c.channels, decoder_dim=c.decoder_dim, heads=2)
    return ConvReconstructionNet(build_encoder(c), c.channels, c.norm)


def _whole_unet(c: PretrainConfig) -> nn.Module:
    return RestorationUNet(UNet(c.channels, c.channels, c.depth, c.base_channels, "same", c.norm))


# method -> builder(config); the one table of what each pretext task trains
METHODS: dict[str, Callable[[PretrainConfig], nn.Module]] = {
    "simclr": _contrastive, "ae": _reconstruction, "dae": _reconstruction, "mae": _reconstruction,
    "genesis": _whole_unet,
}


def build_model(config: PretrainConfig) -> nn.Module:
    """The network ``config.method`` trains; its ``encoder`` is what a segmentation run can start from."""
    return METHODS[config.method](config)


def loss_for(config: PretrainConfig) -> nn.Module:
    """NT-Xent for SimCLR; the (masked) MSE against the clean image for the autoencoders."""
    return NTXentLoss(config.temperature) if config.method == "simclr" else ReconstructionLoss()

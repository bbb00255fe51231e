"""Encoder views of the segmentation models: the contracting path of a :class:`~pixelwise.models.unet.UNet` and the
patch embedding and transformer of a :class:`~pixelwise.models.vit.SegmentViT`, as modules of their own.

A view *shares* its model's modules (no copy): training the view trains the model, and loading a state dict into
the view loads the model's encoder. Its parameter names are the model's own (``inc.0.weight``, ``down.1.0.weight``;
``embed.weight``, ``pos``, ``encoder.layers.0...``, ``norm.weight``), so the encoder weights of a pretraining run
load into a segmentation model of the same sizes and the reverse, by name, with no renaming table.

Shapes: ``view(x: (N, C, H, W)) -> (N, D, h, w)``, the encoder's deepest feature map (U-Net: D = base * 2^depth,
h = ceil(H / 2^depth); ViT: D = dim, h = ceil(H / patch)); ``view.features(x) -> (N, D)`` is its global average.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from pixelwise.models.unet import UNet
from pixelwise.models.vit import SegmentViT


class UNetEncoder(nn.Module):
    """The contracting path of a U-Net (``inc`` and the ``down`` blocks with their 2x2 max pooling)."""

    def __init__(self, unet: UNet):
        super().__init__()
        self.inc, self.down = unet.inc, unet.down  # shared with the U-Net, registered under its names
        self.depth, self.padding = unet.depth, unet.padding
        self.out_channels = unet.head.in_channels * 2**unet.depth  # channels of the deepest level
        self.reduction = 2**unet.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, base * 2^depth, ceil(H / 2^depth), ceil(W / 2^depth)) with same padding (the input is
        zero-padded as the U-Net pads it: centred, to a multiple of 2^depth)."""
        if self.padding == "same":
            h, w = x.shape[-2:]
            ph, pw = (-h) % self.reduction, (-w) % self.reduction
            if ph or pw:
                x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        f = self.inc(x)
        for block in self.down:
            f = block(F.max_pool2d(f, 2))
        return f

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, D): the deepest feature map averaged over space."""
        return self(x).mean(dim=(-2, -1))


class ViTEncoder(nn.Module):
    """The patch embedding, position embedding, transformer and final norm of a segmentation ViT (all but its
    per-patch head)."""

    def __init__(self, vit: SegmentViT):
        super().__init__()
        self.embed, self.pos, self.encoder, self.norm = vit.embed, vit.pos, vit.encoder, vit.norm  # shared
        self.grid, self.patch_size = vit.grid, vit.patch_size
        self.out_channels, self.reduction = vit.pos.shape[-1], vit.patch_size

    def position_embedding(self, gh: int, gw: int) -> torch.Tensor:
        """(1, gh * gw, D): the model's own rule (its learned grid, interpolated for another grid)."""
        return SegmentViT.position_embedding(self, gh, gw)  # reads only .pos and .grid, which the view shares

    def tokens(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> tuple[torch.Tensor, tuple[int, int]]:
        """(N, C, H, W) -> the normalised output tokens (N, L, D) and the grid (gh, gw), L = gh * gw; with
        ``keep`` (N, L_keep) token indices, only those tokens enter the transformer (the masked autoencoder's
        encoder, He et al. 2022) and (N, L_keep, D) comes out."""
        h, w = x.shape[-2:]
        p = self.patch_size
        x = F.pad(x, (0, (-w) % p, 0, (-h) % p))  # zero-padded on the bottom and right, as the ViT pads
        t = self.embed(x)  # (N, D, gh, gw)
        gh, gw = t.shape[-2:]
        t = t.flatten(2).transpose(1, 2) + self.position_embedding(gh, gw)  # (N, L, D)
        if keep is not None:
            t = torch.gather(t, 1, keep[..., None].expand(-1, -1, t.shape[-1]))  # (N, L_keep, D)
        return self.norm(self.encoder(t)), (gh, gw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, D, ceil(H / P), ceil(W / P))."""
        t, (gh, gw) = self.tokens(x)
        return t.transpose(1, 2).reshape(t.shape[0], t.shape[-1], gh, gw)  # (N, D, gh, gw)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, D): the output tokens averaged."""
        return self.tokens(x)[0].mean(dim=1)


def encoder_of(model: nn.Module) -> UNetEncoder | ViTEncoder:
    """The encoder view of a U-Net or a segmentation ViT (or of a wrapper holding one as ``.net``, such as the
    valid-padding wrapper of the segmentation recipe); ValueError for any other model."""
    inner = getattr(model, "net", model)
    if isinstance(inner, UNet):
        return UNetEncoder(inner)
    if isinstance(inner, SegmentViT):
        return ViTEncoder(inner)
    raise ValueError(f"{type(inner).__name__} has no encoder view; the U-Net and the ViT have one.")


def _stay_in_eval_mode(module: nn.Module, args) -> None:
    module.training = False


def freeze(module: nn.Module) -> nn.Module:
    """Freeze ``module`` in place: no gradients to its parameters, and every submodule runs in eval mode even when
    its model is put in training mode (batch norm uses and keeps its running statistics, dropout is off), so that a
    frozen encoder is one fixed function while the rest of the model trains. Returns ``module``."""
    for p in module.parameters():
        p.requires_grad_(False)
    for m in module.modules():
        m.register_forward_pre_hook(_stay_in_eval_mode)
    return module

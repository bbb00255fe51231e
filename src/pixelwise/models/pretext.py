"""Networks for self-supervised pretraining around an encoder view (:mod:`pixelwise.models.encoders`).

Each holds the encoder as ``self.encoder``, so its encoder weights are the state dict entries ``encoder.*``, named
as in the segmentation model the view came from.

- :class:`ContrastiveNet`: encoder, global average, projection head g (SimCLR, Chen et al. 2020: the loss is taken
  on z = g(h), the representation kept is h). ``(N, C, H, W) -> (N, out_dim)``.
- :class:`ConvReconstructionNet`: a U-Net encoder and a light decoder without skip connections (with skips the
  network could copy its input through the top level and the deep layers would learn nothing), for plain,
  denoising (Vincent et al. 2008) and masked (SimMIM, Xie et al. 2022, masking the input) autoencoders.
  ``(N, C, H, W) -> (N, C, H, W)``.
- :class:`RestorationUNet`: the whole U-Net, skips and all, with an image as output, trained to undo strong
  distortions (Models Genesis, Zhou et al., Medical Image Analysis 2021): a segmentation U-Net of the same sizes
  can start from its encoder *and* its decoder (``net.up.*``). ``(N, C, H, W) -> (N, C, H, W)``.
- :class:`ViTReconstructionNet`: a ViT encoder and a small transformer decoder with mask tokens (MAE, He et al.,
  "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022): with a ``keep`` index only the visible patches
  enter the encoder. ``(N, C, H, W)`` or ``((N, C, H, W), keep (N, L_keep)) -> (N, C, H, W)``.
- :class:`LinearClassifier`: encoder, global average, one linear layer (the supervised reference of a linear probe).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from pixelwise.models.encoders import UNetEncoder, ViTEncoder, encoder_of
from pixelwise.models.unet import UNet, make_norm


class ProjectionHead(nn.Sequential):
    """SimCLR's projection g: Linear -> ReLU -> Linear, ``(N, in_dim) -> (N, out_dim)``."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int):
        super().__init__(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))


class ContrastiveNet(nn.Module):
    def __init__(self, encoder: UNetEncoder | ViTEncoder, hidden: int = 256, out_dim: int = 128):
        super().__init__()
        self.encoder = encoder
        self.head = ProjectionHead(encoder.out_channels, hidden, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> projections z (N, out_dim)."""
        return self.head(self.encoder.features(x))


class ConvDecoder(nn.Module):
    """``depth`` stages of (2x2 transposed convolution halving the channels, 3x3 convolution, norm, ReLU), then a 1x1
    convolution: ``(N, D, h, w) -> (N, out_channels, h * 2^depth, w * 2^depth)``."""

    def __init__(self, in_channels: int, out_channels: int, depth: int, norm: str = "batch"):
        super().__init__()
        stages, c = [], in_channels
        for _ in range(depth):
            c_out = max(c // 2, 1)
            stages.append(nn.Sequential(nn.ConvTranspose2d(c, c_out, 2, stride=2),
                                        nn.Conv2d(c_out, c_out, 3, padding=1, bias=norm == "none"),
                                        make_norm(norm, c_out), nn.ReLU(inplace=True)))
            c = c_out
        self.stages = nn.Sequential(*stages)
        self.out = nn.Conv2d(c, out_channels, 1)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.out(self.stages(f))


class ConvReconstructionNet(nn.Module):
    def __init__(self, encoder: UNetEncoder, out_channels: int, norm: str = "batch"):
        super().__init__()
        self.encoder = encoder
        self.decoder = ConvDecoder(encoder.out_channels, out_channels, encoder.depth, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C_out, H, W): the decoder's output cropped back where the encoder padded (centred)."""
        h, w = x.shape[-2:]
        y = self.decoder(self.encoder(x))  # (N, C_out, H + ph, W + pw)
        top, left = (y.shape[-2] - h) // 2, (y.shape[-1] - w) // 2
        return y[..., top:top + h, left:left + w]


class RestorationUNet(nn.Module):
    def __init__(self, unet: UNet):
        super().__init__()
        self.net = unet
        self.encoder = encoder_of(unet)  # the same modules, also saved as encoder.* for --init

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C_out, H, W), C_out the U-Net's output channels (the image's, to restore it)."""
        return self.net(x)


class ViTReconstructionNet(nn.Module):
    """MAE: visible tokens -> encoder -> linear to the decoder width -> mask tokens put back in place, decoder
    position embeddings -> ``decoder_depth`` pre-norm transformer layers -> per-patch linear head -> pixels."""

    def __init__(self, encoder: ViTEncoder, out_channels: int, decoder_dim: int = 64, decoder_depth: int = 1,
                 heads: int = 2):
        super().__init__()
        if decoder_dim % heads:
            raise ValueError(f"decoder_dim={decoder_dim} must be divisible by heads={heads}.")
        self.encoder, self.out_channels = encoder, out_channels
        p, g = encoder.patch_size, encoder.grid
        self.to_decoder = nn.Linear(encoder.out_channels, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.pos = nn.Parameter(torch.randn(1, g * g, decoder_dim) * 0.02)
        layer = nn.TransformerEncoderLayer(decoder_dim, heads, 4 * decoder_dim, 0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.decoder = nn.TransformerEncoder(layer, decoder_depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(decoder_dim)
        self.head = nn.Linear(decoder_dim, out_channels * p * p)

    def forward(self, inputs) -> torch.Tensor:
        """(N, C, H, W), or (x, keep) with keep (N, L_keep) the visible tokens' indices -> (N, C_out, H, W)."""
        x, keep = inputs if isinstance(inputs, (tuple, list)) else (inputs, None)
        n, _, h, w = x.shape
        tokens, (gh, gw) = self.encoder.tokens(x, keep)  # (N, L_keep or L, D)
        t = self.to_decoder(tokens)  # (N, L_keep, Dd)
        if keep is not None:  # every token a mask token, then the visible ones written back in place
            full = self.mask_token.expand(n, gh * gw, -1).clone()  # (N, L, Dd)
            t = full.scatter(1, keep[..., None].expand(-1, -1, t.shape[-1]), t)
        pos = self.pos if (gh, gw) == (self.encoder.grid,) * 2 else _resized(self.pos, self.encoder.grid, gh, gw)
        patches = self.head(self.norm(self.decoder(t + pos)))  # (N, L, C * p * p)
        p, c = self.encoder.patch_size, self.out_channels
        image = patches.reshape(n, gh, gw, c, p, p).permute(0, 3, 1, 4, 2, 5)  # (N, C, gh, p, gw, p)
        return image.reshape(n, c, gh * p, gw * p)[..., :h, :w]


def _resized(pos: torch.Tensor, grid: int, gh: int, gw: int) -> torch.Tensor:
    d = pos.shape[-1]
    g = F.interpolate(pos.reshape(1, grid, grid, d).permute(0, 3, 1, 2), size=(gh, gw), mode="bicubic",
                      align_corners=False)  # (1, D, gh, gw)
    return g.permute(0, 2, 3, 1).reshape(1, gh * gw, d)


class LinearClassifier(nn.Module):
    def __init__(self, encoder: UNetEncoder | ViTEncoder, num_classes: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> class logits (N, num_classes)."""
        return self.head(self.encoder.features(x))

"""A segmentation Vision Transformer (after Dosovitskiy et al., "An Image is Worth 16x16 Words",
ICLR 2021, and the linear decoder of Strudel et al., "Segmenter", ICCV 2021).

Shapes: ``forward(x: (N, C_in, H, W)) -> (N, C_out, H, W)`` for any H, W: the input is zero-padded
up to a multiple of the patch size and the output cropped back.
Patches of P x P are embedded by a P-stride convolution, learned position embeddings (for the
``image_size`` grid) are bicubically interpolated when the grid changes, a pre-norm transformer
encoder mixes the tokens, and a per-patch linear head predicts C_out * P * P logits per token, which are
reshaped back into a full-resolution map.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class SegmentViT(nn.Module):
    def __init__(self, in_channels: int = 3, out_channels: int = 1, image_size: int = 256, patch_size: int = 16,
                 dim: int = 192, depth: int = 6, heads: int = 3, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        if patch_size < 1 or image_size % patch_size:
            raise ValueError(f"image_size={image_size} must be a positive multiple of patch_size={patch_size}.")
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}.")
        self.patch_size, self.out_channels = patch_size, out_channels
        self.grid = image_size // patch_size
        self.embed = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        self.pos = nn.Parameter(torch.randn(1, self.grid * self.grid, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, int(dim * mlp_ratio), dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, out_channels * patch_size * patch_size)

    def position_embedding(self, gh: int, gw: int) -> torch.Tensor:
        """(1, gh * gw, D): the learned grid, bicubically interpolated if (gh, gw) differs from it."""
        if (gh, gw) == (self.grid, self.grid):
            return self.pos
        d = self.pos.shape[-1]
        grid = self.pos.reshape(1, self.grid, self.grid, d).permute(0, 3, 1, 2)  # (1, D, g, g)
        grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False)
        return grid.permute(0, 2, 3, 1).reshape(1, gh * gw, d)  # (1, gh*gw, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, C_out, H, W) logits."""
        n, _, h, w = x.shape
        p = self.patch_size
        ph, pw = (-h) % p, (-w) % p
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph))
        tokens = self.embed(x)  # (N, D, gh, gw)
        gh, gw = tokens.shape[-2:]
        tokens = tokens.flatten(2).transpose(1, 2)  # (N, L, D), L = gh * gw
        tokens = self.encoder(tokens + self.position_embedding(gh, gw))  # (N, L, D)
        logits = self.head(self.norm(tokens))  # (N, L, C_out * p * p)
        logits = logits.reshape(n, gh, gw, self.out_channels, p, p)  # (N, gh, gw, C, p, p)
        logits = logits.permute(0, 3, 1, 4, 2, 5).reshape(n, self.out_channels, gh * p, gw * p)  # (N, C, H+ph, W+pw)
        return logits[..., :h, :w]

"""A small patch discriminator for adversarial restoration losses (SRGAN-style).

PatchGAN layout (Isola, Zhu, Zhou & Efros 2017, "Image-to-Image Translation with Conditional Adversarial
Networks", CVPR): 4x4 convolutions with stride 2 and LeakyReLU(0.2), then a 4x4 convolution to one logit
per patch, so the output is a map of real/fake logits, each seeing a receptive field of a few tens of
pixels. Used by Ledig et al. (2017), "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network" (SRGAN), as the adversarial term next to the content loss.

Shapes: ``(N, C, H, W) -> (N, 1, H', W')`` with ``H' ~ H / 2**layers`` (padding 1 keeps small inputs valid).
"""

from __future__ import annotations

import torch
from torch import nn


class PatchDiscriminator(nn.Module):
    """``layers`` stride-2 4x4 convolutions (``width`` doubling), then a 1-channel logit map."""

    def __init__(self, channels: int = 1, width: int = 32, layers: int = 3):
        super().__init__()
        if channels < 1 or width < 1 or layers < 1:
            raise ValueError(f"PatchDiscriminator needs channels, width, layers >= 1, "
                             f"got {channels}, {width}, {layers}.")
        mods: list[nn.Module] = []
        c = channels
        for i in range(layers):
            out = width * 2**i
            mods += [nn.Conv2d(c, out, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            c = out
        mods.append(nn.Conv2d(c, 1, 3, padding=1))
        self.body = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` image -> ``(N, 1, ~H / 2**layers, ~W / 2**layers)`` logits (real > 0)."""
        return self.body(x)

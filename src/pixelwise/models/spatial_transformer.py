"""The spatial transformer layer (Jaderberg, Simonyan, Zisserman and Kavukcuoglu 2015, "Spatial Transformer
Networks", NeurIPS): a localisation network predicts an affine transform from the input itself, a grid generator
turns it into sampling points, and a bilinear sampler warps the input there. Every step is differentiable, so the
layer learns, inside any network, which transform to apply to each input, from the network's loss alone.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class SpatialTransformer(nn.Module):
    """Affine spatial transformer: (N, C, H, W) -> (N, C, H_out, W_out).

    theta(x) = loc(x), (N, 2, 3), maps each output pixel's normalised coordinates q (``align_corners=False``: -1
    and 1 are the outer pixel edges, x then y) to the input point theta [q; 1] where the input is sampled
    (bilinear, edge values beyond the border). The localisation net is two 5x5 convolutions with 2x2 max pooling
    and ReLU, an adaptive average pool to 4 x 4 and two linear layers; its last layer starts at zero weights
    and the identity bias, as the paper initialises it, so an untrained layer passes its input through.

    Args:
        in_channels: C.
        channels: width of the localisation net's first convolution (the second has twice as many).
        out_size: (H_out, W_out) of the output grid (default: the input's size).
    """

    def __init__(self, in_channels: int, channels: int = 8, out_size: tuple[int, int] | None = None):
        super().__init__()
        if in_channels < 1 or channels < 1:
            raise ValueError(f"in_channels={in_channels} and channels={channels} must be >= 1.")
        self.out_size = None if out_size is None else (int(out_size[0]), int(out_size[1]))
        self.localisation = nn.Sequential(
            nn.Conv2d(in_channels, channels, 5, padding=2), nn.MaxPool2d(2, ceil_mode=True), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 5, padding=2), nn.MaxPool2d(2, ceil_mode=True), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),  # (N, 2 channels * 16)
            nn.Linear(2 * channels * 16, 32), nn.ReLU(), nn.Linear(32, 6))
        last = self.localisation[-1]
        nn.init.zeros_(last.weight)
        with torch.no_grad():
            last.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def theta(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, 2, 3) affine transforms in normalised coordinates."""
        return self.localisation(x).view(-1, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C, H_out, W_out): x sampled at theta(x)'s grid."""
        n, c, h, w = x.shape
        size = self.out_size or (h, w)
        grid = F.affine_grid(self.theta(x), [n, c, *size], align_corners=False)  # (N, H_out, W_out, 2)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

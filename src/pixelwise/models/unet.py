"""U-Net (Ronneberger, Fischer and Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015), with same or the original valid padding.

Shapes: ``forward(x: (N, C_in, H, W)) -> (N, C_out, H', W')``.
- ``padding="same"``: H' = H and W' = W for any H, W. The input is zero-padded internally up to a
  multiple of 2**depth and the output is cropped back, so odd sizes work.
- ``padding="valid"``: the paper's layout: unpadded 3x3 convolutions, 2x2 max pooling, 2x2
  up-convolutions, skip connections centre-cropped to the decoder's size. The output is smaller than the
  input (572 -> 388 for depth 4); :func:`valid_output_size` and :func:`valid_input_sizes` give the rules.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

NORMS = {
    "batch": lambda c: nn.BatchNorm2d(c),
    "instance": lambda c: nn.InstanceNorm2d(c, affine=True),
    "group": lambda c: nn.GroupNorm(min(8, c), c),
    "none": lambda c: nn.Identity(),
}


def make_norm(kind: str, channels: int) -> nn.Module:
    try:
        return NORMS[kind](channels)
    except KeyError:
        raise ValueError(f"norm={kind!r} is not known; use one of {sorted(NORMS)}.") from None


class DoubleConv(nn.Sequential):
    """(conv3x3 -> norm -> ReLU) twice; padding 1 (same) or 0 (valid: each conv removes 2 pixels)."""

    def __init__(self, c_in: int, c_out: int, padding: int, norm: str):
        bias = norm == "none"
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=padding, bias=bias), make_norm(norm, c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=padding, bias=bias), make_norm(norm, c_out), nn.ReLU(inplace=True),
        )


class Up(nn.Module):
    """Upsample by 2 (transposed 2x2 convolution or bilinear + 1x1 conv), crop the skip, concatenate, DoubleConv."""

    def __init__(self, c_in: int, c_out: int, padding: int, norm: str, up: str):
        super().__init__()
        if up == "transpose":
            self.up = nn.ConvTranspose2d(c_in, c_out, 2, stride=2)
        elif up == "bilinear":
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                    nn.Conv2d(c_in, c_out, 1))
        else:
            raise ValueError(f"up={up!r} is not known; use 'transpose' or 'bilinear'.")
        self.conv = DoubleConv(2 * c_out, c_out, padding, norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)  # (N, c_out, 2h, 2w)
        skip = center_crop(skip, x.shape[-2:])  # valid padding: the skip is larger than x
        return self.conv(torch.cat([skip, x], dim=1))  # (N, 2 c_out, 2h, 2w) -> (N, c_out, ...)


def center_crop(x: torch.Tensor, size) -> torch.Tensor:
    """Crop the last two dims of x to ``size`` around the centre (floor of the offset on the top/left)."""
    h, w = x.shape[-2:]
    th, tw = int(size[0]), int(size[1])
    if (h, w) == (th, tw):
        return x  # nothing to crop (same padding): no slice, so a traced graph keeps its sizes free
    top, left = (h - th) // 2, (w - tw) // 2
    return x[..., top:top + th, left:left + tw]


class UNet(nn.Module):
    """U-Net with ``depth`` poolings; channels double at each level from ``base_channels``.

    Args:
        in_channels, out_channels: image channels and output logits (1 for binary segmentation).
        depth: number of 2x2 poolings (4 in the paper).
        base_channels: channels of the first level (64 in the paper; 32 is a good CPU default).
        padding: "same" (output size = input size) or "valid" (the paper's unpadded layout).
        norm: "batch", "instance", "group" or "none" (the paper had no normalisation).
        up: "transpose" (the paper's 2x2 up-convolution) or "bilinear" (+ 1x1 convolution).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 1, depth: int = 4, base_channels: int = 32,
                 padding: str = "same", norm: str = "batch", up: str = "transpose"):
        super().__init__()
        if padding not in ("same", "valid"):
            raise ValueError(f"padding={padding!r} is not known; use 'same' or 'valid'.")
        if depth < 1 or base_channels < 1 or in_channels < 1 or out_channels < 1:
            raise ValueError(
                f"UNet needs positive sizes, got depth={depth}, base_channels={base_channels}, "
                f"in_channels={in_channels}, out_channels={out_channels}."
            )
        self.depth, self.padding = depth, padding
        p = 1 if padding == "same" else 0
        chans = [base_channels * 2**i for i in range(depth + 1)]
        self.inc = DoubleConv(in_channels, chans[0], p, norm)
        self.down = nn.ModuleList(DoubleConv(chans[i], chans[i + 1], p, norm) for i in range(depth))
        self.up = nn.ModuleList(Up(chans[i + 1], chans[i], p, norm, up) for i in reversed(range(depth)))
        self.head = nn.Conv2d(chans[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, C_out, H, W) for same padding, (N, C_out, H', W') for valid."""
        h, w = x.shape[-2:]
        if self.padding == "same":
            m = 2**self.depth  # pad up to a multiple of 2**depth so that every pooling is exact
            ph, pw = (-h) % m, (-w) % m
            if ph or pw:
                x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        else:
            valid_output_size(h, self.depth)  # raise a clear error for a size the layout cannot take
            valid_output_size(w, self.depth)
        skips = [self.inc(x)]
        for block in self.down:
            skips.append(block(F.max_pool2d(skips[-1], 2)))
        y = skips.pop()
        for block in self.up:
            y = block(y, skips.pop())
        y = self.head(y)
        if self.padding == "same" and y.shape[-2:] != (h, w):
            y = y[..., ph // 2:ph // 2 + h, pw // 2:pw // 2 + w]  # crop the internal padding back
        return y


def _valid_output_or_none(size: int, depth: int) -> int | None:
    """Output size of a valid-padding U-Net, or None when ``size`` does not fit the layout."""
    s = size
    for _ in range(depth):
        s -= 4  # DoubleConv: two unpadded 3x3 convolutions
        if s <= 0 or s % 2:  # 2x2 max pooling needs an even size
            return None
        s //= 2
    s -= 4  # bottom DoubleConv
    if s <= 0:
        return None
    for _ in range(depth):
        s = 2 * s - 4  # 2x2 up-convolution, then DoubleConv
    return s if s > 0 else None


def valid_output_size(size: int, depth: int = 4) -> int:
    """Output size of a valid-padding U-Net for input ``size``; raises ValueError if it is not valid.

    Each level's DoubleConv removes 4 pixels and pooling needs an even size; the decoder doubles then
    removes 4. For depth 4: 572 -> 388.
    """
    out = _valid_output_or_none(size, depth)
    if out is None:
        raise ValueError(
            f"input size {size} does not fit a valid-padding U-Net of depth {depth}; the nearest valid "
            f"sizes are {_nearest_valid(size, depth, -1)} and {_nearest_valid(size, depth, +1)} "
            "(see valid_input_sizes())."
        )
    return out


def valid_input_sizes(depth: int = 4, max_size: int = 1024) -> list[int]:
    """All input sizes up to ``max_size`` accepted by a valid-padding U-Net of this depth.

    For depth 4 these are 16 k + 12 for k >= 11: 188, 204, ..., 572, ... (steps of 2**depth).
    """
    return [s for s in range(1, max_size + 1) if _valid_output_or_none(s, depth) is not None]


def _nearest_valid(size: int, depth: int, direction: int = 1) -> int | None:
    """Nearest valid input size from ``size`` going up (+1) or down (-1); None if there is none below."""
    s = max(size, 1)
    while s >= 1:
        if _valid_output_or_none(s, depth) is not None:
            return s
        s += direction
    return None


def valid_input_for_output(out_size: int, depth: int = 4) -> tuple[int, int]:
    """Smallest valid input size whose output is at least ``out_size``; returns (input, output)."""
    s = _nearest_valid(1, depth)
    while _valid_output_or_none(s, depth) < out_size:
        s = _nearest_valid(s + 1, depth)
    return s, valid_output_size(s, depth)

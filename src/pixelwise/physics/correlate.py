"""Depthwise correlation of every (n, c) image plane with one kernel, 2-D or separable, on torch's CPU paths.

:func:`correlate_planes` runs one depthwise ``conv2d`` over the N*C planes (cut into strips when there are
few); :func:`correlate_separable` runs a rank-one kernel as a horizontal and a vertical 1-D pass (Szeliski,
*Computer Vision: Algorithms and Applications*, 2nd ed. 2022, Sec. 3.2.1). Both are the 'valid' correlation
of the zero-padded image, the building blocks of :class:`pixelwise.physics.blur.Blur` and its adjoint.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# planes per vector register of torch's CPU depthwise convolution (AVX-512 float32); fewer planes leave lanes idle
LANES = 16


def correlate_planes(x: torch.Tensor, kernel: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """The 'valid' correlation of every (n, c) plane of ``x`` zero-padded by ``pad`` (left, right, top, bottom)
    with ``kernel`` (kh, kw): ``(N, C, H, W) -> (N, C, H + top + bottom - kh + 1, W + left + right - kw + 1)``.

    One depthwise ``conv2d`` call with the N*C planes as its channels (``groups``), as deepinv's ``conv2d``
    does. torch's CPU depthwise kernel vectorises over channels, so this layout is ~13x faster than the batch
    of single-channel images as a batch (a 1-in 1-out convolution). When there are fewer than ``LANES``
    planes, each plane is cut into horizontal strips that overlap by kh - 1 rows and the strips become the
    channels: every output is the same sum of the same products (bit-identical), ~6x faster on one image.
    """
    n, c, h, w = x.shape
    kh, kw = kernel.shape
    left, right, top, bottom = pad
    hp, wp = h + top + bottom, w + left + right
    ho, wo = hp - kh + 1, wp - kw + 1
    planes = n * c
    strips = max(1, min(-(-LANES // planes), ho // max(kh, 8)))  # strips no shorter than the kernel
    hs = -(-ho // strips)  # output rows per strip (the last strip may run past the image: cropped below)
    extra = strips * hs - ho  # zero rows appended so that every strip has hs + kh - 1 input rows
    # zeros that conv2d adds itself (no copy of the image): the same number on both sides, at most half the
    # kernel (beyond that torch's CPU depthwise path is ~20x slower), and no rows when there are strips
    side = min(left, right, kw // 2)
    ends = min(top, bottom, kh // 2) if strips == 1 else 0
    pad = (left - side, right - side, top - ends, bottom + extra - ends)
    if any(pad):
        x = F.pad(x, pad)
    rows, cols = x.shape[-2:]
    x = x.contiguous().view(planes, rows, cols)  # (P, Hp + extra - 2 ends, Wp - 2 side)
    # strip s of plane p holds the padded rows [s hs, s hs + hs + kh - 1): (1, P*S, hs + kh - 1 - 2 ends, .)
    x = x.as_strided((planes, strips, hs + kh - 1 - 2 * ends, cols), (x.stride(0), hs * cols, cols, 1))
    x = x.reshape(1, planes * strips, hs + kh - 1 - 2 * ends, cols)
    out = F.conv2d(x, kernel.expand(planes * strips, 1, kh, kw), padding=(ends, side), groups=planes * strips)
    out = out.view(planes, strips * hs, wo)[:, :ho]  # (P, Ho, Wo)
    return out.reshape(n, c, ho, wo)


def correlate_separable(
    x: torch.Tensor, column: torch.Tensor, row: torch.Tensor, pad: tuple[int, int, int, int]
) -> torch.Tensor:
    """:func:`correlate_planes` with the rank-one kernel ``column row^T`` (``column`` (kh,), ``row`` (kw,)): a
    horizontal then a vertical 1-D correlation, kh + kw products per output instead of kh kw.

    torch's CPU depthwise convolution (oneDNN) vectorises over channels that lie next to each other in memory
    and reorders a planar (N, C, H, W) input into that order and back at each call; for a 1-D kernel this costs
    more than the sums (one 13-tap pass over 16 planar 256 x 256 planes took as long as the 13 x 13 2-D pass).
    So each pass picks channels that suit it. The horizontal pass takes the P*H image rows (P = N*C) as the
    channels of ``(1, P*H, 1, W)`` (on 16 planes ~1.4x faster than the planes as channels); as in
    :func:`correlate_planes`, conv2d pads at most half the kernel there and a copy pads the rest. The vertical
    pass reads the planar ``(P, H, W')`` memory as a channels-last ``(P, W', H, 1)`` tensor, the image columns
    being the channels, with no reorder at all; it pads any number of rows at no extra cost and writes its
    output in the same planar order.
    """
    n, c, h, w = x.shape
    kh, kw = len(column), len(row)
    left, right, top, bottom = pad
    lanes = n * c * h
    x = x.reshape(1, lanes, 1, w)  # (1, P*H, 1, W)
    side = min(left, right, kw // 2)
    if left != side or right != side:
        x = F.pad(x, (left - side, right - side))
    x = F.conv2d(x, row.view(1, 1, 1, kw).expand(lanes, 1, 1, kw), padding=(0, side), groups=lanes)  # (1, P*H, 1, W')
    wo = x.shape[-1]
    x = x.view(n * c, h, wo).as_strided((n * c, wo, h, 1), (h * wo, 1, wo, wo))  # (P, W', H, 1) channels-last
    ends = max(top, bottom)
    x = F.conv2d(x, column.view(1, 1, kh, 1).expand(wo, 1, kh, 1), padding=(ends, 0), groups=wo)  # (P, W', H'', 1)
    if top != bottom:  # an even kernel with the zero boundary: one extra row of output at one end
        x = x[:, :, ends - top : x.shape[2] - (ends - bottom)]
    return x.permute(0, 3, 2, 1).reshape(n, c, x.shape[2], wo)  # (N, C, H', W'): a view when x is channels-last

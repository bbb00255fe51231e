"""Convolution as a linear operator: its explicit matrix, and a readable transposed convolution.

A convolution without bias is linear, so on a fixed input size it is a matrix M with
conv(x) = M vec(x). Its adjoint is the transposed convolution: conv_transpose(y) = M^T vec(y), with the
``output_padding`` that gives back the input size (Dumoulin and Visin, "A guide to convolution
arithmetic for deep learning", 2016, section 4). ``vec`` flattens in PyTorch's memory order: channel
slowest, then row, then column (``x.reshape(-1)`` of a (C, H, W) tensor).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pixelwise.arch.layers import conv_output_size, conv_transpose_output_size
from pixelwise.errors import PixelwiseError

MAX_MATRIX_ENTRIES = 50_000_000  # conv_matrix is for small sizes: a 64 x 64 x 8 -> 8 map is 1e9 entries


def _pair(v) -> tuple[int, int]:
    return (int(v[0]), int(v[-1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _chw(input_shape: Sequence[int], channels: int) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 4 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) == 2:
        shape = (channels,) + shape
    if len(shape) != 3 or shape[0] != channels or min(shape) < 1:
        raise PixelwiseError(f"input shape {tuple(input_shape)} must be (C, H, W) or (H, W) with C = "
                             f"{channels}, the layer's input channels.")
    return shape


def conv_matrix(layer: nn.Conv2d, input_shape: Sequence[int]) -> torch.Tensor:
    """The matrix M of ``layer`` (an ``nn.Conv2d``; its bias is left out) on inputs of ``input_shape``.

    Shape (C_out H_out W_out, C_in H W); row (c, i, j) holds the weights that output pixel (i, j) of
    channel c gives to each input pixel: w[c, c', a, b] at input (c', i S - P + a D, j S - P + b D) when
    that lies inside the input (zero padding contributes nothing). Supports stride, padding (numbers or
    "same"/"valid"), dilation and groups. Twin: ``F.conv_transpose2d`` applies M^T.
    """
    if not isinstance(layer, nn.Conv2d):
        raise PixelwiseError(f"conv_matrix needs an nn.Conv2d, got {type(layer).__name__}.")
    if layer.padding_mode != "zeros":
        raise PixelwiseError(f"padding_mode={layer.padding_mode!r} is not supported; use "
                             "padding_mode='zeros'.")
    c_in, h, w = _chw(input_shape, layer.in_channels)
    weight = layer.weight.detach()  # (C_out, C_in / groups, Kh, Kw)
    c_out, c_group, kh, kw = weight.shape
    (sh, sw), (dh, dw) = _pair(layer.stride), _pair(layer.dilation)
    if isinstance(layer.padding, str):  # "valid" or "same" (stride 1): same total as PyTorch, odd pixel right
        ph, pw = (0, 0) if layer.padding == "valid" else (dh * (kh - 1) // 2, dw * (kw - 1) // 2)
    else:
        ph, pw = _pair(layer.padding)
    ho = conv_output_size(h, kh, sh, ph, dh) if layer.padding != "same" else h
    wo = conv_output_size(w, kw, sw, pw, dw) if layer.padding != "same" else w
    if c_out * ho * wo * c_in * h * w > MAX_MATRIX_ENTRIES:
        raise PixelwiseError(f"the matrix would have {c_out * ho * wo * c_in * h * w:,} entries; "
                             "conv_matrix is meant for small inputs, use a smaller input_shape.")
    m = torch.zeros(c_out, ho, wo, c_in, h, w, dtype=weight.dtype)
    out_per_group = c_out // layer.groups
    oy, ox = torch.arange(ho), torch.arange(wo)
    for co in range(c_out):
        group = co // out_per_group
        for cg in range(c_group):
            ci = group * c_group + cg
            for a in range(kh):
                iy = oy * sh - ph + a * dh  # input row read by each output row for tap a
                rows = (iy >= 0) & (iy < h)
                for b in range(kw):
                    ix = ox * sw - pw + b * dw
                    cols = (ix >= 0) & (ix < w)
                    yy, xx = torch.meshgrid(oy[rows], ox[cols], indexing="ij")
                    m[co, yy, xx, ci, iy[rows][:, None], ix[cols][None, :]] += weight[co, cg, a, b]
    return m.reshape(c_out * ho * wo, c_in * h * w)


def transposed_conv_reference(x: torch.Tensor, weight: torch.Tensor, stride: int = 1, padding: int = 0,
                              dilation: int = 1, output_padding: int = 0) -> torch.Tensor:
    """Transposed convolution written out: each input value scatters a weighted copy of the kernel.

    ``x``: (C_in, H, W) or (H, W); ``weight``: (C_in, C_out, K, K) as in ``nn.ConvTranspose2d`` or (K, K).
    Input pixel (i, j) adds x[c, i, j] * weight[c] to the output window starting at (i S, j S) with taps D
    apart; overlapping copies are summed; then ``padding`` rows and columns are cut from each border
    (``output_padding`` keeps extra ones at the bottom/right). Output (C_out, H_out, W_out) or (H_out, W_out)
    with H_out = (H - 1) S - 2P + D(K - 1) + output_padding + 1. Twin: ``nn.ConvTranspose2d`` (no groups).
    """
    squeeze = x.dim() == 2
    if squeeze:
        x = x[None]
    if weight.dim() == 2:
        weight = weight[None, None]
    if x.dim() != 3 or weight.dim() != 4 or weight.shape[0] != x.shape[0]:
        raise PixelwiseError(f"x {tuple(x.shape)} must be (C_in, H, W) and weight {tuple(weight.shape)} "
                             "(C_in, C_out, K, K) with the same C_in.")
    c_in, h, w = x.shape
    _, c_out, kh, kw = weight.shape
    ho = conv_transpose_output_size(h, kh, stride, padding, dilation, output_padding)
    wo = conv_transpose_output_size(w, kw, stride, padding, dilation, output_padding)
    span_h, span_w = dilation * (kh - 1) + 1, dilation * (kw - 1) + 1
    canvas = torch.zeros(c_out, (h - 1) * stride + span_h + output_padding,
                         (w - 1) * stride + span_w + output_padding, dtype=torch.result_type(x, weight))
    for c in range(c_in):
        for i in range(h):
            for j in range(w):
                top, left = i * stride, j * stride
                canvas[:, top:top + span_h:dilation, left:left + span_w:dilation] += x[c, i, j] * weight[c]
    out = canvas[:, padding:padding + ho, padding:padding + wo]
    return out[0] if squeeze and c_out == 1 else out

"""The torch operations the tracer has rules for, and the axis maps built from their arguments.

The name sets and module tuples say which calls count as pointwise, merges, normalisation, layout changes,
pooling or attention (:mod:`pixelwise.arch.classify` applies them); ``ATOMIC_MODULES`` are the layers kept as
one node each. :func:`conv_axes`, :func:`slice_axes` and :func:`pad_axes` turn a call's arguments into one
axis map per spatial axis (:mod:`pixelwise.arch.axes`), following PyTorch's conventions for ``padding``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pixelwise.arch.axes import ConvAxis, IdentityAxis, PadAxis, SliceAxis

POINTWISE_FUNCTIONS = {
    "relu", "relu_", "relu6", "gelu", "silu", "sigmoid", "tanh", "leaky_relu", "leaky_relu_", "elu", "elu_",
    "selu", "celu", "hardtanh", "hardtanh_", "softplus", "mish", "hardswish", "hardsigmoid", "prelu",
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "neg", "abs", "exp", "log", "sqrt",
    "square", "clamp", "clamp_", "clone", "contiguous", "to", "float", "double", "half", "type_as", "detach",
    "__neg__", "pow", "__pow__",
}
MERGE_FUNCTIONS = {
    "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "__add__", "__radd__", "__iadd__", "__sub__",
    "__rsub__", "__isub__", "__mul__", "__rmul__", "__imul__", "__truediv__", "__rtruediv__", "__itruediv__",
    "maximum", "minimum", "where",
}
NORM_FUNCTIONS = {"batch_norm", "instance_norm", "group_norm", "layer_norm", "local_response_norm",
                  "normalize", "rms_norm"}
LAYOUT_FUNCTIONS = {
    "flatten", "reshape", "view", "permute", "transpose", "unflatten", "squeeze", "unsqueeze", "expand",
    "movedim", "swapaxes", "chunk", "split", "unbind", "t", "mT", "view_as", "reshape_as",
}
POOL_FUNCTIONS = {
    "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices",
    "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d", "avg_pool3d",
}
ATTENTION_FUNCTIONS = {"multi_head_attention_forward", "scaled_dot_product_attention"}
CONV_FUNCTIONS = ("conv1d", "conv2d", "conv3d")
TCONV_FUNCTIONS = ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
CAT_FUNCTIONS = ("cat", "concat", "concatenate")

POINTWISE_MODULES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.ELU, nn.SELU,
                     nn.CELU, nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Softplus, nn.PReLU,
                     nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Identity)
NORM_MODULES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)
CONV_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
TCONV_MODULES = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
MAXPOOL_MODULES = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
AVGPOOL_MODULES = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
ADAPTIVE_MODULES = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
                    nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
ATOMIC_MODULES = (CONV_MODULES + TCONV_MODULES + MAXPOOL_MODULES + AVGPOOL_MODULES + ADAPTIVE_MODULES
                  + POINTWISE_MODULES + NORM_MODULES
                  + (nn.Linear, nn.MultiheadAttention, nn.Upsample, nn.Flatten, nn.Unflatten, nn.Softmax))


def per_axis(v, n: int) -> tuple:
    """``v`` as one value per spatial axis: an int repeated ``n`` times, a 1-tuple likewise, a tuple as is."""
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return tuple(v) * n
        return tuple(v)
    return (v,) * n


def arg(args, kwargs, pos: int, name: str, default=None):
    """A call's argument by keyword ``name``, else by position ``pos``, else ``default``."""
    if name in kwargs:
        return kwargs[name]
    return args[pos] if len(args) > pos else default


def conv_axes(kernel, stride, padding, dilation, n: int, pad_mode: str = "zeros") -> tuple:
    """One :class:`ConvAxis` per spatial axis; ``padding`` may be a number, a tuple, "valid" or "same"."""
    kernel, stride, dilation = per_axis(kernel, n), per_axis(stride, n), per_axis(dilation, n)
    if isinstance(padding, str):
        if padding == "valid":
            before = after = (0,) * n
        else:  # "same": PyTorch puts the odd pixel on the right
            total = [d * (k - 1) for k, d in zip(kernel, dilation)]
            before, after = tuple(t // 2 for t in total), tuple(t - t // 2 for t in total)
    else:
        before = after = per_axis(padding, n)
    return tuple(ConvAxis(k, s, b, a, d, pad_mode)
                 for k, s, b, a, d in zip(kernel, stride, before, after, dilation))


def slice_axes(index, shape: Sequence[int]) -> tuple | None:
    """Axis maps for ``x[index]`` if it only slices (N, C and the spatial axes), else None."""
    if not isinstance(index, tuple):
        index = (index,)
    if any(i is None or isinstance(i, torch.Tensor) for i in index) or sum(i is Ellipsis for i in index) > 1:
        return None
    if Ellipsis in index:
        k = index.index(Ellipsis)
        index = index[:k] + (slice(None),) * (len(shape) - len(index) + 1) + index[k + 1:]
    index = index + (slice(None),) * (len(shape) - len(index))
    if len(index) != len(shape) or not all(isinstance(i, slice) for i in index):
        return None  # integers remove dimensions: the layout changes
    axes = []
    for sl, n in zip(index[2:], shape[2:]):
        start, _, step = sl.indices(n)
        if step < 1:
            return None
        axes.append(IdentityAxis() if (start, step) == (0, 1) else SliceAxis(start, step))
    return tuple(axes)


def pad_axes(pad, mode: str, n_spatial: int) -> tuple | None:
    """Axis maps for ``F.pad(x, pad, mode)`` (``pad`` lists the last axis first), else None if it pads N or C."""
    pad = list(pad)
    if len(pad) % 2 or len(pad) // 2 > n_spatial:
        return None  # pads the channel or batch dimension
    pairs = [(pad[2 * i], pad[2 * i + 1]) for i in range(len(pad) // 2)]  # last axis first
    axes = [IdentityAxis()] * n_spatial
    for i, (b, a) in enumerate(pairs):
        axes[n_spatial - 1 - i] = PadAxis(int(b), int(a), mode)
    return tuple(axes)

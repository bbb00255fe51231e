"""Receptive fields measured by autograd: the support of one output pixel's gradient, and the effective
receptive field of a trained model.

The *support* check follows the definition of the receptive field: the input pixels with a non-zero
gradient of one output pixel. To make it equal to the theoretical receptive field, nothing may cancel
and nothing may be switched off, so :func:`linearised` copies the model with every weight matrix set to
a positive constant (1 / fan-in), biases set to zero, activations replaced by the identity, max pooling by
the mean over the same window, and normalisation layers by the identity. Attention keeps its softmax
(positive weights), so a transformer stays global.

The *effective* receptive field (Luo, Li, Urtasun and Zemel, "Understanding the Effective Receptive
Field in Deep Convolutional Neural Networks", NeurIPS 2016) is the mean magnitude of that gradient for
the real weights over random inputs: most of it sits in a Gaussian-like centre much smaller than the
theoretical receptive field.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from pixelwise.errors import PixelwiseError

_IDENTITY = {"relu", "relu_", "relu6", "gelu", "silu", "sigmoid", "tanh", "leaky_relu", "leaky_relu_", "elu",
             "elu_", "selu", "celu", "hardtanh", "hardtanh_", "softplus", "mish", "hardswish", "hardsigmoid",
             "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout"}
_NORMS = {"batch_norm", "layer_norm", "group_norm", "instance_norm", "local_response_norm", "rms_norm"}
_CONVS = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _arg(args, kwargs, pos, name, default=None):
    if name in kwargs:
        return kwargs[name]
    return args[pos] if len(args) > pos else default


def _tuple(v, n):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def _window_mean(x, reference_shape, kernel, stride, padding, dilation):
    """Mean over each pooling window (zero padding), cropped/padded to the pooling output shape."""
    n = x.dim() - 2
    k, s, p, d = _tuple(kernel, n), _tuple(stride or kernel, n), _tuple(padding, n), _tuple(dilation, n)
    extra = []  # ceil_mode: the last window may hang over the right edge
    for axis in reversed(range(n)):
        need = (reference_shape[2 + axis] - 1) * s[axis] + d[axis] * (k[axis] - 1) + 1 - 2 * p[axis]
        extra += [0, max(0, need - x.shape[2 + axis])]
    x = F.pad(x, extra)
    c = x.shape[1]
    w = torch.full((c, 1, *k), 1.0 / float(np.prod(k)), dtype=x.dtype, device=x.device)
    y = _CONVS[n](x, w, None, s, p, d, groups=c)
    return y[(...,) + tuple(slice(0, m) for m in reference_shape[2:])]


class _Linearise(TorchFunctionMode):
    """Identity for activations and norms, window mean for max pooling (see the module docstring)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in _IDENTITY or name in _NORMS:
            return args[0] if args else kwargs["input"]
        if name in ("max_pool1d", "max_pool2d", "max_pool3d"):
            if _arg(args, kwargs, 6, "return_indices", False):
                raise PixelwiseError("max pooling with return_indices has no linear stand-in here.")
            ref = func(*args, **kwargs)
            return _window_mean(args[0], ref.shape, _arg(args, kwargs, 1, "kernel_size"),
                                _arg(args, kwargs, 2, "stride"), _arg(args, kwargs, 3, "padding", 0),
                                _arg(args, kwargs, 4, "dilation", 1))
        if name.startswith("adaptive_max_pool"):
            n = int(name[len("adaptive_max_pool")])
            return getattr(F, f"adaptive_avg_pool{n}d")(args[0], _arg(args, kwargs, 1, "output_size"))
        return func(*args, **kwargs)


def linearised(model: nn.Module) -> nn.Module:
    """A float64 copy of ``model`` with positive constant weights (1 / fan-in) and zero vectors (biases).

    Use it under :func:`linear_mode` so that activations, norms and max pooling are made linear.
    """
    lin = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for p in lin.parameters():
            if p.dim() >= 2:
                p.fill_(1.0 / float(np.prod(p.shape[1:])))
            else:
                p.zero_()
    return lin


def linear_mode() -> TorchFunctionMode:
    """Context manager: inside it, activations and norms are the identity and max pooling is a mean."""
    return _Linearise()


def _output_pixel(y: torch.Tensor, index: Sequence[int] | None) -> torch.Tensor:
    spatial = y.shape[2:]
    if index is None:
        index = tuple(s // 2 for s in spatial)
    index = tuple(int(i) for i in index)
    if len(index) != len(spatial) or not all(0 <= i < s for i, s in zip(index, spatial)):
        raise PixelwiseError(f"pixel {index} is outside the output map {tuple(spatial)}.")
    return y[(0, slice(None)) + index].sum()  # sum over channels: the union of their supports


def gradient_support(model: nn.Module, input_shape: Sequence[int],
                     index: Sequence[int] | None = None) -> np.ndarray:
    """Boolean mask over the input's spatial axes where d(output pixel) / d(input) is non-zero.

    The model is linearised first (:func:`linearised`), so the mask is the theoretical receptive field of
    output pixel ``index`` (default: the centre), clipped to the input. Channels are summed (their union).
    """
    lin = linearised(model)
    x = torch.ones(tuple(input_shape), dtype=torch.float64, requires_grad=True)
    with linear_mode():
        y = lin(x)
    (grad,) = torch.autograd.grad(_output_pixel(y, index), x)
    return (grad[0] != 0).any(dim=0).numpy()


def effective_receptive_field(model: nn.Module, input_shape: Sequence[int],
                              index: Sequence[int] | None = None, n_samples: int = 8,
                              generator: torch.Generator | None = None) -> np.ndarray:
    """Mean |d(output pixel) / d(input)| over ``n_samples`` standard-normal inputs (Luo et al. 2016).

    Uses the model's own weights (eval mode, on a copy); returns an array over the input's spatial axes,
    summed over channels and scaled to a maximum of 1 (all zeros if the gradient vanishes).
    """
    if n_samples < 1:
        raise PixelwiseError(f"n_samples={n_samples} must be >= 1.")
    net = copy.deepcopy(model).float().eval()
    total = torch.zeros(tuple(input_shape)[2:], dtype=torch.float64)
    for _ in range(n_samples):
        x = torch.randn(tuple(input_shape), generator=generator).requires_grad_(True)
        (grad,) = torch.autograd.grad(_output_pixel(net(x), index), x)
        total += grad[0].abs().sum(dim=0).double()
    peak = float(total.max())
    return (total / peak).numpy() if peak > 0 else total.numpy()

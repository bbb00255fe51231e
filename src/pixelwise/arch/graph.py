"""Trace any ``nn.Module`` into a graph of layers, propagate receptive fields, find a pixel's exact support.

Tracing runs the real ``forward`` once (on the ``meta`` device by default: shapes only, no arithmetic)
under a ``TorchFunctionMode`` that records every torch call, plus module hooks that keep known layers
(``nn.Conv2d``, ``nn.MultiheadAttention``, ...) as one node each. Unlike ``torch.fx`` symbolic tracing,
this follows data-dependent Python (the U-Net's ``if ph or pw: F.pad(...)``) and sees functional calls
(``F.max_pool2d``, ``torch.cat``, slicing) as well as modules.

Each tensor that depends on the input carries a *state*:

- :class:`Spatial`: one :class:`~pixelwise.arch.layers.AxisRF` per spatial axis, propagated with
  Araujo et al.'s rules (Distill 2019); at a merge (``torch.cat`` of channels, ``+``) the hull of the
  branches' receptive fields (the union), which needs equal jumps;
- :class:`Global`: every element depends on every input pixel (attention mixes all tokens; global pooling);
- :class:`Opaque`: the spatial layout was rearranged (``flatten``, ``reshape``) and is no longer followed;
- :class:`Unknown`: an operation with no rule here, reported by name; nothing is guessed.

Normalisation layers count as pointwise: their statistics (a mean over the image for instance and group
norm, or for batch norm in training) are ignored, as in the receptive-field literature.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from pixelwise.arch.axes import (
    ConvAxis,
    IdentityAxis,
    InterpolateAxis,
    PadAxis,
    SliceAxis,
    TransposedConvAxis,
)
from pixelwise.arch.layers import AxisRF
from pixelwise.errors import PixelwiseError


@dataclass(frozen=True)
class Spatial:
    axes: tuple[AxisRF, ...]


@dataclass(frozen=True)
class Global:
    via: str  # the node that mixed everything


@dataclass(frozen=True)
class Opaque:
    via: str  # the node that rearranged the layout


@dataclass(frozen=True)
class Unknown:
    names: tuple[str, ...]  # the operations with no rule


@dataclass
class Node:
    """One recorded layer or function call."""

    index: int
    name: str  # module path ("down.0.3") or path:function ("up.1:cat"); "input" for the input
    # input, conv, tconv, pool, pointwise, norm, pad, crop, interpolate, merge, attention, linear, layout,
    # global or unknown
    kind: str
    op: str  # class or function name
    inputs: tuple[int, ...]
    out_shape: tuple[int, ...]
    state: object
    axes: tuple | None = None  # axis maps, for nodes that keep the spatial layout
    module: nn.Module | None = None
    params: tuple = ()  # parameters used by this node (tensors; identity tells sharing)
    macs: int = 0  # multiply-adds for the traced batch


@dataclass
class Graph:
    nodes: list[Node]
    output: int  # index of the node holding the model's output
    input_shape: tuple[int, ...]
    model: nn.Module = field(repr=False)  # the traced copy (meta device by default)
    cache: dict = field(default_factory=dict, repr=False)  # dependency matrices for pixel_support

    @property
    def unknown(self) -> list[Node]:
        """Nodes with no receptive-field rule (reported by name)."""
        return [n for n in self.nodes if n.kind == "unknown"]

    @property
    def output_state(self):
        return self.nodes[self.output].state


# ---------------------------------------------------------------------------------------------------
# Classification of operations
# ---------------------------------------------------------------------------------------------------

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


def _per_axis(v, n: int) -> tuple:
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return tuple(v) * n
        return tuple(v)
    return (v,) * n


def _arg(args, kwargs, pos: int, name: str, default=None):
    if name in kwargs:
        return kwargs[name]
    return args[pos] if len(args) > pos else default


def _conv_axes(kernel, stride, padding, dilation, n: int, pad_mode: str = "zeros") -> tuple:
    kernel, stride, dilation = _per_axis(kernel, n), _per_axis(stride, n), _per_axis(dilation, n)
    if isinstance(padding, str):
        if padding == "valid":
            before = after = (0,) * n
        else:  # "same": PyTorch puts the odd pixel on the right
            total = [d * (k - 1) for k, d in zip(kernel, dilation)]
            before, after = tuple(t // 2 for t in total), tuple(t - t // 2 for t in total)
    else:
        before = after = _per_axis(padding, n)
    return tuple(ConvAxis(k, s, b, a, d, pad_mode)
                 for k, s, b, a, d in zip(kernel, stride, before, after, dilation))


def _slice_axes(index, shape: Sequence[int]) -> tuple | None:
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


def _pad_axes(pad, mode: str, n_spatial: int) -> tuple | None:
    pad = list(pad)
    if len(pad) % 2 or len(pad) // 2 > n_spatial:
        return None  # pads the channel or batch dimension
    pairs = [(pad[2 * i], pad[2 * i + 1]) for i in range(len(pad) // 2)]  # last axis first
    axes = [IdentityAxis()] * n_spatial
    for i, (b, a) in enumerate(pairs):
        axes[n_spatial - 1 - i] = PadAxis(int(b), int(a), mode)
    return tuple(axes)


# ---------------------------------------------------------------------------------------------------
# State propagation
# ---------------------------------------------------------------------------------------------------

def _combine(name: str, states: list, in_shapes: list, out_shape) -> object:
    """State after a merge (or a pointwise op on several tracked tensors): the union of receptive fields."""
    unknown = [s for s in states if isinstance(s, Unknown)]
    if unknown:
        return Unknown(tuple(dict.fromkeys(n for s in unknown for n in s.names)))
    for s in states:
        if isinstance(s, Global):
            return s
    for s in states:
        if isinstance(s, Opaque):
            return s
    if any(tuple(sh[2:]) != tuple(out_shape[2:]) for sh in in_shapes):
        return Unknown((f"{name} (broadcasts maps of different sizes {[tuple(sh) for sh in in_shapes]})",))
    axes = []
    for per_axis in zip(*(s.axes for s in states)):
        jumps = {a.jump for a in per_axis}
        if len(jumps) > 1:
            return Unknown((f"{name} (merges maps with different jumps {sorted(jumps)})",))
        lo = min(a.left for a in per_axis)
        hi = max(a.left + a.size - 1 for a in per_axis)
        axes.append(AxisRF(hi - lo + 1, per_axis[0].jump, lo))
    return Spatial(tuple(axes))


def _apply_axes(state, axes) -> object:
    if isinstance(state, (Unknown, Global, Opaque)):
        return state
    return Spatial(tuple(ax.rf(prev) for ax, prev in zip(axes, state.axes)))


# ---------------------------------------------------------------------------------------------------
# The tracer
# ---------------------------------------------------------------------------------------------------

def _tensors(obj) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


class _Tracer(TorchFunctionMode):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.nodes: list[Node] = []
        self.producer: dict[int, int] = {}  # id(tensor) -> node index
        self.keep: list[torch.Tensor] = []  # keeps traced tensors alive so that ids stay unique
        self.names = {id(m): name for name, m in model.named_modules()}
        self.stack: list[str] = []  # module paths being run
        self.atomic_depth = 0
        self.handles = []
        for m in dict.fromkeys(model.modules()):
            self.handles.append(m.register_forward_pre_hook(self._pre, with_kwargs=True))
            self.handles.append(m.register_forward_hook(self._post, with_kwargs=True))

    def close(self):
        for h in self.handles:
            h.remove()

    # -- bookkeeping ---------------------------------------------------------------------------------
    def add_input(self, x: torch.Tensor):
        state = Spatial(tuple(AxisRF() for _ in x.shape[2:]))
        self._add(Node(0, "input", "input", "input", (), tuple(x.shape), state), [x])

    def _add(self, node: Node, outputs: list[torch.Tensor]) -> None:
        node.index = len(self.nodes)
        self.nodes.append(node)
        for t in outputs:
            self.producer[id(t)] = node.index
            self.keep.append(t)

    def _sources(self, args, kwargs) -> tuple[list[int], list[torch.Tensor]]:
        ids, tensors = [], []
        for t in _tensors(args) + _tensors(kwargs):
            k = self.producer.get(id(t))
            if k is not None and k not in ids:
                ids.append(k)
                tensors.append(t)
        return ids, tensors

    # -- module hooks --------------------------------------------------------------------------------
    def _pre(self, module, args, kwargs):
        self.stack.append(self.names.get(id(module), type(module).__name__))
        if isinstance(module, ATOMIC_MODULES):
            self.atomic_depth += 1
        return None

    def _post(self, module, args, kwargs, output):
        name = self.stack.pop()
        if isinstance(module, ATOMIC_MODULES):
            self.atomic_depth -= 1
            if self.atomic_depth == 0:
                self._record(name, type(module).__name__, module, args, kwargs, output)
        return None

    # -- function calls ------------------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.atomic_depth == 0:
            fname = getattr(func, "__name__", str(func))
            if fname == "__get__":  # attribute access such as x.shape or x.T
                fname = getattr(getattr(func, "__self__", None), "__name__", fname)
            path = self.stack[-1] if self.stack else ""
            self._record(f"{path}:{fname}" if path else fname, fname, None, args, kwargs, out)
        return out

    def _record(self, name, op, module, args, kwargs, output) -> None:
        outs = _tensors(output)
        ids, ins = self._sources(args, kwargs)
        if not ids or not outs:
            return
        out = outs[0]
        states = [self.nodes[i].state for i in ids]
        in_shapes = [tuple(t.shape) for t in ins]
        kind, axes, state, macs = self._classify(name, op, module, args, kwargs, ins, out, states, in_shapes)
        params = tuple(dict.fromkeys(
            list(module.parameters()) if module is not None
            else [t for t in _tensors(args) + _tensors(kwargs) if isinstance(t, nn.Parameter)]))
        node = Node(0, name, kind, op, tuple(ids), tuple(out.shape), state, axes, module, params, macs)
        self._add(node, outs)

    def _classify(self, name, op, module, args, kwargs, ins, out, states, in_shapes):
        """(kind, axis maps, state, multiply-adds) for one call."""
        x, state = ins[0], states[0]
        n = x.dim() - 2  # spatial axes of the first tracked input
        spatial_ok = isinstance(state, Spatial) and len(state.axes) == n and out.dim() == x.dim()

        def spatial(kind, axes, macs=0):
            if not isinstance(state, Spatial):
                return kind, None, state, macs
            if not spatial_ok:
                return "unknown", None, Unknown((f"{name} (changes the number of dimensions)",)), macs
            return kind, axes, _apply_axes(state, axes), macs

        def unknown(why=""):
            return "unknown", None, Unknown((f"{name}{' (' + why + ')' if why else ''}",)), 0

        # ---- modules -------------------------------------------------------------------------------
        if module is not None:
            if isinstance(module, CONV_MODULES):
                axes = _conv_axes(module.kernel_size, module.stride, module.padding, module.dilation, n,
                                  module.padding_mode)
                k = int(np.prod(module.kernel_size))
                return spatial("conv", axes, out.numel() * module.in_channels // module.groups * k)
            if isinstance(module, TCONV_MODULES):
                m = module
                axes = tuple(TransposedConvAxis(*geometry) for geometry in zip(
                    m.kernel_size, m.stride, m.padding, m.dilation, m.output_padding))
                k = int(np.prod(module.kernel_size))
                return spatial("tconv", axes, x.numel() * module.out_channels // module.groups * k)
            if isinstance(module, MAXPOOL_MODULES + AVGPOOL_MODULES):
                stride = module.stride if module.stride is not None else module.kernel_size
                dil = getattr(module, "dilation", 1)
                return spatial("pool", _conv_axes(module.kernel_size, stride, module.padding, dil, n))
            if isinstance(module, ADAPTIVE_MODULES):
                return self._adaptive(name, out, state, spatial_ok)
            if isinstance(module, POINTWISE_MODULES):
                return spatial("pointwise", (IdentityAxis(),) * n)
            if isinstance(module, NORM_MODULES):
                return spatial("norm", (IdentityAxis(),) * n)
            if isinstance(module, nn.Softmax):
                return self._softmax(name, module.dim, x, state, spatial)
            if isinstance(module, nn.Linear):
                return self._linear(name, out, module.in_features, state)
            if isinstance(module, nn.MultiheadAttention):
                return self._attention(name, args, kwargs, module.batch_first, states)
            if isinstance(module, nn.Upsample):
                return self._interpolate(name, x, out, module.scale_factor, module.mode, module.align_corners,
                                         state, spatial)
            if isinstance(module, (nn.Flatten, nn.Unflatten)):
                return self._layout(name, state)
        # ---- functions -----------------------------------------------------------------------------
        if op in ("conv1d", "conv2d", "conv3d"):
            w = _arg(args, kwargs, 1, "weight")
            axes = _conv_axes(tuple(w.shape[2:]), _arg(args, kwargs, 3, "stride", 1),
                              _arg(args, kwargs, 4, "padding", 0), _arg(args, kwargs, 5, "dilation", 1), n)
            return spatial("conv", axes, out.numel() * int(np.prod(w.shape[1:])))
        if op in ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d"):
            w = _arg(args, kwargs, 1, "weight")
            axes = tuple(TransposedConvAxis(*geometry) for geometry in zip(
                w.shape[2:], _per_axis(_arg(args, kwargs, 3, "stride", 1), n),
                _per_axis(_arg(args, kwargs, 4, "padding", 0), n),
                _per_axis(_arg(args, kwargs, 7, "dilation", 1), n),
                _per_axis(_arg(args, kwargs, 5, "output_padding", 0), n)))
            # w: (C_in, C_out / groups, *K)
            return spatial("tconv", axes, x.numel() * int(np.prod(w.shape[1:])))
        if op in POOL_FUNCTIONS:
            k = _arg(args, kwargs, 1, "kernel_size")
            s = _arg(args, kwargs, 2, "stride", None) or k
            d = _arg(args, kwargs, 4, "dilation", 1) if op.startswith("max") else 1
            return spatial("pool", _conv_axes(k, s, _arg(args, kwargs, 3, "padding", 0), d, n))
        if op.startswith("adaptive_"):
            return self._adaptive(name, out, state, spatial_ok)
        if op == "pad":
            axes = _pad_axes(_arg(args, kwargs, 1, "pad"), _arg(args, kwargs, 2, "mode", "constant"), n)
            return spatial("pad", axes) if axes is not None else unknown("pads a non-spatial dimension")
        if op == "__getitem__":
            axes = _slice_axes(args[1], x.shape)
            if axes is None:
                return self._layout(name, state)
            return spatial("crop", axes)
        if op in ("cat", "concat", "concatenate"):
            dim = _arg(args, kwargs, 1, "dim", 0)
            if dim % x.dim() != 1 and any(isinstance(s, Spatial) for s in states):
                return unknown("concatenates along a non-channel dimension")
            return "merge", (IdentityAxis(),) * n, _combine(name, states, in_shapes, out.shape), 0
        if op == "interpolate":
            scale, mode = _arg(args, kwargs, 2, "scale_factor"), _arg(args, kwargs, 3, "mode", "nearest")
            corners = _arg(args, kwargs, 4, "align_corners")
            return self._interpolate(name, x, out, scale, mode, corners, state, spatial)
        if op in MERGE_FUNCTIONS:
            if len(ins) > 1 or isinstance(state, Spatial) and tuple(out.shape[2:]) != tuple(x.shape[2:]):
                return "merge", (IdentityAxis(),) * n, _combine(name, states, in_shapes, out.shape), 0
            return spatial("pointwise", (IdentityAxis(),) * n)
        if op in POINTWISE_FUNCTIONS and len(ins) == 1:
            return spatial("pointwise", (IdentityAxis(),) * n)
        if op in NORM_FUNCTIONS and len(ins) == 1:
            return spatial("norm", (IdentityAxis(),) * n)
        if op in ("softmax", "log_softmax"):
            return self._softmax(name, _arg(args, kwargs, 1, "dim"), x, state, spatial)
        if op == "linear":
            w = _arg(args, kwargs, 1, "weight")
            return self._linear(name, out, w.shape[-1], state)
        if op in ATTENTION_FUNCTIONS:
            return "attention", None, self._global_or_unknown(name, states), 0
        if op in LAYOUT_FUNCTIONS and len(ins) == 1:
            return self._layout(name, state)
        return unknown()

    # -- helpers for the classification ---------------------------------------------------------------
    @staticmethod
    def _global_or_unknown(name, states):
        unknown = [s for s in states if isinstance(s, Unknown)]
        if unknown:
            return Unknown(tuple(dict.fromkeys(n for s in unknown for n in s.names)))
        return Global(name)

    @staticmethod
    def _layout(name, state):
        if isinstance(state, Spatial):
            return "layout", None, Opaque(name), 0
        return "layout", None, state, 0

    @staticmethod
    def _adaptive(name, out, state, spatial_ok):
        if spatial_ok and all(s == 1 for s in out.shape[2:]):
            return "global", None, (state if isinstance(state, Unknown) else Global(name)), 0
        why = f"{name} (adaptive pooling to {tuple(out.shape[2:])}: bins vary)"
        return "unknown", None, Unknown((why,)), 0

    @staticmethod
    def _softmax(name, dim, x, state, spatial):
        if dim is not None and dim % x.dim() == 1:  # over channels: pointwise in space
            return spatial("pointwise", (IdentityAxis(),) * (x.dim() - 2))
        if isinstance(state, Spatial):
            return "unknown", None, Unknown((f"{name} (softmax over dimension {dim})",)), 0
        return "pointwise", None, state, 0

    @staticmethod
    def _linear(name, out, in_features, state):
        macs = out.numel() * in_features
        if isinstance(state, Spatial):
            why = f"{name} (a linear layer on an image mixes its last axis)"
            return "unknown", None, Unknown((why,)), macs
        return "linear", None, state, macs

    @staticmethod
    def _attention(name, args, kwargs, batch_first, states):
        q = _arg(args, kwargs, 0, "query")
        k = _arg(args, kwargs, 1, "key", q)
        if batch_first:
            nb, lq, e = q.shape
            lk = k.shape[1]
        else:
            lq, nb, e = q.shape
            lk = k.shape[0]
        macs = nb * (lq * e * e + 2 * lk * e * e + 2 * lq * lk * e + lq * e * e)  # q, k, v, QK^T, AV, out
        return "attention", None, _Tracer._global_or_unknown(name, states), macs

    @staticmethod
    def _interpolate(name, x, out, scale_factor, mode, align_corners, state, spatial):
        n = x.dim() - 2
        if mode in ("linear", "bilinear", "trilinear"):
            mode = "linear"
        if mode not in ("nearest", "nearest-exact", "linear"):
            return "unknown", None, Unknown((f"{name} (interpolation mode {mode!r})",)), 0
        scales = _per_axis(scale_factor, n) if scale_factor is not None else (None,) * n
        axes = tuple(InterpolateAxis(mode, bool(align_corners), None if sc is None else float(sc), ni, no)
                     for sc, ni, no in zip(scales, x.shape[2:], out.shape[2:]))
        return spatial("interpolate", axes)


def trace(model: nn.Module, input_shape: Sequence[int], device: str = "meta") -> Graph:
    """Run ``model`` once on an input of ``input_shape`` (N, C, *spatial) and record its layers.

    The model is deep-copied (the original is untouched; shared parameters stay shared) and put in eval
    mode. ``device="meta"`` computes shapes only, so large inputs cost nothing; use "cpu" for models
    whose forward depends on values.
    """
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) < 3 or any(s < 1 for s in input_shape):
        raise PixelwiseError(f"input shape {input_shape} must be (N, C, *spatial) with positive sizes, "
                             "e.g. 1,3,256,256.")
    copy_ = copy.deepcopy(model).to(device).eval()
    tracer = _Tracer(copy_)
    x = torch.zeros(input_shape, device=device)
    tracer.add_input(x)
    try:
        with torch.enable_grad(), tracer:
            y = copy_(x)
    except (RuntimeError, ValueError) as err:
        raise PixelwiseError(f"the model does not accept an input of shape {input_shape}: "
                             f"{str(err).splitlines()[0]}") from None
    finally:
        tracer.close()
    outs = _tensors(y)
    if not outs or id(outs[0]) not in tracer.producer:
        raise PixelwiseError("the model's output does not depend on its input; nothing to trace.")
    return Graph(tracer.nodes, tracer.producer[id(outs[0])], input_shape, copy_)


# ---------------------------------------------------------------------------------------------------
# Receptive field of a model and the exact support of one output pixel
# ---------------------------------------------------------------------------------------------------

def receptive_field(model: nn.Module, input_shape: Sequence[int]):
    """The output's state: :class:`Spatial` (an AxisRF per axis), :class:`Global` or :class:`Unknown`."""
    return trace(model, input_shape).output_state


def pixel_support(graph: Graph, index: Sequence[int]) -> np.ndarray:
    """Boolean mask over the input's spatial axes: the pixels that output pixel ``index`` depends on.

    Computed by index arithmetic alone, walking the graph backwards from the output: each layer maps a
    mask over its output to a mask over its input through its per-axis dependency matrices (``deps``).
    Global nodes (attention) need every pixel of their input. This is exact for any layer with a rule
    (including phases of transposed convolutions and borders with padding), as long as no weight is zero;
    compare with :func:`pixelwise.arch.empirical.gradient_support`.
    """
    out = graph.nodes[graph.output]
    spatial_shape = out.out_shape[2:]
    index = tuple(int(i) for i in index)
    if len(index) != len(spatial_shape) or not all(0 <= i < s for i, s in zip(index, spatial_shape)):
        raise PixelwiseError(f"pixel {index} is outside the output map {tuple(spatial_shape)}.")
    if graph.unknown:
        names = ", ".join(dict.fromkeys(n.name for n in graph.unknown))
        raise PixelwiseError(f"no receptive-field rule for: {names}; replace these layers or report them.")
    masks: dict[int, object] = {}
    seed = np.zeros(spatial_shape, dtype=bool)
    seed[index] = True
    masks[out.index] = seed
    everything = "all"
    for node in reversed(graph.nodes[1:out.index + 1]):
        m = masks.pop(node.index, None)
        if m is None:
            continue
        mixes_all = isinstance(node.state, Global)  # every element needs all of its inputs
        for i in node.inputs:
            src = graph.nodes[i]
            in_spatial = src.out_shape[2:]
            if m is everything or mixes_all:
                new = everything
            elif node.axes is None:
                raise PixelwiseError(f"cannot map pixel masks back through {node.name} ({node.op}).")
            else:
                new = _back(m, _deps(graph, node, in_spatial))
            if isinstance(src.state, Spatial) and new is everything:
                new = np.ones(in_spatial, dtype=bool)
            old = masks.get(i)
            if old is None:
                masks[i] = new
            elif old is everything or new is everything:
                masks[i] = everything
            else:
                masks[i] = old | new
    m = masks.get(0)
    if m is None:
        return np.zeros(graph.input_shape[2:], dtype=bool)
    return np.ones(graph.input_shape[2:], dtype=bool) if m is everything else m


def _deps(graph: Graph, node: Node, in_shape) -> list[np.ndarray]:
    """The node's (n_out, n_in) dependency matrix per axis, as float32 for BLAS; cached on the graph."""
    key = (node.index, tuple(in_shape))
    if key not in graph.cache:
        graph.cache[key] = [None if isinstance(ax, IdentityAxis) and n_in == n_out  # nothing to do
                            else ax.deps(int(n_in), int(n_out)).astype(np.float32)
                            for ax, n_in, n_out in zip(node.axes, in_shape, node.out_shape[2:])]
    return graph.cache[key]


def _back(mask: np.ndarray, deps: list[np.ndarray | None]) -> np.ndarray:
    if all(dep is None for dep in deps):
        return mask
    m = mask.astype(np.float32)
    for a, dep in enumerate(deps):
        if dep is None:
            continue
        m = np.moveaxis(np.tensordot(dep, m, axes=([0], [a])), 0, a)  # contract the output axis
        m = (m > 0).astype(np.float32)  # counts stay small: exact in float32
    return m > 0


def format_state(state) -> str:
    """One phrase for a receptive-field state: '25', '25x25 (jump 8)', 'global', 'unknown: ...'."""
    from pixelwise.arch.layers import format_fraction

    if isinstance(state, Spatial):
        sizes = [format_fraction(a.size) for a in state.axes]
        jumps = [format_fraction(a.jump) for a in state.axes]
        size = sizes[0] if len(set(sizes)) == 1 else "x".join(sizes)
        jump = jumps[0] if len(set(jumps)) == 1 else "x".join(jumps)
        return f"{size} (jump {jump})"
    if isinstance(state, Global):
        return f"global (every input pixel, via {state.via})"
    if isinstance(state, Opaque):
        return f"layout rearranged at {state.via}"
    return "unknown: no rule for " + ", ".join(state.names)


def exact_extent(mask: np.ndarray) -> tuple[tuple[int, int], ...]:
    """(first, last) index of the support along each axis (the bounding box)."""
    out = []
    for a in range(mask.ndim):
        other = tuple(b for b in range(mask.ndim) if b != a)
        hit = np.flatnonzero(mask.any(axis=other) if other else mask)
        if hit.size == 0:
            raise PixelwiseError("the support is empty.")
        out.append((int(hit[0]), int(hit[-1])))
    return tuple(out)


def hull(state: Spatial, index: Sequence[int]) -> tuple[tuple[Fraction, Fraction], ...]:
    """Analytic span (first, last input coordinate) of output pixel ``index`` along each axis."""
    return tuple(a.span(i) for a, i in zip(state.axes, index))


def support_period(graph: Graph, cap: int = 64) -> int:
    """Output pixels after which the pattern of exact supports repeats: the lcm of every integer jump
    (numerator) in the graph, at most ``cap``. Supports of pixels one period apart are shifted copies
    (away from the borders), so scanning one period gives the range of exact receptive-field sizes.
    """
    period = 1
    for node in graph.nodes:
        if isinstance(node.state, Spatial):
            for a in node.state.axes:
                period = math.lcm(period, a.jump.numerator)
    return min(period, cap)

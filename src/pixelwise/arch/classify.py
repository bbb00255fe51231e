"""The rule for one recorded call: its kind, its axis maps, the state of its output and its multiply-adds.

A known layer (``nn.Conv2d``, ``nn.MultiheadAttention``, ...) is classified by its class; any other call by
its function name (``conv2d``, ``cat``, ``__getitem__``, ``interpolate``, ...). Receptive fields follow
Araujo, Norris and Sim, "Computing Receptive Fields of Convolutional Neural Networks" (Distill 2019);
normalisation counts as pointwise, as in that literature. A call with no rule gets an :class:`Unknown`
state naming it: nothing is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from pixelwise.arch.axes import IdentityAxis, InterpolateAxis, TransposedConvAxis
from pixelwise.arch.ops import (
    ADAPTIVE_MODULES,
    ATTENTION_FUNCTIONS,
    AVGPOOL_MODULES,
    CAT_FUNCTIONS,
    CONV_FUNCTIONS,
    CONV_MODULES,
    LAYOUT_FUNCTIONS,
    MAXPOOL_MODULES,
    MERGE_FUNCTIONS,
    NORM_FUNCTIONS,
    NORM_MODULES,
    POINTWISE_FUNCTIONS,
    POINTWISE_MODULES,
    POOL_FUNCTIONS,
    TCONV_FUNCTIONS,
    TCONV_MODULES,
    arg,
    conv_axes,
    pad_axes,
    per_axis,
    slice_axes,
)
from pixelwise.arch.state import Global, Opaque, Spatial, Unknown, apply_axes, combine, merged_unknown

# (kind, axis maps or None, state, multiply-adds): what a rule returns
Rule = tuple[str, "tuple | None", object, int]


@dataclass
class Call:
    """One recorded call as the rules see it: ``ins`` are its tracked input tensors, ``states`` theirs."""

    name: str
    op: str
    args: tuple
    kwargs: dict
    ins: list[torch.Tensor]
    out: torch.Tensor
    states: list
    in_shapes: list
    x: torch.Tensor = field(init=False)  # the first tracked input
    state: object = field(init=False)  # its state
    n: int = field(init=False)  # its spatial axes
    spatial_ok: bool = field(init=False)  # spatial input, and the output keeps the number of dimensions

    def __post_init__(self):
        self.x, self.state = self.ins[0], self.states[0]
        self.n = self.x.dim() - 2
        self.spatial_ok = (isinstance(self.state, Spatial) and len(self.state.axes) == self.n
                           and self.out.dim() == self.x.dim())

    def spatial(self, kind: str, axes, macs: int = 0) -> Rule:
        """A layer that maps each spatial axis by ``axes``; anything but a spatial input passes through."""
        if not isinstance(self.state, Spatial):
            return kind, None, self.state, macs
        if not self.spatial_ok:
            return "unknown", None, Unknown((f"{self.name} (changes the number of dimensions)",)), macs
        return kind, axes, apply_axes(self.state, axes), macs

    def identity(self, kind: str) -> Rule:
        """A layer that keeps every pixel where it is (pointwise, normalisation)."""
        return self.spatial(kind, (IdentityAxis(),) * self.n)

    def unknown(self, why: str = "") -> Rule:
        return "unknown", None, Unknown((f"{self.name}{' (' + why + ')' if why else ''}",)), 0


def classify(name, op, module, args, kwargs, ins, out, states, in_shapes) -> Rule:
    """(kind, axis maps, state, multiply-adds) for one call: by the module's class, else by ``op``."""
    call = Call(name, op, args, kwargs, ins, out, states, in_shapes)
    if module is not None:
        rule = _module_rule(call, module)
        if rule is not None:
            return rule
    return _function_rule(call)


def _module_rule(call: Call, module: nn.Module) -> Rule | None:
    """The rule for a known layer class, or None to fall back on its name."""
    n, out = call.n, call.out
    if isinstance(module, CONV_MODULES):
        axes = conv_axes(module.kernel_size, module.stride, module.padding, module.dilation, n, module.padding_mode)
        k = int(np.prod(module.kernel_size))
        return call.spatial("conv", axes, out.numel() * module.in_channels // module.groups * k)
    if isinstance(module, TCONV_MODULES):
        m = module
        axes = tuple(TransposedConvAxis(*geometry) for geometry in zip(
            m.kernel_size, m.stride, m.padding, m.dilation, m.output_padding))
        k = int(np.prod(module.kernel_size))
        return call.spatial("tconv", axes, call.x.numel() * module.out_channels // module.groups * k)
    if isinstance(module, MAXPOOL_MODULES + AVGPOOL_MODULES):
        stride = module.stride if module.stride is not None else module.kernel_size
        dil = getattr(module, "dilation", 1)
        return call.spatial("pool", conv_axes(module.kernel_size, stride, module.padding, dil, n))
    if isinstance(module, ADAPTIVE_MODULES):
        return _adaptive(call)
    if isinstance(module, POINTWISE_MODULES):
        return call.identity("pointwise")
    if isinstance(module, NORM_MODULES):
        return call.identity("norm")
    if isinstance(module, nn.Softmax):
        return _softmax(call, module.dim)
    if isinstance(module, nn.Linear):
        return _linear(call, module.in_features)
    if isinstance(module, nn.MultiheadAttention):
        return _attention(call, module.batch_first)
    if isinstance(module, nn.Upsample):
        return _interpolate(call, module.scale_factor, module.mode, module.align_corners)
    if isinstance(module, (nn.Flatten, nn.Unflatten)):
        return _layout(call)
    return None


def _function_rule(call: Call) -> Rule:
    """The rule for a function call (or a layer class with no rule of its own) by its name."""
    op, args, kwargs, n = call.op, call.args, call.kwargs, call.n
    if op in CONV_FUNCTIONS:
        return _conv_function(call)
    if op in TCONV_FUNCTIONS:
        return _tconv_function(call)
    if op in POOL_FUNCTIONS:
        k = arg(args, kwargs, 1, "kernel_size")
        s = arg(args, kwargs, 2, "stride", None) or k
        d = arg(args, kwargs, 4, "dilation", 1) if op.startswith("max") else 1
        return call.spatial("pool", conv_axes(k, s, arg(args, kwargs, 3, "padding", 0), d, n))
    if op.startswith("adaptive_"):
        return _adaptive(call)
    if op == "pad":
        axes = pad_axes(arg(args, kwargs, 1, "pad"), arg(args, kwargs, 2, "mode", "constant"), n)
        return call.spatial("pad", axes) if axes is not None else call.unknown("pads a non-spatial dimension")
    if op == "__getitem__":
        axes = slice_axes(args[1], call.x.shape)
        return _layout(call) if axes is None else call.spatial("crop", axes)
    if op in CAT_FUNCTIONS:
        return _cat(call)
    if op == "interpolate":
        scale, mode = arg(args, kwargs, 2, "scale_factor"), arg(args, kwargs, 3, "mode", "nearest")
        return _interpolate(call, scale, mode, arg(args, kwargs, 4, "align_corners"))
    if op in MERGE_FUNCTIONS:
        return _merge(call)
    if op in POINTWISE_FUNCTIONS and len(call.ins) == 1:
        return call.identity("pointwise")
    if op in NORM_FUNCTIONS and len(call.ins) == 1:
        return call.identity("norm")
    if op in ("softmax", "log_softmax"):
        return _softmax(call, arg(args, kwargs, 1, "dim"))
    if op == "linear":
        return _linear(call, arg(args, kwargs, 1, "weight").shape[-1])
    if op in ATTENTION_FUNCTIONS:
        return "attention", None, _global_or_unknown(call.name, call.states), 0
    if op in LAYOUT_FUNCTIONS and len(call.ins) == 1:
        return _layout(call)
    return call.unknown()


# ---------------------------------------------------------------------------------------------------
# One rule per family of operations
# ---------------------------------------------------------------------------------------------------

def _conv_function(call: Call) -> Rule:
    args, kwargs, n = call.args, call.kwargs, call.n
    w = arg(args, kwargs, 1, "weight")
    axes = conv_axes(tuple(w.shape[2:]), arg(args, kwargs, 3, "stride", 1),
                     arg(args, kwargs, 4, "padding", 0), arg(args, kwargs, 5, "dilation", 1), n)
    return call.spatial("conv", axes, call.out.numel() * int(np.prod(w.shape[1:])))


def _tconv_function(call: Call) -> Rule:
    args, kwargs, n = call.args, call.kwargs, call.n
    w = arg(args, kwargs, 1, "weight")
    axes = tuple(TransposedConvAxis(*geometry) for geometry in zip(
        w.shape[2:], per_axis(arg(args, kwargs, 3, "stride", 1), n),
        per_axis(arg(args, kwargs, 4, "padding", 0), n),
        per_axis(arg(args, kwargs, 7, "dilation", 1), n),
        per_axis(arg(args, kwargs, 5, "output_padding", 0), n)))
    # w: (C_in, C_out / groups, *K)
    return call.spatial("tconv", axes, call.x.numel() * int(np.prod(w.shape[1:])))


def _cat(call: Call) -> Rule:
    dim = arg(call.args, call.kwargs, 1, "dim", 0)
    if dim % call.x.dim() != 1 and any(isinstance(s, Spatial) for s in call.states):
        return call.unknown("concatenates along a non-channel dimension")
    return "merge", (IdentityAxis(),) * call.n, combine(call.name, call.states, call.in_shapes, call.out.shape), 0


def _merge(call: Call) -> Rule:
    """``+``, ``*``, ``where``, ...: a merge of several tracked tensors (or a broadcast), else pointwise."""
    x, out = call.x, call.out
    if len(call.ins) > 1 or isinstance(call.state, Spatial) and tuple(out.shape[2:]) != tuple(x.shape[2:]):
        return "merge", (IdentityAxis(),) * call.n, combine(call.name, call.states, call.in_shapes, out.shape), 0
    return call.identity("pointwise")


def _global_or_unknown(name: str, states: list) -> object:
    unknown = merged_unknown(states)
    return unknown if unknown is not None else Global(name)


def _layout(call: Call) -> Rule:
    if isinstance(call.state, Spatial):
        return "layout", None, Opaque(call.name), 0
    return "layout", None, call.state, 0


def _adaptive(call: Call) -> Rule:
    name, out, state = call.name, call.out, call.state
    if call.spatial_ok and all(s == 1 for s in out.shape[2:]):
        return "global", None, (state if isinstance(state, Unknown) else Global(name)), 0
    why = f"{name} (adaptive pooling to {tuple(out.shape[2:])}: bins vary)"
    return "unknown", None, Unknown((why,)), 0


def _softmax(call: Call, dim) -> Rule:
    if dim is not None and dim % call.x.dim() == 1:  # over channels: pointwise in space
        return call.identity("pointwise")
    if isinstance(call.state, Spatial):
        return "unknown", None, Unknown((f"{call.name} (softmax over dimension {dim})",)), 0
    return "pointwise", None, call.state, 0


def _linear(call: Call, in_features: int) -> Rule:
    macs = call.out.numel() * in_features
    if isinstance(call.state, Spatial):
        why = f"{call.name} (a linear layer on an image mixes its last axis)"
        return "unknown", None, Unknown((why,)), macs
    return "linear", None, call.state, macs


def _attention(call: Call, batch_first: bool) -> Rule:
    """``nn.MultiheadAttention``: every token sees every token; multiply-adds of Vaswani et al. (2017)."""
    q = arg(call.args, call.kwargs, 0, "query")
    k = arg(call.args, call.kwargs, 1, "key", q)
    if batch_first:
        nb, lq, e = q.shape
        lk = k.shape[1]
    else:
        lq, nb, e = q.shape
        lk = k.shape[0]
    macs = nb * (lq * e * e + 2 * lk * e * e + 2 * lq * lk * e + lq * e * e)  # q, k, v, QK^T, AV, out
    return "attention", None, _global_or_unknown(call.name, call.states), macs


def _interpolate(call: Call, scale_factor, mode: str, align_corners) -> Rule:
    x, out = call.x, call.out
    n = x.dim() - 2
    if mode in ("linear", "bilinear", "trilinear"):
        mode = "linear"
    if mode not in ("nearest", "nearest-exact", "linear"):
        return "unknown", None, Unknown((f"{call.name} (interpolation mode {mode!r})",)), 0
    scales = per_axis(scale_factor, n) if scale_factor is not None else (None,) * n
    axes = tuple(InterpolateAxis(mode, bool(align_corners), None if sc is None else float(sc), ni, no)
                 for sc, ni, no in zip(scales, x.shape[2:], out.shape[2:]))
    return call.spatial("interpolate", axes)

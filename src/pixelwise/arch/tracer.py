"""Trace any ``nn.Module`` into a :class:`~pixelwise.arch.state.Graph` of layers.

Tracing runs the real ``forward`` once (on the ``meta`` device by default: shapes only, no arithmetic)
under a ``TorchFunctionMode`` that records every torch call, plus module hooks that keep known layers
(``nn.Conv2d``, ``nn.MultiheadAttention``, ...) as one node each. Unlike ``torch.fx`` symbolic tracing,
this follows data-dependent Python (the U-Net's ``if ph or pw: F.pad(...)``) and sees functional calls
(``F.max_pool2d``, ``torch.cat``, slicing) as well as modules. Each call is classified by
:func:`pixelwise.arch.classify.classify`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from pixelwise.arch.classify import classify
from pixelwise.arch.layers import AxisRF
from pixelwise.arch.ops import ATOMIC_MODULES
from pixelwise.arch.state import Graph, Node, Spatial
from pixelwise.errors import PixelwiseError


def tensors_in(obj) -> list[torch.Tensor]:
    """Every tensor in ``obj`` (a tensor, or nested lists, tuples and dict values), in order."""
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in tensors_in(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in tensors_in(o)]
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
        for t in tensors_in(args) + tensors_in(kwargs):
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
        outs = tensors_in(output)
        ids, ins = self._sources(args, kwargs)
        if not ids or not outs:
            return
        out = outs[0]
        states = [self.nodes[i].state for i in ids]
        in_shapes = [tuple(t.shape) for t in ins]
        kind, axes, state, macs = classify(name, op, module, args, kwargs, ins, out, states, in_shapes)
        params = tuple(dict.fromkeys(
            list(module.parameters()) if module is not None
            else [t for t in tensors_in(args) + tensors_in(kwargs) if isinstance(t, nn.Parameter)]))
        node = Node(0, name, kind, op, tuple(ids), tuple(out.shape), state, axes, module, params, macs)
        self._add(node, outs)


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
    outs = tensors_in(y)
    if not outs or id(outs[0]) not in tracer.producer:
        raise PixelwiseError("the model's output does not depend on its input; nothing to trace.")
    return Graph(tracer.nodes, tracer.producer[id(outs[0])], input_shape, copy_)

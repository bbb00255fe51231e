"""What a traced tensor knows about its input pixels (its *state*), and the recorded graph of layers.

- :class:`Spatial`: one :class:`~pixelwise.arch.layers.AxisRF` per spatial axis, propagated with
  Araujo et al.'s rules (Distill 2019); at a merge (``torch.cat`` of channels, ``+``) the hull of the
  branches' receptive fields (the union), which needs equal jumps;
- :class:`Global`: every element depends on every input pixel (attention mixes all tokens; global pooling);
- :class:`Opaque`: the spatial layout was rearranged (``flatten``, ``reshape``) and is no longer followed;
- :class:`Unknown`: an operation with no rule here, reported by name; nothing is guessed.

:func:`combine` and :func:`apply_axes` are the two propagation rules; :func:`format_state` says a state in
one phrase. The tracer that fills a :class:`Graph` is :mod:`pixelwise.arch.tracer`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from pixelwise.arch.layers import AxisRF, format_fraction


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


def merged_unknown(states: list) -> Unknown | None:
    """The union of the names of the :class:`Unknown` states among ``states`` (first-seen order), else None."""
    unknown = [s for s in states if isinstance(s, Unknown)]
    if unknown:
        return Unknown(tuple(dict.fromkeys(n for s in unknown for n in s.names)))
    return None


def combine(name: str, states: list, in_shapes: list, out_shape) -> object:
    """State after a merge (or a pointwise op on several tracked tensors): the union of receptive fields."""
    unknown = merged_unknown(states)
    if unknown is not None:
        return unknown
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


def apply_axes(state, axes) -> object:
    """State after a layer that maps each spatial axis by ``axes`` (``ax.rf(previous AxisRF)``)."""
    if isinstance(state, (Unknown, Global, Opaque)):
        return state
    return Spatial(tuple(ax.rf(prev) for ax, prev in zip(axes, state.axes)))


def format_state(state) -> str:
    """One phrase for a receptive-field state: '25', '25x25 (jump 8)', 'global', 'unknown: ...'."""
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

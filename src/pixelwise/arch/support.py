"""The receptive field of a traced model, and the exact support of one output pixel.

The analytic receptive field is the output's state (Araujo, Norris and Sim, Distill 2019): a span of input
coordinates per axis, :func:`hull`. The exact support, :func:`pixel_support`, walks the graph backwards
with each layer's per-axis dependency matrices, so it sees the holes that strides and the phases of
transposed convolutions leave inside that span; compare with the gradient's support
(:func:`pixelwise.arch.empirical.gradient_support`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
from torch import nn

from pixelwise.arch.axes import IdentityAxis
from pixelwise.arch.state import Global, Graph, Node, Spatial
from pixelwise.arch.tracer import trace
from pixelwise.errors import PixelwiseError

_EVERYTHING = "all"  # a mask meaning every pixel of the node's input


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
    for node in reversed(graph.nodes[1:out.index + 1]):
        m = masks.pop(node.index, None)
        if m is not None:
            _push_back(graph, node, m, masks)
    m = masks.get(0)
    if m is None:
        return np.zeros(graph.input_shape[2:], dtype=bool)
    return np.ones(graph.input_shape[2:], dtype=bool) if m is _EVERYTHING else m


def _push_back(graph: Graph, node: Node, m, masks: dict[int, object]) -> None:
    """Map the mask ``m`` over ``node``'s output to each of its inputs, adding it to ``masks`` (a union)."""
    mixes_all = isinstance(node.state, Global)  # every element needs all of its inputs
    for i in node.inputs:
        src = graph.nodes[i]
        in_spatial = src.out_shape[2:]
        if m is _EVERYTHING or mixes_all:
            new = _EVERYTHING
        elif node.axes is None:
            raise PixelwiseError(f"cannot map pixel masks back through {node.name} ({node.op}).")
        else:
            new = _back(m, _deps(graph, node, in_spatial))
        if isinstance(src.state, Spatial) and new is _EVERYTHING:
            new = np.ones(in_spatial, dtype=bool)
        old = masks.get(i)
        if old is None:
            masks[i] = new
        elif old is _EVERYTHING or new is _EVERYTHING:
            masks[i] = _EVERYTHING
        else:
            masks[i] = old | new


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

"""Shape planning and the layer summary table of any ``nn.Module``.

:func:`plan_shapes` lists every layer's output shape; :func:`accepted_input_sizes` finds the input sizes a
model takes by running it on the ``meta`` device (no arithmetic). :func:`summarize` adds parameters,
multiply-adds and the receptive field with its jump. Parameters are counted by identity, so a layer used
twice (or two layers sharing a weight) counts its parameters once -- the later uses show 0 and are
marked shared; the total equals ``sum(p.numel() for p in model.parameters())``, which deduplicates too.

Multiply-adds count convolutions (output elements x C_in / groups x kernel area), transposed
convolutions (input elements x C_out / groups x kernel area), linear layers and attention (projections
and the two L x L products); pooling, normalisation and activations count 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from torch import nn

from pixelwise.arch.layers import format_fraction
from pixelwise.arch.state import Global, Graph, Opaque, Spatial
from pixelwise.arch.tracer import trace
from pixelwise.errors import PixelwiseError


@dataclass(frozen=True)
class SummaryRow:
    name: str
    kind: str
    op: str
    out_shape: tuple[int, ...]
    params: int  # parameters first used here
    shared: bool  # uses parameters already counted in an earlier row
    macs: int
    rf: str  # "25x25", "global", "-" (layout lost) or "?" (unknown)
    jump: str


@dataclass(frozen=True)
class Summary:
    rows: list[SummaryRow]
    total_params: int
    trainable_params: int
    total_macs: int
    output_rf: str
    unknown: list[str]  # layers with no receptive-field rule, by name
    input_shape: tuple[int, ...]


def _rf_strings(state) -> tuple[str, str]:
    if isinstance(state, Spatial):
        sizes = [format_fraction(a.size) for a in state.axes]
        jumps = [format_fraction(a.jump) for a in state.axes]
        return ("x".join(sizes) if len(set(sizes)) > 1 else sizes[0]), (
            "x".join(jumps) if len(set(jumps)) > 1 else jumps[0])
    if isinstance(state, Global):
        return "global", "-"
    if isinstance(state, Opaque):
        return "-", "-"
    return "?", "?"


def plan_shapes(model: nn.Module, input_shape: Sequence[int]) -> list[tuple[str, str, tuple[int, ...]]]:
    """(layer name, kind, output shape) for every recorded layer, in execution order."""
    graph = trace(model, input_shape)
    return [(n.name, n.kind, n.out_shape) for n in graph.nodes[1:]]


def accepted_input_sizes(model: nn.Module, sizes: Iterable[int], channels: int, ndim: int = 2,
                         batch: int = 1) -> dict[int, tuple[int, ...]]:
    """{size: output shape} for the square (cubic, ...) input sizes in ``sizes`` that the model accepts.

    Each size is tried with a forward pass on the ``meta`` device; a size is rejected when the forward pass
    raises (for instance the valid-padding U-Net's check, or a kernel larger than its input).
    """
    accepted = {}
    for s in sizes:
        try:
            graph = trace(model, (batch, channels) + (int(s),) * ndim)
        except PixelwiseError:
            continue
        accepted[int(s)] = graph.nodes[graph.output].out_shape
    return accepted


def summarize(model: nn.Module, input_shape: Sequence[int], graph: Graph | None = None) -> Summary:
    """The summary table of ``model`` on an input of ``input_shape`` (see the module docstring)."""
    graph = graph if graph is not None else trace(model, input_shape)
    seen: set[int] = set()
    rows = []
    for node in graph.nodes[1:]:
        fresh = [p for p in node.params if id(p) not in seen]
        shared = len(fresh) < len(node.params)
        seen.update(id(p) for p in node.params)
        rf, jump = _rf_strings(node.state)
        rows.append(SummaryRow(node.name, node.kind, node.op, node.out_shape, sum(p.numel() for p in fresh),
                               shared, node.macs, rf, jump))
    params = list(graph.model.parameters())  # deduplicated by PyTorch
    total = sum(p.numel() for p in params)
    counted = sum(r.params for r in rows)
    if counted < total:  # e.g. a position embedding that is interpolated before use, or unused layers
        rows.append(SummaryRow("(other parameters)", "-", "-", (), total - counted, False, 0, "", ""))
    rf, jump = _rf_strings(graph.output_state)
    return Summary(rows, total, sum(p.numel() for p in params if p.requires_grad), sum(r.macs for r in rows),
                   rf if rf in ("global", "-", "?") else f"{rf} (jump {jump})",
                   [n.name for n in graph.unknown], graph.input_shape)


def _human(n: int) -> str:
    for unit, scale in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def format_summary(summary: Summary) -> str:
    """The summary as a plain-text table with a totals line."""
    header = ("layer", "kind", "output shape", "params", "mult-adds", "RF", "jump")
    lines = [header]
    for r in summary.rows:
        params = f"{r.params:,}" + (" (shared)" if r.shared else "")
        shape = "x".join(str(s) for s in r.out_shape) if r.out_shape else ""
        kind = r.op if r.kind == "unknown" else r.kind
        lines.append((r.name, kind, shape, params, _human(r.macs) if r.macs else "0", r.rf, r.jump))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    out = ["  ".join(str(v).ljust(w) for v, w in zip(line, widths)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    out.append("")
    out.append(f"total parameters: {summary.total_params:,} (trainable {summary.trainable_params:,}; shared "
               "parameters counted once)")
    out.append(f"total multiply-adds: {summary.total_macs:,} ({_human(summary.total_macs)}) for input "
               f"{'x'.join(str(s) for s in summary.input_shape)}")
    out.append(f"receptive field of the output: {summary.output_rf}")
    if summary.unknown:
        out.append("no receptive-field rule for: " + ", ".join(dict.fromkeys(summary.unknown)))
    return "\n".join(out)

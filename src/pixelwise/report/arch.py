"""Plot of a model's effective receptive field next to its theoretical one (matplotlib, Agg backend).

The effective receptive field (Luo, Li, Urtasun and Zemel, NeurIPS 2016) is the mean gradient magnitude
of one output pixel over the input (:func:`pixelwise.arch.effective_receptive_field`); the theoretical
receptive field is the exact support of the same pixel (:func:`pixelwise.arch.pixel_support`), drawn as
a contour, and the analytic hull as a dashed rectangle.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import torch
from torch import nn

from pixelwise.arch import Spatial, effective_receptive_field, hull, pixel_support, trace

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from pixelwise.report.plots import save_figure


def plot_effective_receptive_field(model: nn.Module, input_shape: Sequence[int], path: str | Path,
                                   index: Sequence[int] | None = None, n_samples: int = 8,
                                   generator: torch.Generator | None = None,
                                   title: str | None = None) -> Path:
    """Write a PNG of the effective receptive field of output pixel ``index`` (default the centre).

    2D inputs only. The theoretical support is outlined (white) when the graph has rules for every layer;
    for a global receptive field (transformers) the title says so. Returns the path.
    """
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) != 4:
        raise ValueError(f"input shape {input_shape} must be (N, C, H, W) for a 2D plot.")
    graph = trace(model, input_shape)
    out_shape = graph.nodes[graph.output].out_shape
    index = tuple(index) if index is not None else tuple(s // 2 for s in out_shape[2:])
    erf = effective_receptive_field(model, input_shape, index, n_samples=n_samples, generator=generator)
    state = graph.output_state
    fig, ax = plt.subplots(figsize=(4.6, 4.2), dpi=110)
    im = ax.imshow(erf, cmap="magma", interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, label="mean |gradient| (max = 1)")
    note = ""
    if not graph.unknown:
        support = pixel_support(graph, index)
        ax.contour(support.astype(float), levels=[0.5], colors="white", linewidths=0.8)
        note = f"theoretical RF: {int(support.any(1).sum())} x {int(support.any(0).sum())} px (white)"
    if isinstance(state, Spatial):
        (y0, y1), (x0, x1) = hull(state, index)
        ax.add_patch(Rectangle((float(x0) - 0.5, float(y0) - 0.5), float(x1 - x0 + 1), float(y1 - y0 + 1),
                               fill=False, ls="--", lw=0.8, ec="cyan"))
    elif not graph.unknown:
        note = "global receptive field (attention)"
    ax.set_title(title or f"effective receptive field of output pixel {index}", fontsize=9)
    ax.set_xlabel(note, fontsize=8)
    ax.set_xlim(-0.5, erf.shape[1] - 0.5)
    ax.set_ylim(erf.shape[0] - 0.5, -0.5)
    return save_figure(fig, path)


def erf_radius(erf: np.ndarray, fraction: float = 0.95) -> float:
    """Radius (pixels, around the peak) holding ``fraction`` of the effective receptive field's mass."""
    peak = np.unravel_index(np.argmax(erf), erf.shape)
    yy, xx = np.indices(erf.shape)
    r = np.hypot(yy - peak[0], xx - peak[1]).ravel()
    order = np.argsort(r)
    mass = np.cumsum(erf.ravel()[order])
    return float(r[order][np.searchsorted(mass, fraction * mass[-1])])

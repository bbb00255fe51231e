"""Side-by-side figures of reconstructions (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pixelwise.report.plots import save_figure


def side_by_side(
    panels: Sequence[tuple[str, np.ndarray]], path: str | Path, title: str | None = None
) -> Path:
    """One row of images with a title each; arrays are ``(H, W)`` grey or ``(H, W, 3)`` in [0, 1]."""
    if not panels:
        raise ValueError("side_by_side needs at least one panel.")
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(2.8 * n, 3.2), dpi=110, squeeze=False)
    for ax, (label, img) in zip(axes[0], panels):
        img = np.clip(np.asarray(img, dtype=float), 0, 1)
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(label, fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def grid(rows: Sequence[Sequence[tuple[str, np.ndarray]]], path: str | Path, title: str | None = None) -> Path:
    """Rows of labelled images (``(H, W)`` grey or ``(H, W, 3)`` in [0, 1]); rows may differ in length."""
    if not rows or not any(rows):
        raise ValueError("grid needs at least one panel.")
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.4 * n_cols, 2.6 * n_rows), dpi=100, squeeze=False)
    for r, row in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(row):
                label, img = row[c]
                img = np.clip(np.asarray(img, dtype=float), 0, 1)
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
                ax.set_title(label, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)

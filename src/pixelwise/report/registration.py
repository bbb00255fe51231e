"""The figure of ``pixelwise register``: the images, their differences before and after, and the transform."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pixelwise.report.plots import plt, save_figure


def _show(x: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) in [0, 1] -> (H, W) or (H, W, 3) for imshow."""
    a = x[0].clamp(0, 1).permute(1, 2, 0).numpy()
    return a[..., 0] if a.shape[-1] == 1 else a


def checkerboard(a: np.ndarray, b: np.ndarray, tiles: int = 8) -> np.ndarray:
    """Alternating square tiles of two images of the same shape (a where the tile is even)."""
    h, w = a.shape[:2]
    i, j = np.mgrid[0:h, 0:w]
    even = ((i * tiles // h) + (j * tiles // w)) % 2 == 0
    return np.where(even[..., None] if a.ndim == 3 else even, a, b)


def _grid_lines(ax, reg, step: int) -> None:
    """The fixed grid's lines carried by T, drawn in the fixed image's frame (where each line samples the
    moving image), every ``step`` pixels."""
    grid = reg.grid()[0].detach().numpy()  # (H, W, 2) normalised moving coordinates
    h, w = reg.moving_shape
    cols, rows = (grid[..., 0] + 1) * w / 2 - 0.5, (grid[..., 1] + 1) * h / 2 - 0.5
    for r in range(0, grid.shape[0], step):
        ax.plot(cols[r], rows[r], color="yellow", lw=0.6)
    for c in range(0, grid.shape[1], step):
        ax.plot(cols[:, c], rows[:, c], color="yellow", lw=0.6)
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)


def write_figure(path: str | Path, fixed, moving, before, warped, reg, metric: str, metrics: dict) -> Path:
    """Fixed, moving and warped images; |fixed - moving| before and |fixed - warped| after with the chosen
    similarity; a checkerboard of fixed and warped; and the moving image with the transformed grid."""
    grey = dict(cmap="gray", vmin=0, vmax=1)
    fig, axes = plt.subplots(2, 3, figsize=(11, 7.4), dpi=90)
    f, b, w = _show(fixed), _show(before), _show(warped)
    panels = [(f, "fixed", grey), (_show(moving), "moving", grey), (w, "warped moving", grey),
              (np.abs(f - b).mean(-1) if f.ndim == 3 else np.abs(f - b),
               f"|fixed - moving|, {metric} {metrics['before'][metric]:.4f}", {"cmap": "magma", "vmin": 0, "vmax": 1}),
              (np.abs(f - w).mean(-1) if f.ndim == 3 else np.abs(f - w),
               f"|fixed - warped|, {metric} {metrics['after'][metric]:.4f}", {"cmap": "magma", "vmin": 0, "vmax": 1}),
              (checkerboard(f, w), "checkerboard fixed / warped", grey)]
    for ax, (img, title, style) in zip(axes.flat, panels):
        ax.imshow(img, **(style if img.ndim == 2 else {}))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    _grid_lines(axes[0, 1], reg, max(4, max(reg.fixed_shape) // 16))
    axes[0, 1].set_title("moving, with the fixed grid carried by T", fontsize=9)
    return save_figure(fig, path)

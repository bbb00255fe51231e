"""Figures of ``explain``: each image beside its prediction and one overlay per method, the first layer's filters,
and an activation-maximisation image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pixelwise.report.plots import plt, save_figure


def _display(x: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (H, W) grey or (H, W, 3)."""
    a = x.detach().float().clamp(0, 1).numpy()
    return a[0] if a.shape[0] == 1 else np.moveaxis(a[:3], 0, -1)


def _prediction(kind: str, output: torch.Tensor, region: np.ndarray | None) -> tuple[np.ndarray, str]:
    if kind == "segment":
        shown = (output[0] > 0).float() if output.shape[0] == 1 else output.argmax(0).float()
        return shown.numpy(), "prediction"
    if kind == "restore":
        return _display(output), "restored"
    return None, f"class {int(output.argmax())}"


def overlay_figure(path: Path, kind: str, image: torch.Tensor, output: torch.Tensor, region: np.ndarray | None,
                   maps: dict[str, np.ndarray], title: str) -> Path:
    """image | prediction (with the explained region outlined) | a heat map over the grey image per method."""
    cols = 2 + len(maps)
    fig, axes = plt.subplots(1, cols, figsize=(2.3 * cols, 2.6), dpi=100, squeeze=False)
    axes = axes[0]
    shown = _display(image)
    grey = shown if shown.ndim == 2 else shown.mean(-1)
    axes[0].imshow(shown, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("image", fontsize=8)
    pred, label = _prediction(kind, output, region)
    if pred is not None:
        axes[1].imshow(pred, cmap="gray")
    else:
        probs = torch.softmax(output, 0).numpy()
        axes[1].bar(range(len(probs)), probs)
    if region is not None:
        axes[1].contour(region.astype(float), levels=[0.5], colors="magenta", linewidths=1)
        axes[0].contour(region.astype(float), levels=[0.5], colors="magenta", linewidths=0.6)
    axes[1].set_title(label, fontsize=8)
    for ax, (name, m) in zip(axes[2:], maps.items()):
        ax.imshow(grey, cmap="gray", vmin=0, vmax=1)
        top = float(np.abs(m).max()) or 1.0
        ax.imshow(np.abs(m) / top, cmap="inferno", alpha=0.6, vmin=0, vmax=1)
        ax.set_title(name, fontsize=8)
    for ax in axes:
        if ax is not axes[1] or pred is not None:
            ax.axis("off")
    fig.suptitle(title, fontsize=8)
    return save_figure(fig, path)


def filters_figure(path: Path, filters: torch.Tensor) -> Path:
    """A grid of (F, C, k, k) filters in [0, 1] (colour for 3 channels, grey otherwise: the channel mean)."""
    n = len(filters)
    cols = min(n, 16)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(0.6 * cols + 0.4, 0.6 * rows + 0.5), dpi=100, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, f in zip(axes.flat, filters):
        a = f.numpy()
        ax.imshow(np.moveaxis(a, 0, -1) if a.shape[0] == 3 else a.mean(0), cmap="gray", vmin=0, vmax=1,
                  interpolation="nearest")
    fig.suptitle(f"first-layer filters ({n} of {tuple(filters.shape[1:])})", fontsize=8)
    return save_figure(fig, path)


def maximise_figure(path: Path, image: torch.Tensor, trace: list[float], title: str) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(6, 2.8), dpi=100)
    axes[0].imshow(_display(image[0]), cmap="gray", vmin=0, vmax=1)
    axes[0].axis("off")
    axes[1].plot(trace)
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("mean activation")
    axes[1].grid(alpha=0.3)
    fig.suptitle(title, fontsize=8)
    return save_figure(fig, path)

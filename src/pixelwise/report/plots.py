"""Plots of training histories (matplotlib, Agg backend: works without a screen)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig, path: str | Path) -> Path:
    """Lay out, write (creating the folder) and close a matplotlib figure; returns the path."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_history(history: Sequence[dict], path: str | Path, keys: Sequence[str], title: str,
                 ylabel: str, x: str = "epoch", log_y: bool = False) -> Path | None:
    """One line per key against ``x`` (the epoch); returns the path, or None when no key has values."""
    keys = [k for k in keys if history and k in history[0]]
    if not keys:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=110)
    epochs = [row[x] for row in history]
    for k in keys:
        ax.plot(epochs, [row[k] for row in history], marker="o", ms=3, label=k)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)

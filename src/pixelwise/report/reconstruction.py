"""Side-by-side figures of reconstructions (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


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
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path

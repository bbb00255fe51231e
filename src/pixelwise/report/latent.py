"""Reports for latent models: image grids (originals / reconstructions / samples), latent scatter plots
coloured by label, anomaly maps, and a report.html. Images are numpy arrays (N, 1, H, W) in [0, 1]."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pixelwise.report.plots import plot_history, plt, save_figure
from pixelwise.train.files import read_csv, write_text


def image_grid(rows: Sequence[np.ndarray], path: str | Path, row_titles: Sequence[str] | None = None,
               title: str = "", cmap: str = "gray", vmax: float | None = 1.0) -> Path:
    """One row of images per array (each (n, 1, H, W) or (n, H, W)); rows longer than 16 wrap."""
    rows = [np.asarray(r).reshape(len(r), *np.asarray(r).shape[-2:]) for r in rows]
    per_row = 16
    wrapped: list[tuple[str, np.ndarray]] = []
    for i, r in enumerate(rows):
        name = row_titles[i] if row_titles else ""
        for start in range(0, max(len(r), 1), per_row):
            wrapped.append((name if start == 0 else "", r[start:start + per_row]))
    cols = max(len(r) for _, r in wrapped)
    fig, axes = plt.subplots(len(wrapped), cols, figsize=(0.9 * cols + 0.8, 0.9 * len(wrapped) + 0.5), dpi=90,
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (name, r) in enumerate(wrapped):
        for j, image in enumerate(r):
            axes[i, j].imshow(image, cmap=cmap, vmin=0, vmax=vmax if vmax is not None else image.max() or 1)
        if name:
            axes[i, 0].set_title(name, fontsize=7, loc="left")
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def latent_scatter(codes2d: np.ndarray, labels: np.ndarray | None, path: str | Path, title: str) -> Path:
    """A 2-D scatter of codes, coloured by class label when there are labels."""
    fig, ax = plt.subplots(figsize=(5, 4.4), dpi=100)
    if labels is None:
        ax.scatter(codes2d[:, 0], codes2d[:, 1], s=4, alpha=0.6)
    else:
        sc = ax.scatter(codes2d[:, 0], codes2d[:, 1], c=labels, cmap="tab10", s=4, alpha=0.7,
                        vmin=-0.5, vmax=9.5)
        fig.colorbar(sc, ax=ax, ticks=range(10), label="label")
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def write_latent_report(run_dir: Path, title: str, metrics: dict, figures: Sequence[Path | None]) -> Path:
    """report.html in ``run_dir`` (a run folder, or an evaluation folder without a history) with the headline
    metrics (as JSON), the training curves when there is a history.csv, and every figure (in ``run_dir/plots``)."""
    run_dir = Path(run_dir)
    history = read_csv(run_dir / "history.csv") if (run_dir / "history.csv").is_file() else []
    plots = run_dir / "plots"
    curves = [plot_history(history, plots / "loss.png", ["train_loss", "val_loss"], "loss", "loss"),
              plot_history(history, plots / "val_mse.png", ["val_mse"], "validation MSE", "MSE"),
              plot_history(history, plots / "val_coverage.png", ["val_coverage", "val_confident"],
                           "mode coverage of generated samples", "score")]
    shown = [f for f in [*curves, *figures] if f is not None]
    imgs = "".join(f'<p><img src="plots/{Path(f).name}" style="max-width:100%"></p>' for f in shown)
    body = html.escape(json.dumps(metrics, indent=1, default=float))
    name = html.escape(run_dir.name)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>pixelwise {name}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}pre{{background:#f4f4f4;padding:8px}}</style>
</head><body><h1>{name}: {html.escape(title)}</h1>
<pre>{body}</pre>{imgs}</body></html>"""
    write_text(run_dir / "report.html", page)
    return run_dir / "report.html"


__all__ = ["image_grid", "latent_scatter", "write_latent_report"]

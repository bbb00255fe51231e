"""Segmentation reports: loss and IoU curves, galleries of good / partial / poor cases, report.html."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from scipy import ndimage

from pixelwise.data.decode import to_unit
from pixelwise.report.plots import plot_history, plt, save_figure


def outline(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels of a boolean mask, thickened to about 2 pixels per 500 so they show on large images."""
    mask = mask.astype(bool)
    edge = mask & ~ndimage.binary_erosion(mask)
    width = max(1, round(max(mask.shape) / 250))
    return ndimage.binary_dilation(edge, iterations=width - 1) if width > 1 else edge


def _overlay(image: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """The image with the truth outlined in green and the prediction in magenta (foreground = label > 0)."""
    rgb = to_unit(image)  # any decoded depth -> [0, 1]
    if rgb.shape[-1] == 1:
        rgb = np.repeat(rgb, 3, axis=-1)
    rgb[outline(truth > 0)] = (0.1, 0.95, 0.2)
    rgb[outline(pred > 0)] = (1.0, 0.1, 0.9)
    return rgb


def gallery(tiles, path: str | Path, title: str, columns: int = 4) -> Path | None:
    """A grid of (stem, image, truth, prediction, iou) tiles; returns the path or None if there are none."""
    if not tiles:
        return None
    rows = (len(tiles) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3 * rows + 0.4), dpi=90, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (stem, image, truth, pred, iou) in zip(axes.flat, tiles):
        ax.imshow(_overlay(image, truth, pred))
        ax.set_title(f"{stem[:18]}  IoU {iou:.2f}", fontsize=8)
    fig.suptitle(f"{title} (green: truth, magenta: prediction)", fontsize=10)
    return save_figure(fig, path)


def size_table(metrics: dict) -> str:
    """The HTML table of the breakdown by true structure size (``metrics["by_size"]``), or "" without one."""
    by_size = metrics.get("by_size")
    if not by_size:
        return ""
    keys = [k for k in ("dice", "iou", "hd95", "assd", "rmssd") if any(
        k in b.get("metrics", {}) for b in by_size["bins"].values())]
    head = "".join(f"<th>{k} mean [95% CI]</th>" for k in keys)
    rows = []
    for name, b in by_size["bins"].items():
        span = f"{b['area_min']:.4g} to {b['area_max']:.4g}" if b["n_cases"] else ""
        cells = "".join(f"<td>{b['metrics'][k]['mean']:.3f} [{b['metrics'][k]['ci_low']:.3f}, "
                        f"{b['metrics'][k]['ci_high']:.3f}]</td>" if b["n_cases"] and k in b["metrics"] else "<td></td>"
                        for k in keys)
        cats = ", ".join(f"{k} {v}" for k, v in b.get("categories", {}).items() if v)
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{b['n_cases']}</td><td>{span}</td>{cells}"
                    f"<td>{html.escape(cats)}</td></tr>")
    return (f"<h2>By structure size</h2><p>{html.escape(by_size['rule'])} (areas in {html.escape(by_size['area_unit'])}"
            ").</p><table><tr><th>bin</th><th>cases</th><th>true area</th>" + head + "<th>categories</th></tr>"
            + "".join(rows) + "</table>")


def write_report(dest: Path, config, metrics: dict, tiles, history: list[dict], extra_html: str = "") -> Path:
    """``dest/report.html`` with the training curves (of ``history``, if any), the metrics table, the breakdown by
    structure size, ``extra_html`` (e.g. a comparison table) and the galleries of good, partial and poor cases by
    IoU (the tiers; the case categories are counted separately)."""
    plots = dest / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    figures = [
        plot_history(history, plots / "loss.png", ["train_loss", "val_loss"], "loss", "loss"),
        plot_history(history, plots / "val_iou.png", ["val_iou"], "validation IoU", "IoU"),
    ]
    groups = {
        "good": [t for t in tiles if t[4] >= config.good_iou],
        "partial": [t for t in tiles if config.partial_iou <= t[4] < config.good_iou],
        "poor": [t for t in tiles if t[4] < config.partial_iou],
    }
    limits = {"good": f"IoU >= {config.good_iou}", "partial": f"{config.partial_iou} <= IoU < {config.good_iou}",
              "poor": f"IoU < {config.partial_iou}"}
    for name, group in groups.items():
        # the worst of each tier are the informative ones
        chosen = sorted(group, key=lambda t: t[4])[: config.gallery_size]
        figures.append(gallery(chosen, plots / f"gallery_{name}.png", f"{name}: {len(group)} cases, {limits[name]}"))
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v['mean']:.4f}</td><td>{v['median']:.4f}</td><td>{v['std']:.4f}</td>"
        f"<td>[{v['ci_low']:.4f}, {v['ci_high']:.4f}]</td></tr>" for k, v in metrics["metrics"].items()
        if k not in ("tp", "fp", "fn", "tn"))
    cats = ", ".join(f"{k}: {v}" for k, v in metrics.get("categories", {}).items())
    tiers = ", ".join(f"{k}: {len(v)} ({limits[k]})" for k, v in groups.items())
    imgs = "".join(f'<p><img src="plots/{f.name}" style="max-width:100%"></p>' for f in figures if f is not None)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>pixelwise run {html.escape(dest.name)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}td,th{{padding:2px 8px;text-align:right}}</style>
</head><body><h1>{html.escape(dest.name)}: {html.escape(config.model)} segmentation</h1>
<p>Evaluated on the {html.escape(str(metrics.get('source', 'test split')))}: {metrics['n_cases']} cases at their
original sizes. Case categories: {html.escape(cats)}. Empty-mask policy: both-empty cases score {config.empty_score},
missed cases (empty prediction, non-empty truth) and false alarms (the reverse) score 0 and a surface distance
equal to the image diagonal. Galleries by IoU: {html.escape(tiers)}.</p>
<table><tr><th>metric</th><th>mean</th><th>median</th><th>std</th><th>95% bootstrap CI</th></tr>{rows}</table>
{size_table(metrics)}{extra_html}
{imgs}</body></html>"""
    (dest / "report.html").write_text(page)
    return dest / "report.html"

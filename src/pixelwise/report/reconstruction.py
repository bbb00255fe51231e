"""Side-by-side figures of reconstructions (matplotlib, Agg backend) and the restoration report.html."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pixelwise.report.plots import plot_history, save_figure
from pixelwise.train.files import write_text


def measurement_picture(op, y) -> np.ndarray:
    """A [0, 1] picture of a measurement ``y`` (N, ...) of ``op`` for figures: the k-space log-magnitude for MRI,
    the sinogram for CT, the measured image itself otherwise (its first item)."""
    from pixelwise.physics import MRI, Radon, kspace_magnitude

    if isinstance(op, MRI):
        mag = kspace_magnitude(y[0, :1])[0]
        return (mag / mag.max().clamp(min=1e-12)).numpy()
    if isinstance(op, Radon):
        s = y[0, 0]
        return ((s - s.min()) / (s.max() - s.min()).clamp(min=1e-12)).numpy()
    return to_display(y[0])


def to_display(img) -> np.ndarray:
    """(C, H, W) or (1, C, H, W) tensor -> (H, W) or (H, W, C) numpy in [0, 1] for ``imshow``."""
    img = img.detach().double().reshape(img.shape[-3:]).clamp(0, 1)
    return img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy()


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


_PROTOCOLS = {
    "denoise": "8-bit output, PSNR with peak 255, no border crop (the DnCNN / BM3D tables)",
    "sr": "Y channel (BT.601), a border of scale pixels shaved (the SRCNN / VDSR tables)",
    "plain": "output clipped to [0, 1], data range 1, whole image",
}


def _cells(s: dict, digits: int, signed: bool = False) -> str:
    """Three table cells of a summary: mean, median, [interval]."""
    f = f"{{:{'+' if signed else ''}.{digits}f}}".format
    return f"<td>{f(s['mean'])}</td><td>{f(s['median'])}</td><td>[{f(s['ci_low'])}, {f(s['ci_high'])}]</td>"


def write_report(dest: str | Path, metrics: dict, history: Sequence[dict] = ()) -> Path:
    """``report.html`` of a restoration evaluation (the ``metrics.json`` of ``pixelwise restore eval``) in
    ``dest``: the scores of every method with their bootstrap intervals, the network's paired gains, the TV
    weight search, the figure grid (``dest/plots/figure.png``), the training curves (from ``history``: the run's
    own evaluation has them, one on other data does not) and a per-image table. Images are linked relatively
    (``plots/``), so the folder can be moved or zipped as a whole."""
    dest = Path(dest)
    plots = dest / "plots"
    curves = [plot_history(history, plots / "loss.png", ["train_loss", "val_loss", "val_meas_loss"], "loss", "loss"),
              plot_history(history, plots / "val_psnr.png", ["val_psnr"], "validation PSNR", "PSNR (dB)")
              ] if history else []
    imgs = "".join(f'<p><img src="plots/{f.name}" style="max-width:100%"></p>' for f in [plots / "figure.png", *curves]
                   if f is not None and f.is_file())
    esc, boot = html.escape, metrics["bootstrap"]
    level = f"{boot['confidence']:.0%}"
    name = esc(dest.name)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>pixelwise run {name}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}td,th{{padding:2px 8px;text-align:right}}</style>
</head><body><h1>{name}: {esc(metrics['model'])} for {esc(metrics['task'])} ({esc(metrics['regime'])} regime)</h1>
<p>Evaluated on {esc(str(metrics.get('source', '?')))}: {metrics['count']} images, noise sigma {metrics['sigma']:g}
grey levels, {esc(metrics['protocol'])} protocol ({esc(_PROTOCOLS.get(metrics['protocol'], ''))}), the
{esc(metrics.get('checkpoint', 'best'))} checkpoint.
Intervals: {level} {esc(boot['method'])} ({boot['samples']} resamples, seed {boot['seed']}).</p>{_tv_paragraph(metrics)}
{_score_tables(metrics, level)}
<h2>Figures</h2>{imgs}
<h2>Per image</h2>{_per_case_table(metrics)}
</body></html>"""
    path = dest / "report.html"
    write_text(path, page)
    return path


def _names(metrics: dict) -> dict:
    return {"naive": metrics["naive_name"], "tv": "TV", "network": f"network ({metrics['model']})"}


def _tv_paragraph(metrics: dict) -> str:
    """How TV ran: its weight and where it came from, convergence, time against the network's."""
    t = metrics.get("tv")
    if not t:
        return ""
    used = t["iterations_run"]
    text = (f"<p>TV: lambda = {t['lambda']:.4g} ({html.escape(t['lambda_rule'])}); each solve ran until the relative "
            f"change fell below {t['tol']:g} ({t['stopped_by_tolerance']} of {len(used)} did, in {min(used)} to "
            f"{max(used)} iterations; at most {t['max_iterations']}); {t['seconds_per_image']:.2f} s per image "
            f"against {metrics['network_seconds_per_image']:.3f} s for the network.</p>")
    if t.get("search"):
        tried = ", ".join(f"{lam:.3g}: {score:.2f}" for lam, score in t["search"]["table"])
        text += (f"<p>Search on {t['search']['images']} validation images: {html.escape(t['search']['summary'])}. "
                 f"Mean validation PSNR (dB) by lambda: {html.escape(tried)}.</p>")
    return text


def _score_tables(metrics: dict, level: str) -> str:
    """Each method's scores, and the network's paired gain over each baseline."""
    esc, names, summary = html.escape, _names(metrics), metrics["summary"]
    scores = "".join(f"<tr><td>{esc(names[m])}</td>{_cells(s['psnr'], 2)}{_cells(s['ssim'], 4)}</tr>"
                     for m, s in summary.items())
    gains = "".join(f"<tr><td>{esc(names[b])}</td>{_cells(g['psnr'], 2, True)}{_cells(g['ssim'], 4, True)}"
                    f"<td>{g['network_better']} of {metrics['count']}</td></tr>" for b, g in metrics["gain"].items())
    return f"""<h2>Scores</h2>
<table><tr><th>method</th><th>PSNR mean</th><th>median</th><th>{level} CI</th><th>SSIM mean</th><th>median</th>
<th>{level} CI</th></tr>{scores}</table>
<h2>Gain of the network (network - baseline, paired by image)</h2>
<table><tr><th>over</th><th>PSNR gain (dB)</th><th>median</th><th>{level} CI</th><th>SSIM gain</th><th>median</th>
<th>{level} CI</th><th>network better (PSNR)</th></tr>{gains}</table>"""


def _per_case_table(metrics: dict) -> str:
    methods, names = list(metrics["summary"]), _names(metrics)
    head = "".join(f"<th>PSNR {html.escape(names[m])}</th>" for m in methods)
    body = "".join(f"<tr><td>{html.escape(str(r['case']))}</td>"
                   + "".join(f"<td>{r[f'psnr_{m}']:.2f}</td>" for m in methods)
                   + f"<td>{r['ssim_network']:.4f}</td></tr>" for r in metrics["per_case"])
    return f"<table><tr><th>image</th>{head}<th>SSIM network</th></tr>{body}</table>"

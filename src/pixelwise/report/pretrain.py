"""Reports of pretraining runs: the pretext task's scores, curves and views (report.html), and the linear probe's."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from pixelwise.report.plots import plot_history
from pixelwise.report.reconstruction import grid
from pixelwise.train.files import write_text

STYLE = "body{font-family:sans-serif;max-width:1000px;margin:auto}td,th{padding:2px 8px;text-align:right}"

_METHODS = {"simclr": "SimCLR (contrastive views, NT-Xent)", "ae": "autoencoder", "dae": "denoising autoencoder",
            "mae": "masked autoencoder", "genesis": "Models Genesis (the whole U-Net restores distorted images)"}


def summary_table(summaries: dict, digits: int = 4, signed: bool = False) -> str:
    """An HTML table of ``{name: summarise(...)}``: mean, median, std and the bootstrap interval."""
    f = f"{{:{'+' if signed else ''}.{digits}f}}".format
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{f(v['mean'])}</td><td>{f(v['median'])}</td>"
                   f"<td>{v['std']:.{digits}f}</td><td>[{f(v['ci_low'])}, {f(v['ci_high'])}]</td></tr>"
                   for k, v in summaries.items())
    return ("<table><tr><th></th><th>mean</th><th>median</th><th>std</th><th>95% bootstrap CI</th></tr>"
            f"{rows}</table>")


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")


def write_report(dest: str | Path, config, metrics: dict, panels: Sequence, history: Sequence[dict] = ()) -> Path:
    """``dest/report.html`` of a pretraining run's evaluation: the scores, the loss curves, and a figure of its views
    (SimCLR) or of its inputs and reconstructions (autoencoders) in ``dest/plots/``."""
    dest = Path(dest)
    plots = dest / "plots"
    figures = [plot_history(history, plots / "loss.png", ["train_loss", "val_loss"], "pretext loss", "loss"),
               plot_history(history, plots / "val_top1.png", ["val_top1"], "validation top-1 of the other view",
                            "accuracy")]
    if panels:
        figures.append(grid(panels, plots / "views.png", title=_METHODS[config.method]))
    images = "".join(f'<p><img src="plots/{f.name}" style="max-width:100%"></p>' for f in figures if f is not None)
    body = (f"<p>{html.escape(_METHODS[config.method])} on the {html.escape(config.model)} encoder, scored on "
            f"{html.escape(str(metrics['source']))}: {metrics['n_cases']} images, the {metrics['checkpoint']} "
            "checkpoint. top1: the share of images whose other view is the nearest of all views in its batch "
            "(cosine similarity of the projections); mse: per image, in normalised units (masked autoencoder: the "
            f"hidden patches only).</p>{summary_table(metrics['metrics'])}{images}")
    path = dest / "report.html"
    write_text(path, _page(f"{dest.name}: pretraining", body))
    return path


def write_probe_report(dest: str | Path, metrics: dict) -> Path:
    """``dest/report.html`` of a linear probe: the accuracy of each encoder's probe and the pretrained one's paired
    differences."""
    dest = Path(dest)
    probe = metrics["probe"]
    acc = summary_table({k: v["correct"] for k, v in probe["summary"].items()}, 4)
    gain = summary_table({f"pretrained - {k}": v["correct"] for k, v in probe["gain"].items()}, 4, signed=True)
    body = (f"<p>Linear probes (multinomial logistic regression on the frozen encoder's globally averaged features, "
            f"standardised; L2 weight chosen on a held-out fifth of the training part) on "
            f"{html.escape(str(metrics['source']))}: {metrics['train_images']} training and {metrics['test_images']} "
            f"test images, {metrics['classes']} classes. Encoders: pretrained (this run), random (the same "
            "architecture, untrained), supervised (trained end to end with labels on the probe's training part for "
            f"{metrics['supervised']['epochs']} epochs). Intervals: 95% bootstrap over test images, paired by image "
            f"for the differences.</p><h2>Accuracy</h2>{acc}<h2>Pretrained minus the others</h2>{gain}")
    path = dest / "report.html"
    write_text(path, _page(f"{dest.name}: linear probe", body))
    return path

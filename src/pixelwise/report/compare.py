"""The report page of a comparison of runs: each run's scores, the paired differences against the first run with
their bootstrap intervals, wins, ties and losses, the case categories side by side, the cases where the runs
disagree most, and every case."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from pixelwise.report.pretrain import STYLE
from pixelwise.report.segmentation import outline
from pixelwise.train.files import write_text


def overlay(image: np.ndarray, truth: np.ndarray, pred: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) in [0, 1]: the image with the truth outlined in green and the prediction (if any) in magenta."""
    rgb = image.astype(np.float32) / 255
    if rgb.ndim == 2 or rgb.shape[-1] == 1:
        rgb = np.repeat(rgb.reshape(*rgb.shape[:2], 1), 3, axis=-1)
    rgb[outline(truth > 0)] = (0.1, 0.95, 0.2)
    if pred is not None:
        rgb[outline(pred > 0)] = (1.0, 0.1, 0.9)
    return rgb


def _f(v: float, digits: int, signed: bool = False) -> str:
    return f"{v:{'+' if signed else ''}.{digits}f}" if np.isfinite(v) else str(v)


def _scores(result: dict, digits: int) -> str:
    keys = result["keys"]
    head = "".join(f"<th>{html.escape(k)} mean</th><th>median</th><th>95% CI</th>" for k in keys)
    rows = ""
    for run, s in result["comparison"]["summary"].items():
        cells = "".join(f"<td>{_f(s[k]['mean'], digits)}</td><td>{_f(s[k]['median'], digits)}</td>"
                        f"<td>[{_f(s[k]['ci_low'], digits)}, {_f(s[k]['ci_high'], digits)}]</td>" for k in keys)
        rows += f"<tr><td>{html.escape(run)}</td>{cells}</tr>"
    return f"<table><tr><th>run</th>{head}</tr>{rows}</table>"


def _differences(result: dict, digits: int) -> str:
    ref = html.escape(result["comparison"]["reference"])
    rows = ""
    for run, diff in result["comparison"]["difference"].items():
        for k in result["keys"]:
            d = diff[k]
            better = "higher" if result["higher"][k] else "lower"
            note = "" if d["ci_low"] > 0 or d["ci_high"] < 0 else " (includes 0)"
            rows += (f"<tr><td>{html.escape(run)}</td><td>{html.escape(k)} ({better} is better)</td>"
                     f"<td>{_f(d['mean'], digits, True)}</td><td>{_f(d['median'], digits, True)}</td>"
                     f"<td>[{_f(d['ci_low'], digits, True)}, {_f(d['ci_high'], digits, True)}]{note}</td>"
                     f"<td>{d['wins']} / {d['ties']} / {d['losses']}</td></tr>")
    return (f"<table><tr><th>run</th><th>metric</th><th>mean difference</th><th>median</th><th>95% paired CI</th>"
            f"<th>wins / ties / losses against {ref}</th></tr>{rows}</table>")


def _categories(result: dict) -> str:
    cats = result.get("categories")
    if not cats:
        return ""
    names = sorted({c for counts in cats["counts"].values() for c in counts})
    head = "".join(f"<th>{html.escape(c)}</th>" for c in names)
    rows = "".join(f"<tr><td>{html.escape(run)}</td>" + "".join(f"<td>{counts.get(c, 0)}</td>" for c in names)
                   + "</tr>" for run, counts in cats["counts"].items())
    moves = "".join(f"<li>{html.escape(run)}: " + "; ".join(
        f"{html.escape(a)} -> " + ", ".join(f"{html.escape(b)} {n}" for b, n in to.items()) for a, to in table.items())
        + "</li>" for run, table in cats["moves"].items())
    ref = html.escape(result["comparison"]["reference"])
    return (f"<h2>Case categories</h2><table><tr><th>run</th>{head}</tr>{rows}</table>"
            f"<p>How each case's category moves from {ref} to the other run:</p><ul>{moves}</ul>")


def _cases(result: dict, digits: int) -> str:
    key, runs = result["keys"][0], result["runs"]
    head = "".join(f"<th>{html.escape(r)}</th>" for r in runs)
    rows = "".join(f"<tr><td>{html.escape(str(row['id']))}</td>"
                   + "".join(f"<td>{_f(row[f'{key}_{r}'], digits)}</td>" for r in runs) + "</tr>"
                   for row in result["per_case"])
    return (f"<h2>Every case ({html.escape(key)}, largest disagreement first)</h2>"
            f"<table><tr><th>case</th>{head}</tr>{rows}</table>")


def write_compare_report(dest: str | Path, result: dict, figure: Path | None) -> Path:
    """``dest/report.html`` of :func:`pixelwise.tasks.compare.compare`'s result (its metrics.json)."""
    dest = Path(dest)
    digits = 3
    boot = result["comparison"]["bootstrap"]
    runs = "".join(f"<li>{html.escape(name)}: {html.escape(path)}</li>" for name, path in result["folders"].items())
    picture = (f'<h2>Where they disagree most</h2><p><img src="plots/{figure.name}" style="max-width:100%"></p>'
               if figure is not None else f"<p>{html.escape(result.get('figure_note', ''))}</p>")
    body = (f"<p>{result['n_cases']} cases, the same for every run ({html.escape(str(result['source']))}). Differences "
            f"are each run minus {html.escape(result['comparison']['reference'])}, case by case; intervals: "
            f"{boot['confidence']:.0%} {html.escape(boot['method'])}, {boot['samples']} resamples, seed "
            f"{boot['seed']}. "
            f"A tie is a difference of at most {result['tie']:g}.</p><ul>{runs}</ul><h2>Scores</h2>"
            f"{_scores(result, digits)}<h2>Paired differences</h2>{_differences(result, digits)}{_categories(result)}"
            f"{picture}{_cases(result, digits)}")
    page = (f'<!doctype html><html><head><meta charset="utf-8"><title>pixelwise {result["command"]} compare</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(result['command'])} compare: "
            f"{html.escape(', '.join(result['runs']))}</h1>{body}</body></html>")
    path = dest / "report.html"
    write_text(path, page)
    return path

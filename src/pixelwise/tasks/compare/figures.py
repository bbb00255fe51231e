"""Figures of the cases where compared runs disagree most: each run's output on the same case, side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pixelwise.report.compare import overlay
from pixelwise.report.reconstruction import grid, to_display


def segment_figure(results, ids: list[str], path: Path) -> Path | None:
    """One row per case: the image with the truth outlined, then each run's prediction (and its Dice). Predictions
    are made again from each run's checkpoint and test-time setting, as its results were scored."""
    from pixelwise.data.folders import ImageMaskFolder
    from pixelwise.tasks.segment import load_run, predict_arrays

    first = results[0].config
    folder = ImageMaskFolder(first.data, first.num_classes, first.threshold, first.channels)
    index = folder.index(ids)
    loaded = [load_run(r.run_dir, r.metrics.get("checkpoint", "best")) for r in results]
    rows = []
    for case, i in zip(ids, index):
        image, truth = folder.read(i)
        row = [(f"{case[:20]}\ntruth", overlay(image, truth, None))]
        for r, (config, net) in zip(results, loaded):
            pred = predict_arrays(net, config, [image], r.metrics.get("tta", "none"))[0]
            row.append((f"{r.name[:24]}\nDice {r.cases[case]['dice']:.3f}", overlay(image, truth, pred)))
        rows.append(row)
    return grid(rows, path, title="cases where the runs disagree most (green: truth, magenta: prediction)")


def restore_figure(results, ids: list[str], path: Path) -> Path | None:
    """One row per case: the truth, each run's reconstruction (and its PSNR), and |difference| x5 of the first two."""
    from pixelwise.tasks.restore import evaluation_cases, load_run

    rows: dict[str, list] = {case: [] for case in ids}
    outputs: dict[str, list] = {case: [] for case in ids}
    for n, r in enumerate(results):
        config, model, fixed_op = load_run(r.run_dir, r.metrics.get("checkpoint", "best"))
        cases, _ = evaluation_cases(config, fixed_op, None, r.metrics.get("protocol", config.eval_protocol))
        for name, y, op, x in cases:
            if name not in rows:
                continue
            with torch.no_grad():
                out = model((y.float(), op)).double().clamp(0, 1)
            if n == 0:
                rows[name].append((f"{name[:20]}\ntruth", to_display(x)))
            rows[name].append((f"{r.name[:24]}\n{r.cases[name]['psnr_network']:.2f} dB", to_display(out)))
            outputs[name].append(out)
    for case in ids:
        a, b = outputs[case][:2]
        rows[case].append((f"|{results[0].name[:10]} - {results[1].name[:10]}| x5", to_display((a - b).abs() * 5)))
    return grid([rows[c] for c in ids], path, title="cases where the runs disagree most")


def disagreements(values: dict[str, list[float]], count: int) -> list[str]:
    """The ``count`` cases whose scores (one per run) spread the most, largest spread first (ties by id)."""
    spread = {case: float(np.nanmax(v) - np.nanmin(v)) if np.isfinite(v).any() else 0.0 for case, v in values.items()}
    return sorted(spread, key=lambda c: (-spread[c], c))[:count]

"""``run(config)``: FGSM or PGD against a run's test cases at every radius; the robustness curve and examples.

Every case is attacked at every epsilon with the run's own loss (segmentation: its training loss against the
true mask; classification: cross-entropy against the label; restoration: MSE against the clean image), the network
in eval mode, and scored with the run's metric at the network's resolution (Dice, accuracy, PSNR). ``metrics.json``
has, per epsilon, the mean, median, spread and a seeded bootstrap interval over the cases (epsilon 0 is the clean
metric); ``per_case.csv`` one row per case and epsilon.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from pixelwise.attacks import fgsm, pgd
from pixelwise.metrics import summarise
from pixelwise.tasks.attack.config import AttackConfig
from pixelwise.tasks.subjects import Subject, case_batches, load_subject
from pixelwise.train.files import write_csv, write_json
from pixelwise.train.runs import config_dict, evaluation_dir


def _attack(config: AttackConfig, subject: Subject, model, x, target, eps: float, generator) -> torch.Tensor:
    if config.method == "fgsm":
        return fgsm(model, subject.loss, x, target, eps, subject.bounds)
    return pgd(model, subject.loss, x, target, eps, config.steps, config.step_size, config.random_start,
               subject.bounds, generator)


def run(config: AttackConfig, progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Attack, score, and write metrics.json, per_case.csv, plots/ and report.html to ``config.out`` (default
    ``RUN/evaluations/attack-METHOD``); returns the metrics."""
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    subject = load_subject(config.run, config.which)
    dest = evaluation_dir(config.run, f"attack-{config.method}", config.out)
    generator = torch.Generator().manual_seed(config.seed)
    rows, examples = [], []
    batches = list(case_batches(subject, config.batch_size, config.max_cases, config.data))
    bar = tqdm(total=sum(len(b.ids) for b in batches) * len(config.epsilons), desc=f"{config.method}",
               disable=not progress, leave=False)
    for b in batches:
        for eps in config.epsilons:
            adv = _attack(config, subject, b.model, b.x, b.target, eps, generator)
            with torch.no_grad():
                out = b.model(adv)
            for case, score in zip(b.ids, subject.scores(out, b.target)):
                rows.append({"id": case, "epsilon": eps, subject.metric: score})
            if len(examples) < len(config.epsilons):
                examples.append((eps, b.x[0], adv[0], out[0], b.target[0]))
            bar.update(len(b.ids))
    bar.close()
    curve = [{"epsilon": eps, **summarise([r[subject.metric] for r in rows if r["epsilon"] == eps], seed=config.seed)}
             for eps in config.epsilons]
    metrics = {"run": str(Path(config.run).resolve()), "kind": subject.kind, "method": config.method,
               "metric": subject.metric, "norm": "Linf", "steps": config.steps if config.method == "pgd" else 1,
               "step_size": config.step_size, "random_start": config.random_start and config.method == "pgd",
               "source": config.data or "test split", "cases": len(rows) // len(config.epsilons),
               "clean": curve[0], "curve": curve, "seconds": time.perf_counter() - t0}
    _write(dest, config, subject, metrics, rows, examples)
    worst = curve[-1]
    log(f"{config.method} on {metrics['cases']} cases: {subject.metric} {curve[0]['mean']:.3f} clean, "
        f"{worst['mean']:.3f} at epsilon {worst['epsilon']:.4g}; report {dest / 'report.html'}")
    return metrics


def _write(dest: Path, config: AttackConfig, subject: Subject, metrics: dict, rows: list, examples: list) -> None:
    from pixelwise.report.pages import table, write_page

    write_json(dest / "config.json", config_dict(config))
    write_json(dest / "metrics.json", metrics)
    write_csv(dest / "per_case.csv", rows)
    figures = [_curve_figure(dest, metrics), _example_figure(dest, subject, examples)]
    header = ["epsilon", "epsilon x 255", f"mean {subject.metric}", "median", "95% bootstrap CI", "cases"]
    lines = [[c["epsilon"], c["epsilon"] * 255, c["mean"], c["median"], f"[{c['ci_low']:.4f}, {c['ci_high']:.4f}]",
              c["n"]] for c in metrics["curve"]]
    text = [f"{config.method.upper()} (L-infinity, {metrics['steps']} step(s)) against the {subject.kind} run "
            f"{metrics['run']}, on the {metrics['source']}; the network in eval mode, the run's own loss maximised, "
            f"{subject.metric} at the network's resolution. Epsilon 0 is the clean {subject.metric}."]
    write_page(dest, f"{config.method.upper()} robustness of {Path(config.run).name}", text, [table(header, lines)],
               figures, metrics)


def _curve_figure(dest: Path, metrics: dict) -> Path:
    from pixelwise.report.plots import plt, save_figure

    eps = [c["epsilon"] * 255 for c in metrics["curve"]]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=110)
    ax.plot(eps, [c["mean"] for c in metrics["curve"]], marker="o")
    ax.fill_between(eps, [c["ci_low"] for c in metrics["curve"]], [c["ci_high"] for c in metrics["curve"]], alpha=0.2)
    ax.set_xlabel("epsilon x 255")
    ax.set_ylabel(metrics["metric"])
    ax.set_title(f"{metrics['method'].upper()} robustness curve")
    ax.grid(alpha=0.3)
    return save_figure(fig, dest / "plots" / "robustness.png")


def _picture(t: torch.Tensor) -> np.ndarray:
    a = t.detach().float().numpy()
    return a[0] if a.shape[0] == 1 else np.moveaxis(a, 0, -1).clip(0, 1)


def _example_figure(dest: Path, subject: Subject, examples: list) -> Path:
    """One row per epsilon: the attacked input, the perturbation (magnified to the full grey range) and the output."""
    from pixelwise.report.plots import plt, save_figure

    fig, axes = plt.subplots(len(examples), 3, figsize=(6.6, 2.2 * len(examples)), dpi=90, squeeze=False)
    for row, (eps, x, adv, out, target) in zip(axes, examples):
        delta = (adv - x).float()
        scale = float(delta.abs().max()) or 1.0
        if adv.dim() == 3:  # a picture (a measurement such as k-space is not shown)
            row[0].imshow(_picture(adv.clamp(0, 1)), cmap="gray", vmin=0, vmax=1)
            row[1].imshow(_picture(delta / (2 * scale) + 0.5), cmap="gray", vmin=0, vmax=1)
        if subject.kind == "classify":
            row[2].bar(range(len(out)), torch.softmax(out, 0).numpy())
            row[2].set_title(f"label {int(target)}, predicted {int(out.argmax())}", fontsize=8)
        else:
            shown = (out[0] > 0).float() if subject.kind == "segment" and out.shape[0] == 1 else (
                out.argmax(0).float() if subject.kind == "segment" else out.clamp(0, 1))
            row[2].imshow(_picture(shown[None]) if shown.dim() == 2 else _picture(shown), cmap="gray")
            row[2].set_title("prediction" if subject.kind == "segment" else "restored", fontsize=8)
        row[0].set_title(f"input, epsilon {eps * 255:.3g}/255", fontsize=8)
        row[1].set_title(f"perturbation (x{0.5 / scale:.3g})", fontsize=8)
        for ax in row:
            if subject.kind != "classify" or ax is not row[2]:
                ax.axis("off")
    return save_figure(fig, dest / "plots" / "examples.png")

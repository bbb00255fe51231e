"""A classify run from its folder, and its evaluation: accuracy (with a bootstrap interval), per-class accuracy,
the confusion matrix, per-case predictions, the privacy spent, figures and a report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from pixelwise.data.imagesets import load_image_set
from pixelwise.errors import PixelwiseError
from pixelwise.metrics import aggregate
from pixelwise.models.gan import DigitClassifier
from pixelwise.tasks.classify.config import ClassifyConfig
from pixelwise.train.checkpoint import load_weights
from pixelwise.train.files import read_json, write_csv, write_json
from pixelwise.train.protected import run_protection
from pixelwise.train.runs import checkpoint_path, evaluation_dir, read_config


def load_run(run_dir: str | Path, which: str = "best") -> tuple[ClassifyConfig, DigitClassifier]:
    """The config and the trained classifier (eval mode) of a classify run folder."""
    config = read_config(ClassifyConfig, run_dir)
    split = read_json(Path(run_dir) / "split.json")
    shape, classes = split["image_shape"], split["classes"]
    model = DigitClassifier(tuple(shape), classes, config.base, config.norm)
    load_weights(model, checkpoint_path(run_dir, which))
    return config, model.eval()


def load_cases(run_dir: str | Path, config: ClassifyConfig, data: str | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, list[int], str]:
    """``(images (N, C, H, W) in [0, 1], labels (N,), indices, source)``: the run's test split, or every image of
    ``data`` (refused when its images have another shape than the run's)."""
    split = read_json(Path(run_dir) / "split.json")
    if data is None:
        images = load_image_set(config.data, config.size, config.cache_dir, max_images=config.max_images,
                                seed=config.seed)
        index, source = list(split["test"]), "test split"
    else:
        images = load_image_set(data, config.size, config.cache_dir)
        index, source = list(range(len(images))), str(data)
    if images.labels is None:
        raise PixelwiseError(f"{source} has no labels; give labelled images to evaluate a classifier.")
    if list(images.shape) != list(split["image_shape"]):
        raise PixelwiseError(f"{source} holds images of {tuple(images.shape)}, but the run was trained on "
                             f"{tuple(split['image_shape'])}; give images of that shape (folders: --size).")
    x = torch.from_numpy(images.images[index])
    return x, torch.from_numpy(images.labels[index]), index, source


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """Class probabilities (N, K) of images (N, C, H, W)."""
    return torch.cat([torch.softmax(model(x[s:s + batch]), 1) for s in range(0, len(x), batch)])


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, classes: int) -> np.ndarray:
    """(K, K): row = true class, column = predicted class."""
    out = np.zeros((classes, classes), np.int64)
    np.add.at(out, (labels, predictions), 1)
    return out


def evaluate(run_dir: str | Path, data: str | None = None, *, which: str = "best", name: str | None = None,
             out: str | Path | None = None, progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Score a checkpoint on the run's test split (the run's own results) or on other data (to
    ``RUN/evaluations/NAME`` or ``out``); writes metrics.json, per_case.csv, plots/ and report.html."""
    run_dir = Path(run_dir)
    config, model = load_run(run_dir, which)
    own = data is None and which == "best"
    dest = run_dir if own and out is None else evaluation_dir(run_dir, name or _name(data, which), out)
    x, labels, index, source = load_cases(run_dir, config, data)
    if len(x) == 0:
        raise PixelwiseError(f"no images to evaluate in the {source}; give --data labelled images.")
    probs = predict(model, x)
    conf, pred = probs.max(1)
    classes = probs.shape[1]
    rows = [{"id": int(i), "label": int(t), "prediction": int(p), "confidence": float(c), "correct": int(p == t)}
            for i, t, p, c in zip(index, labels.tolist(), pred.tolist(), conf.tolist())]
    metrics = aggregate(rows, ["correct", "confidence"], seed=config.seed)
    matrix = confusion_matrix(labels.numpy(), pred.numpy(), classes)
    per_class = {str(k): float(matrix[k, k] / matrix[k].sum()) if matrix[k].sum() else None for k in range(classes)}
    metrics.update(accuracy=metrics["metrics"]["correct"]["mean"], per_class_accuracy=per_class,
                   confusion=matrix.tolist(), source=source, checkpoint=which,
                   **(run_protection(run_dir, config) if own else {}))
    write_json(dest / "metrics.json", metrics)
    write_csv(dest / "per_case.csv", rows)
    report = _report(dest, run_dir, metrics, matrix)
    acc = metrics["metrics"]["correct"]
    spent = f", epsilon {metrics['privacy']['epsilon']:.2f}" if "privacy" in metrics else ""
    log(f"{source}: {len(rows)} images, accuracy {acc['mean']:.3f} [{acc['ci_low']:.3f}, {acc['ci_high']:.3f}]"
        f"{spent}; report {report}")
    return metrics


def _name(data: str | None, which: str) -> str:
    parts = [Path(data).stem if data is not None else "test"] + ([which] if which != "best" else [])
    return "-".join(parts)


def _report(dest: Path, run_dir: Path, metrics: dict, matrix: np.ndarray) -> Path:
    from pixelwise.report.pages import table, write_page
    from pixelwise.report.plots import plot_history, plt, save_figure
    from pixelwise.train.files import read_csv

    fig, ax = plt.subplots(figsize=(4.2, 3.6), dpi=100)
    im = ax.imshow(matrix, cmap="Blues")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix")
    fig.colorbar(im, ax=ax)
    figures = [save_figure(fig, dest / "plots" / "confusion.png")]
    if dest == run_dir and (run_dir / "history.csv").is_file():
        history = read_csv(run_dir / "history.csv")
        figures.insert(0, plot_history(history, dest / "plots" / "loss.png", ["train_loss", "val_loss"], "loss",
                                       "loss"))
    acc = metrics["metrics"]["correct"]
    rows = [["accuracy", acc["mean"], acc["median"], acc["std"], f"[{acc['ci_low']:.4f}, {acc['ci_high']:.4f}]"]]
    text = [f"Evaluated on the {metrics['source']}: {metrics['n_cases']} images, checkpoint {metrics['checkpoint']}."]
    if "privacy" in metrics:
        p = metrics["privacy"]
        text.append(f"Trained with DP-SGD: ({p['epsilon']:.3g}, {p['delta']:g})-DP, noise multiplier "
                    f"{p['noise_multiplier']:.3g}, clip {p['clip']:g}, sampling rate {p['sampling_rate']:.3g}, "
                    f"{p['dp_steps']} steps; {p['accountant']}.")
    return write_page(dest, f"{run_dir.name}: digit classifier", text,
                      [table(["metric", "mean", "median", "std", "95% bootstrap CI"], rows)], figures, metrics)

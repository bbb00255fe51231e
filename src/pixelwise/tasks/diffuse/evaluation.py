"""The samples a run draws after training: per-sample measures, their aggregates, a grid and a report.

Per sample (``per_case.csv``): the mean squared difference per pixel to the nearest training image
(``nearest_train_mse``: near 0 would mean copies of training images), the mean grey level (``mean_intensity``)
and the spread of its pixels (``pixel_std``: near 0 for blank or collapsed samples). ``metrics.json`` holds
their :func:`~pixelwise.metrics.aggregate` (mean, median, std, a seeded bootstrap interval, n) under
``metrics``, and the same measures of as many held-out validation images under ``reference``, so that the
samples are read against real images that the net never trained on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pixelwise.data.imagesets import ImageSet
from pixelwise.errors import DataError
from pixelwise.metrics import aggregate
from pixelwise.metrics.latent import nearest_mse
from pixelwise.tasks.diffuse.config import DiffusionConfig
from pixelwise.tasks.diffuse.data import load_data, make_split
from pixelwise.tasks.diffuse.sampling import generate, grid_rows
from pixelwise.train.files import read_json, write_csv, write_json
from pixelwise.train.runs import evaluation_dir, read_config

MEASURES = ("nearest_train_mse", "mean_intensity", "pixel_std")
NEAREST_OF = 5000  # training images searched for each sample's nearest (an n x 5000 distance matrix)


def sample_cases(images: np.ndarray, train: np.ndarray, labels: np.ndarray | None = None) -> list[dict]:
    """One row per image (N, C, H, W) in [0, 1]: its index, the class asked for (if any) and :data:`MEASURES`
    against the first :data:`NEAREST_OF` training images."""
    nearest = nearest_mse(images, train[:NEAREST_OF]).double().numpy()
    flat = np.asarray(images, np.float64).reshape(len(images), -1)
    rows = []
    for i in range(len(images)):
        asked = {} if labels is None else {"label": int(labels[i])}
        rows.append({"sample": i, **asked, "nearest_train_mse": float(nearest[i]),
                     "mean_intensity": float(flat[i].mean()), "pixel_std": float(flat[i].std())})
    return rows


def evaluate(run_dir: str | Path, which: str = "best", *, image_set: ImageSet | None = None,
             out: str | Path | None = None, progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Draw the run's ``n_samples`` samples (seed, sampler and guidance of its config; a conditional run asks for
    each class in turn) from checkpoint ``which``; write plots/samples.png, metrics.json, per_case.csv and
    report.html, and return the metrics.

    The best checkpoint's results are the run's own (in the run folder); the last checkpoint's go to ``out``, or
    to ``RUN/evaluations/samples-last``, and never replace them. ``image_set``: the run's images when already
    loaded (else they are read again, and refused if they no longer give the run's split)."""
    from pixelwise.report.latent import image_grid, write_latent_report

    run_dir = Path(run_dir)
    config = read_config(DiffusionConfig, run_dir)
    dest = run_dir if which == "best" and out is None else evaluation_dir(run_dir, f"samples-{which}", out)
    train, val = _train_and_val(run_dir, config, image_set)
    labels = np.arange(config.n_samples) % config.classes if config.classes else None
    t0 = time.perf_counter()
    images = generate(run_dir, config.n_samples, config.seed, labels=None if labels is None else "each", which=which,
                      progress=progress)
    seconds = time.perf_counter() - t0
    cases = sample_cases(images, train, labels)
    metrics = _summary(cases, sample_cases(val[:config.n_samples], train), config, which, seconds)
    rows, titles = grid_rows(images, config.classes)
    figure = image_grid(rows, dest / "plots" / "samples.png", titles, f"DDPM samples ({_described(config)})")
    write_json(dest / "metrics.json", metrics)
    write_csv(dest / "per_case.csv", cases)
    write_latent_report(dest, f"DDPM, T = {config.T}", metrics, [figure])
    m, ref = metrics["metrics"]["nearest_train_mse"], metrics["reference"]["metrics"]["nearest_train_mse"]
    log(f"sampled {config.n_samples} images in {seconds:.1f}s; nearest-training-image MSE {m['mean']:.4f} "
        f"[{m['ci_low']:.4f}, {m['ci_high']:.4f}] (held-out images {ref['mean']:.4f}); grid {figure}")
    return metrics


def _train_and_val(run_dir: Path, config: DiffusionConfig, image_set: ImageSet | None):
    """The run's training and validation images (N, C, H, W) in [0, 1], by its saved split."""
    saved = read_json(run_dir / "split.json")
    if image_set is None:
        image_set = load_data(config)
        if make_split(image_set, config, config.classes) != saved:
            raise DataError(f"{config.data} no longer gives the split saved in {run_dir / 'split.json'}; evaluate "
                            "with the data the run was trained on.")
    return image_set.images[saved["train"]], image_set.images[saved["val"]]


def _summary(cases: list[dict], reference: list[dict], config: DiffusionConfig, which: str, seconds: float) -> dict:
    metrics = aggregate(cases, MEASURES, seed=config.seed)
    metrics["reference"] = {"source": "held-out validation images, the same measures",
                            "n": len(reference), "metrics": aggregate(reference, MEASURES, seed=config.seed)["metrics"]}
    metrics.update(n_samples=config.n_samples, T=config.T, noise_schedule=config.noise_schedule, checkpoint=which,
                   sampler="ancestral", variance=config.variance, sampling_seconds=round(seconds, 2))
    if config.corrector_steps:
        metrics.update(corrector_steps=config.corrector_steps, snr=config.snr)
    if config.classes:
        metrics.update(conditional=True, labels="each class in turn", guidance=config.guidance)
    return metrics


def _described(config: DiffusionConfig) -> str:
    text = f"T = {config.T}, {config.noise_schedule} schedule, seed {config.seed}"
    if config.classes:
        text += f", classes 0..{config.classes - 1} in turn, guidance w = {config.guidance:g}"
    if config.corrector_steps:
        text += f", {config.corrector_steps} corrector step(s) per step"
    return text

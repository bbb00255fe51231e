"""Evaluation of a GAN run by its samples: mode coverage under the run's digit classifier (the judge).

``n_samples`` images from z ~ N(0, I) drawn with the run's seed; per sample the judge's class and its
probability. ``metrics.json["metrics"]`` holds the aggregate (:func:`pixelwise.metrics.summarise`) of the
per-sample maximum class probability and of ``confident`` (1 when it exceeds 0.9, the share of confidently
classified samples), beside the same for the real test images as the reference a generator would match;
``mode_coverage`` holds the class histogram, its entropy and the number of classes found.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from torch import nn

from pixelwise.data.imagesets import ImageSet
from pixelwise.metrics import aggregate, summarise
from pixelwise.report.latent import image_grid, write_latent_report
from pixelwise.tasks.classify import class_probabilities, mode_coverage
from pixelwise.tasks.latent.adversarial import coverage_score, generate
from pixelwise.tasks.latent.config import LatentConfig
from pixelwise.tasks.latent.data import load_data, tensor
from pixelwise.tasks.latent.inference import load_judge
from pixelwise.train.files import read_json, write_csv, write_json

CONFIDENCE = 0.9  # a sample is "confidently classified" above this class probability


def evaluate_gan(run_dir: Path, dest: Path, config: LatentConfig, gan: nn.Module, which: str,
                 images: ImageSet | None = None, log: Callable[[str], None] = print) -> dict:
    """Score ``gan`` (the run's ``which`` checkpoint) by its samples; write metrics.json, per_case.csv, plots/ and
    report.html into ``dest``. ``images``: the run's own image set, already loaded."""
    samples = generate(gan, config.n_samples, config.seed)
    metrics: dict = {"model": config.model, "n_samples": config.n_samples, "seed": config.seed, "checkpoint": which}
    cases: list[dict] = [{"index": i} for i in range(len(samples))]
    judge = load_judge(run_dir, config)
    if judge is not None:
        probs = class_probabilities(judge, samples)
        cases = [{"index": i, "class": int(p.argmax()), "max_probability": float(p.max()),
                  "confident": float(p.max() > CONFIDENCE)} for i, p in enumerate(probs)]
        metrics.update(aggregate(cases, ["max_probability", "confident"], seed=config.seed))
        real = class_probabilities(judge, _real_test_images(run_dir, config, images)).max(1)
        metrics["metrics"]["real_test_max_probability"] = summarise(real, seed=config.seed)
        metrics["metrics"]["real_test_confident"] = summarise((real > CONFIDENCE).astype(float), seed=config.seed)
        cov = mode_coverage(judge, samples, config.classes, CONFIDENCE)
        metrics["mode_coverage"] = {**cov, "score": coverage_score(cov)}
    figure = image_grid([samples], dest / "plots" / "samples.png", [f"{config.n_samples} samples"],
                        f"{config.model.upper()} samples (seed {config.seed})")
    write_json(dest / "metrics.json", metrics)
    write_csv(dest / "per_case.csv", cases)
    report = write_latent_report(dest, config.model.upper(), metrics, [figure])
    if judge is not None:
        cov, m = metrics["mode_coverage"], metrics["metrics"]
        log(f"{config.n_samples} samples: {cov['classes_found']} classes found, entropy {cov['entropy']:.2f} of "
            f"{cov['max_entropy']:.2f}, {m['confident']['mean']:.0%} confidently classified (real test images: "
            f"{m['real_test_confident']['mean']:.0%}); report {report}")
    else:
        log(f"{config.n_samples} samples (no labels, so no judge); report {report}")
    return metrics


def _real_test_images(run_dir: Path, config: LatentConfig, images: ImageSet | None) -> np.ndarray:
    data = images if images is not None else load_data(config)
    return tensor(data, read_json(run_dir / "split.json")["test"]).numpy()

"""Linear-probe accuracy of a pretrained encoder on labelled images, beside a random and a supervised encoder.

The labelled images (MNIST, digits, an .npz with labels, a folder of class sub-folders) are split with the run's
seed into a training and a test part. Each encoder is frozen; its globally averaged features feed a linear probe
(:func:`pixelwise.metrics.probe.linear_probe`). The three encoders share the architecture: ``pretrained`` (the
run's), ``random`` (its initial weights, drawn with the run's seed: what the architecture gives for free) and
``supervised`` (trained end to end with the labels of the probe's training part, a linear head on the averaged
features, cross-entropy: what labels give; a reference, not a target).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from pixelwise.data.splits import random_split
from pixelwise.data.tensors import unit_tensor
from pixelwise.errors import DataError, PixelwiseError
from pixelwise.metrics import paired_summaries
from pixelwise.metrics.probe import linear_probe
from pixelwise.models import LinearClassifier
from pixelwise.tasks.pretrain.config import PretrainConfig
from pixelwise.tasks.pretrain.data import Images, read_images
from pixelwise.tasks.pretrain.evaluation import load_run
from pixelwise.tasks.pretrain.models import build_encoder
from pixelwise.tasks.segment.data import normalise
from pixelwise.train.config import FitConfig
from pixelwise.train.files import write_csv, write_json
from pixelwise.train.runs import evaluation_dir

ENCODERS = ("pretrained", "random", "supervised")


def probe(run_dir: str | Path, data: str, *, test_data: str | None = None, which: str = "best",
          test_fraction: float = 0.2, max_images: int | None = None, supervised_epochs: int = 10,
          supervised_minutes: float | None = None, name: str | None = None, out: str | Path | None = None,
          progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Linear-probe accuracy of the run's encoder, a random one and a supervised one on ``data`` (see the module
    docstring), tested on a seeded ``test_fraction`` of it, or with ``test_data`` on every image of that (then all of
    ``data`` trains the probes: e.g. images the encoder was pretrained on, tested on images it never saw); writes
    metrics.json, per_case.csv and report.html to ``out`` or ``RUN/evaluations/probe-NAME``."""
    from pixelwise.report.pretrain import write_probe_report

    if not 0 < test_fraction < 1:
        raise PixelwiseError(f"test_fraction={test_fraction} must lie in (0, 1), e.g. 0.2.")
    try:  # checked before anything is read
        fit_settings = FitConfig(epochs=supervised_epochs, minutes=supervised_minutes, progress=progress)
    except PixelwiseError as err:
        raise PixelwiseError(f"the supervised reference's {err}") from None
    config, net = load_run(run_dir, which)
    labelled, train, test = _probe_sets(data, test_data, config, test_fraction, max_images, progress)
    x = normalise(unit_tensor(labelled.images), config.norm_mean,
                  config.norm_std)
    y = torch.from_numpy(labelled.labels)
    torch.manual_seed(config.seed)
    encoders = {"pretrained": net.encoder, "random": build_encoder(config)}
    log(f"training the supervised reference on {len(train)} labelled images")
    encoders["supervised"] = _supervised(config, x[train], y[train], fit_settings, log)
    rows = [{"id": labelled.ids[i], "label": int(y[i])} for i in test]
    accuracy = {}
    for kind, encoder in encoders.items():
        feats = _features(encoder, x)
        result = linear_probe(feats[train], y[train], feats[test], y[test], seed=config.seed)
        accuracy[kind] = result["accuracy"]
        for row, p in zip(rows, result["predictions"]):
            row[f"predicted_{kind}"], row[f"correct_{kind}"] = int(p), int(p == row["label"])
    summaries = paired_summaries(rows, ENCODERS, ("correct",), "pretrained", config.seed)
    metrics = {"source": labelled.source, "checkpoint": which, "train_images": len(train), "test_images": len(test),
               "classes": int(y.max()) + 1, "accuracy": accuracy, "probe": summaries,
               "supervised": {"epochs": supervised_epochs, "minutes": supervised_minutes}}
    dest = evaluation_dir(run_dir, name or f"probe-{Path(data).name}", out)
    write_json(dest / "metrics.json", metrics)
    write_csv(dest / "per_case.csv", rows)
    report = write_probe_report(dest, metrics)
    log(f"linear probe on {len(test)} test images of {labelled.source}: " + ", ".join(
        f"{k} {v:.3f}" for k, v in accuracy.items()) + f"; report {report}")
    return metrics


def _probe_sets(data: str, test_data: str | None, config: PretrainConfig, test_fraction: float,
                max_images: int | None, progress: bool) -> tuple[Images, list[int], list[int]]:
    """The labelled images (training then test ones) and the positions of the training and test parts."""
    labelled = _labelled(data, config, max_images, progress)
    if test_data is not None:
        other = _labelled(test_data, config, None, progress)
        n = len(labelled.ids)
        joined = Images(np.concatenate([labelled.images, other.images]),
                        np.concatenate([labelled.labels, other.labels]),
                        labelled.ids + [f"test/{i}" for i in other.ids], f"{labelled.source} + {other.source}")
        return joined, list(range(n)), list(range(n, n + len(other.ids)))
    split = random_split(labelled.ids, (1 - test_fraction, 0.0, test_fraction), config.seed)
    index = {i: k for k, i in enumerate(labelled.ids)}
    return labelled, [index[i] for i in split["train"]], [index[i] for i in split["test"]]


def _labelled(data: str, config: PretrainConfig, max_images: int | None, progress: bool) -> Images:
    found = read_images(data, config.size, config.channels, max_images, config.seed, progress)
    if found.labels is None:
        raise DataError(f"{data} has no labels, so a probe cannot be scored; give a labelled set: digits, mnist, an "
                        ".npz with a 'labels' array, or a folder of class sub-folders.")
    if len(np.unique(found.labels)) < 2:
        raise DataError(f"{data} holds one class only; a probe needs at least two.")
    if len(found.ids) < 10:
        raise DataError(f"{data} holds {len(found.ids)} labelled images; a probe needs at least 10.")
    return found


@torch.no_grad()
def _features(encoder: nn.Module, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """(N, D) globally averaged features of the frozen encoder, in eval mode."""
    encoder.eval()
    return torch.cat([encoder.features(x[s:s + batch].contiguous(memory_format=torch.channels_last))
                      for s in range(0, len(x), batch)])


def _supervised(config: PretrainConfig, x: torch.Tensor, y: torch.Tensor, settings: FitConfig,
                log: Callable[[str], None]) -> nn.Module:
    """The encoder of a fresh :class:`LinearClassifier` trained with cross-entropy on (x, y) (nothing written)."""
    from pixelwise.train import fit

    torch.manual_seed(config.seed + 1)
    model = LinearClassifier(build_encoder(config), int(y.max()) + 1).to(memory_format=torch.channels_last)
    bs, n = config.batch_size, len(x)

    def epoch_batches(epoch: int, generator: torch.Generator):
        order = torch.randperm(n, generator=generator)
        for s in range(0, n - bs + 1 if n >= bs else 1, bs):
            idx = order[s:s + bs]
            yield x[idx], y[idx]

    fit(model, F.cross_entropy, epoch_batches, max(1, n // bs), None, settings,
        log=lambda line: None if line.startswith("epoch") else log(line))
    return model.encoder

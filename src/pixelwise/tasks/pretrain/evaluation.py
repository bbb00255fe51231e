"""The pretext task of a pretraining run scored on held-out images: metrics, per-image scores, a figure, a report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pixelwise.data.splits import load_split
from pixelwise.data.tensors import unit_tensor
from pixelwise.errors import PixelwiseError
from pixelwise.metrics import aggregate
from pixelwise.tasks.pretrain.batches import VALIDATION_SEED, make_batch, pretext_scores
from pixelwise.tasks.pretrain.config import PretrainConfig
from pixelwise.tasks.pretrain.data import read_images
from pixelwise.tasks.pretrain.models import build_model, loss_for
from pixelwise.train.checkpoint import load_weights
from pixelwise.train.files import read_csv, write_csv, write_json
from pixelwise.train.runs import checkpoint_path, evaluation_dir, read_config

FIGURE_IMAGES = 6


def load_run(run_dir: str | Path, which: str = "best") -> tuple[PretrainConfig, nn.Module]:
    """The config and the trained pretext network of a pretraining run, in eval mode (its ``encoder`` is the
    pretrained encoder)."""
    config = read_config(PretrainConfig, run_dir)
    net = build_model(config)
    load_weights(net, checkpoint_path(run_dir, which))
    return config, net.eval()


def _run_images(run_dir: Path, config: PretrainConfig, progress: bool) -> tuple[np.ndarray, list[str], str]:
    """The run's validation images (its training images if it kept none back)."""
    data = read_images(config.data, config.size, config.channels, config.max_images, config.seed, progress)
    split = load_split(run_dir / "split.json")
    part = "val" if split["val"] else "train"
    index = {name: i for i, name in enumerate(data.ids)}
    missing = [i for i in split[part] if i not in index]
    if missing:
        raise PixelwiseError(f"{config.data} no longer holds the run's {part} images (e.g. {missing[0]}); evaluate "
                             "with --data, or restore the data.")
    ids = list(split[part])
    return data.images[[index[i] for i in ids]], ids, f"{'validation' if part == 'val' else 'training'} images"


@torch.no_grad()
def evaluate(run_dir: str | Path, data: str | None = None, *, which: str = "best", name: str | None = None,
             out: str | Path | None = None, progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Score the pretext task (SimCLR: loss and top-1 retrieval of each image's other view; autoencoders: loss and
    per-image MSE in normalised units) on the run's validation images, or on every image of ``data`` (then written
    to ``out`` or ``RUN/evaluations/NAME``, never over the run's own results)."""
    from pixelwise.report.pretrain import write_report

    run_dir = Path(run_dir)
    config, net = load_run(run_dir, which)
    own = data is None and which == "best"
    dest = run_dir if own and out is None else evaluation_dir(run_dir, name or _name(data, which), out)
    if data is None:
        images, ids, source = _run_images(run_dir, config, progress)
    else:
        found = read_images(data, config.size, config.channels, None, config.seed, progress)
        images, ids, source = found.images, found.ids, found.source
    rows = pretext_scores(net, loss_for(config), images, config)
    cases = [{"id": i, **r} for i, r in zip(ids, rows)]
    keys = [k for k in cases[0] if k != "id"]
    metrics = {**aggregate(cases, keys, seed=config.seed), "method": config.method, "model": config.model,
               "source": source, "checkpoint": which}
    write_json(dest / "metrics.json", metrics)
    write_csv(dest / "per_case.csv", cases)
    history = read_csv(run_dir / "history.csv") if dest == run_dir and (run_dir / "history.csv").is_file() else []
    report = write_report(dest, config, metrics, _panels(net, images[:FIGURE_IMAGES], config), history)
    m = metrics["metrics"]
    score = (f"top-1 {m['top1']['mean']:.3f} (chance {m['top1_chance']['mean']:.3f})" if "top1" in m
             else f"MSE {m['mse']['mean']:.4f}")
    log(f"{source}: {len(cases)} images, pretext loss {m['loss']['mean']:.4f}, {score}; report {report}")
    return metrics


def _name(data: str | None, which: str) -> str:
    parts = [Path(data).name if data else "validation"] + ([which] if which != "best" else [])
    return "-".join(parts)


def _panels(net: nn.Module, images: np.ndarray, config: PretrainConfig) -> list[list[tuple[str, np.ndarray]]]:
    """Figure rows: the image and its two views (SimCLR), or the image, the network's input and its output."""
    g = torch.Generator().manual_seed(config.seed + VALIDATION_SEED)
    x = unit_tensor(images)
    inputs, _ = make_batch(x, config, g, augment=False)
    mean = torch.tensor(config.norm_mean).view(1, -1, 1, 1)
    std = torch.tensor(config.norm_std).view(1, -1, 1, 1)
    show = lambda t: (t * std + mean).clamp(0, 1)  # noqa: E731 (normalised -> [0, 1])
    if config.method == "simclr":
        n = len(x)
        columns = [("image", x), ("view 1", show(inputs[:n])), ("view 2", show(inputs[n:]))]
    else:
        seen = inputs[0] if isinstance(inputs, tuple) else inputs
        if isinstance(inputs, tuple):  # the ViT's MAE input: the visible patches, the hidden ones grey
            _, (_, hidden) = make_batch(x, config, torch.Generator().manual_seed(config.seed + VALIDATION_SEED),
                                        augment=False)
            seen = seen * (1 - hidden)
        columns = [("image", x), ("input", show(seen)), ("output", show(net(inputs)))]
    return [[(label, _picture(t[i])) for label, t in columns] for i in range(len(x))]


def _picture(t: torch.Tensor) -> np.ndarray:
    t = t.detach().double().clamp(0, 1)
    return t[0].numpy() if t.shape[0] == 1 else t.permute(1, 2, 0).numpy()

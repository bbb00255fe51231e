"""Evaluation of a run at each image's original size: per-case metrics, aggregates, galleries and a report."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from torch import nn

from pixelwise.data.folders import ImageMaskFolder
from pixelwise.data.splits import load_split
from pixelwise.errors import PixelwiseError
from pixelwise.models.inference import optimize_for_inference
from pixelwise.models.tiling import Tiles
from pixelwise.tasks.segment.config import SegmentationConfig
from pixelwise.tasks.segment.inference import load_run, predict_arrays, symmetries
from pixelwise.tasks.segment.scoring import score_case, shown, summary, true_area, write_results
from pixelwise.tasks.segment.tiles import check_sizes
from pixelwise.train.allocator import tune_malloc
from pixelwise.train.files import read_csv
from pixelwise.train.protected import run_protection
from pixelwise.train.runs import evaluation_dir

TIERS = ("good", "partial", "poor")  # the galleries, by IoU (the case categories are another thing: see metrics)


def evaluate(run_dir: str | Path, data: str | None = None, *, model: nn.Module | None = None, which: str = "best",
             tta: str = "none", good_iou: float | None = None, partial_iou: float | None = None,
             name: str | None = None, out: str | Path | None = None, progress: bool = True,
             log: Callable[[str], None] = print, spacing: tuple[float, float] | None = None,
             tiles: Tiles | None = None, device: str = "auto") -> dict:
    """Evaluate a checkpoint (``which``) at each image's original size; write metrics.json, per_case.csv, plots/
    and report.html, and return the metrics.

    Without ``data`` and with the run's own settings, the run's test split is scored and the results are the
    run's own (in the run folder). Any other evaluation (``data``: another folder of images/ and masks/, scored
    whole; or ``tta``, gallery thresholds, the last checkpoint) goes to ``out``, or to ``RUN/evaluations/NAME``
    (``name`` defaults to the data folder's name and the settings), and never replaces the run's own results.
    ``tta`` averages over flips or all eight symmetries of the square (see ``tta_logits``); ``model`` as in
    ``load_run`` (for runs trained with a custom model), and ``device`` (where the network runs); ``spacing``
    (rows, columns) the pixel size for surface distances and areas, instead of the run's. ``tiles``: sliding-window
    prediction (another setting: the results go to ``evaluations/NAME-tile-T``). Scoring:
    :mod:`pixelwise.tasks.segment.scoring`."""
    from tqdm.auto import tqdm

    run_dir = Path(run_dir)
    symmetries(tta)  # a bad mode fails before anything is read
    tune_malloc()  # large freed blocks are reused by the next batch (pixelwise.train.allocator)
    tiles = tiles or Tiles()
    config, net = load_run(run_dir, which, model, device)
    config = _with_settings(config, spacing, good_iou, partial_iou)
    own = (data is None and tta == "none" and which == "best" and good_iou is None and partial_iou is None
           and spacing is None and tiles.tile is None)
    thresholds = None if good_iou is None and partial_iou is None else config
    label = name or _name(data, tta, which, thresholds, spacing, tiles)
    dest = run_dir if own and out is None else evaluation_dir(run_dir, label, out)
    folder = ImageMaskFolder(data or config.data, config.num_classes, config.threshold, config.channels,
                             ignore_index=config.ignore_index)
    if data is None:
        indices, source = folder.index(load_split(run_dir / "split.json")["test"]), "test split"
    else:
        indices, source = list(range(len(folder))), str(Path(data).resolve())
    if not indices:
        raise PixelwiseError(f"no cases to evaluate in the {source}; give --data or a split with test cases.")
    check_sizes(config, net, tiles, ((folder.pairs[i].image.name, (folder.pairs[i].height, folder.pairs[i].width))
                                     for i in indices))
    net = optimize_for_inference(net, shuffle_up=False)  # batch norm folded: the same map, faster
    cases, gallery, areas = [], [], []
    with ThreadPoolExecutor(max_workers=2) as pool:
        reads = pool.map(folder.read, indices)
        for i, (image, truth) in tqdm(zip(indices, reads), total=len(indices), desc="evaluating",
                                      disable=not progress, leave=False):
            pred = predict_arrays(net, config, [image], tta, tiles)[0]
            case = score_case(pred, truth, config)
            cases.append({"id": folder.pairs[i].stem, **case})
            areas.append(true_area(truth, config))
            gallery.append((folder.pairs[i].stem, image, shown(truth, config), pred, case["iou"]))
    metrics = summary(cases, areas, config, source=source, tta=tta, checkpoint=which)
    metrics.update(run_protection(run_dir, config) if dest == run_dir else {})  # privacy spent, federation
    history = read_csv(run_dir / "history.csv") if dest == run_dir and (run_dir / "history.csv").is_file() else []
    report = write_results(dest, config, metrics, cases, gallery, history)
    m = metrics["metrics"]
    log(f"{source}: {len(cases)} cases, Dice {m['dice']['mean']:.3f} (median {m['dice']['median']:.3f}), "
        f"IoU {m['iou']['mean']:.3f} [{m['iou']['ci_low']:.3f}, {m['iou']['ci_high']:.3f}]; report {report}")
    return metrics


def _with_settings(config: SegmentationConfig, spacing, good_iou, partial_iou) -> SegmentationConfig:
    """The run's config with the evaluation's own spacing and gallery thresholds (checked by the config)."""
    if spacing is not None:
        config = dataclasses.replace(config, spacing=spacing)
    if good_iou is not None or partial_iou is not None:
        config = dataclasses.replace(config, good_iou=config.good_iou if good_iou is None else good_iou,
                                     partial_iou=config.partial_iou if partial_iou is None else partial_iou)
    return config


def _name(data: str | None, tta: str, which: str, thresholds: SegmentationConfig | None,
          spacing: tuple[float, float] | None = None, tiles: Tiles | None = None) -> str:
    """e.g. "kvasir-test-tta-flips": the data folder (or "test"), then each setting that differs."""
    parts = [Path(data).resolve().name if data is not None else "test"]
    parts += [f"tile-{tiles.tile}"] if tiles is not None and tiles.tile is not None else []
    parts += [f"tta-{tta}"] if tta != "none" else []
    parts += [which] if which != "best" else []
    parts += [f"iou-{thresholds.partial_iou:g}-{thresholds.good_iou:g}"] if thresholds is not None else []
    parts += [f"spacing-{spacing[0]:g}-{spacing[1]:g}"] if spacing is not None else []
    return "-".join(parts)

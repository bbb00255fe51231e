"""How every segmentation command scores its masks, in one place: ``segment eval`` (a trained network) and
``segment baseline`` (a classical method) call the same functions, so their numbers sit side by side.

Per case: the metrics of :mod:`pixelwise.metrics.segmentation` under the empty-mask policy (and the ignore label);
over the cases: :func:`pixelwise.metrics.aggregate`, the gallery tiers by IoU, and the breakdown by the size of the
true structure (:mod:`pixelwise.metrics.size_bins`); then ``metrics.json``, ``per_case.csv`` and ``report.html``
with its galleries.

``config`` is any settings object with the scoring fields of :class:`~pixelwise.tasks.segment.SegmentationConfig`:
``num_classes``, ``spacing``, ``empty_score``, ``ignore_index``, ``good_iou``, ``partial_iou``, ``gallery_size``,
``seed`` (and ``model``, the report's title).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pixelwise.metrics import aggregate, multiclass_case, segmentation_case, size_breakdown
from pixelwise.train.files import write_csv, write_json

SIZE_KEYS = ("dice", "iou", "hd", "hd95", "assd", "rmssd")


def score_case(pred: np.ndarray, truth: np.ndarray, config) -> dict:
    """The metrics of one case: ``pred`` and ``truth`` (H, W) uint8, {0, 1} masks or labels 0..K-1."""
    if config.num_classes is None:
        return segmentation_case(pred.astype(bool), truth.astype(bool), config.spacing, config.empty_score)
    return multiclass_case(pred, truth, config.num_classes, config.spacing, config.empty_score,
                           ignore_index=getattr(config, "ignore_index", None))


def foreground(truth: np.ndarray, config) -> np.ndarray:
    """The truth's foreground (boolean): label > 0, ignored pixels excluded."""
    ignore = getattr(config, "ignore_index", None)
    return (truth > 0) if ignore is None else (truth > 0) & (truth != ignore)


def true_area(truth: np.ndarray, config) -> float:
    """The area of the true foreground: pixels, or with ``config.spacing`` in its units squared."""
    pixel = 1.0 if config.spacing is None else math.prod(config.spacing)
    return float(np.count_nonzero(foreground(truth, config))) * pixel


def shown(truth: np.ndarray, config) -> np.ndarray:
    """The truth as the galleries draw it (ignored pixels as background)."""
    ignore = getattr(config, "ignore_index", None)
    return truth if ignore is None else np.where(truth == ignore, 0, truth).astype(truth.dtype)


def summary(cases: list[dict], areas: list[float], config, **record) -> dict:
    """Aggregates of every numeric metric, the gallery tiers, the size breakdown, and ``record`` (e.g. the source
    and the checkpoint) as top-level keys."""
    keys = [k for k, v in cases[0].items() if k != "id" and isinstance(v, (int, float)) and not isinstance(v, bool)]
    metrics = aggregate([{k: c[k] for k in [*keys, "category"]} for c in cases], keys, seed=config.seed)
    metrics.update(record)
    metrics["tiers"] = {
        "good": sum(c["iou"] >= config.good_iou for c in cases),
        "partial": sum(config.partial_iou <= c["iou"] < config.good_iou for c in cases),
        "poor": sum(c["iou"] < config.partial_iou for c in cases),
        "thresholds": {"good_iou": config.good_iou, "partial_iou": config.partial_iou},
    }
    unit = "pixels" if config.spacing is None else "spacing units squared"
    metrics["by_size"] = size_breakdown(cases, areas, [k for k in SIZE_KEYS if k in keys], config.seed, unit)
    return metrics


def write_results(dest: Path, config, metrics: dict, cases: list[dict], tiles: list, history: list[dict],
                  extra_html: str = "") -> Path:
    """``metrics.json``, ``per_case.csv`` and ``report.html`` (with ``extra_html`` after the tables) in ``dest``;
    returns the report's path."""
    from pixelwise.report.segmentation import write_report

    write_json(dest / "metrics.json", metrics)
    write_csv(dest / "per_case.csv", cases)
    return write_report(dest, config, metrics, tiles, history, extra_html)

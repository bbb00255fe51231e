"""What comparing runs of one command needs to know: which settings make the task and its cases, which metrics are
compared and which way is better, and how to draw the cases where the runs disagree."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Kind:
    command: str
    config_class: Callable[[], type]  # imported on use (the configs are the recipes')
    id_column: str
    keys: tuple[str, ...]  # metric columns, in order of importance (the first ranks the disagreements)
    higher_is_better: dict[str, bool]
    task: dict[str, str]  # setting -> what it decides (runs that differ in one are refused); "x." names x's fields
    columns: dict[str, str] = field(default_factory=dict)  # metric -> its per_case.csv column, when not the same
    category: str | None = None  # the per-case category column, if any
    figure: Callable | None = None  # (results, case ids, path) -> path or None


def _segment_config():
    from pixelwise.tasks.segment.config import SegmentationConfig

    return SegmentationConfig


def _restore_config():
    from pixelwise.tasks.restore.config import RestorationConfig

    return RestorationConfig


def _segment_figure(results, ids, path):
    from pixelwise.tasks.compare.figures import segment_figure

    return segment_figure(results, ids, path)


def _restore_figure(results, ids, path):
    from pixelwise.tasks.compare.figures import restore_figure

    return restore_figure(results, ids, path)


SEGMENT = Kind(
    command="segment", config_class=_segment_config, id_column="id",
    keys=("dice", "iou", "hd95", "assd", "precision", "recall"),
    higher_is_better={"dice": True, "iou": True, "hd95": False, "assd": False, "precision": True, "recall": True},
    task={"num_classes": "the labels predicted", "threshold": "which mask pixels are foreground",
          "empty_score": "the score of empty cases", "spacing": "the units of surface distances",
          "data": "the images and masks", "results source": "which cases were scored"},
    category="category", figure=_segment_figure)

RESTORE = Kind(
    command="restore", config_class=_restore_config, id_column="case", keys=("psnr", "ssim"),
    higher_is_better={"psnr": True, "ssim": True}, columns={"psnr": "psnr_network", "ssim": "ssim_network"},
    task={"measurement.": "the forward operator",
          "sigma": "the noise level", "channels": "the images' channels", "regime": "what the network is given",
          "data": "the images", "seed": "the test measurements' noise draws", "val_fraction": "the test images",
          "val_size": "the test crops", "size": "the image size", "scoring protocol": "how images are scored",
          "results source": "which cases were scored"},
    figure=_restore_figure)

KINDS = {"segment": SEGMENT, "restore": RESTORE}

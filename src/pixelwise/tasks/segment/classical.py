"""The classical methods of ``segment baseline`` on one image, and the choice of channel and polarity.

Each image goes the same way: resized so that its longer side is ``work_size`` (aspect kept), one grey channel
(:mod:`pixelwise.classical.colour`) smoothed by a Gaussian of ``smooth`` pixels and flipped (1 - x) when the
foreground is dark, so that every method looks for a bright foreground; with ``field_of_view``, the dark frame
around the picture (:func:`pixelwise.classical.field_of_view` of the luma) left out of the thresholds and the
masks; the method; the clean-up (opening, closing, hole filling, largest component); and the mask resized back to
the image's own size (bilinear, > 1/2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import ndimage

from pixelwise.classical import (
    adaptive_threshold,
    automatic_seed,
    channel,
    classify,
    clean_up,
    dilate,
    erode,
    field_of_view,
    grow_region,
    largest_component,
    multi_otsu_thresholds,
    otsu_threshold,
    watershed,
)
from pixelwise.classical.watershed import gradient_magnitude
from pixelwise.data.folders import resize_image, resize_mask
from pixelwise.metrics import segmentation_case
from pixelwise.tasks.segment.baseline_config import CHANNEL_NAMES, BaselineConfig


def working_shape(shape: tuple[int, int], work_size: int) -> tuple[int, int]:
    """(h, w) with the longer side ``work_size`` and the aspect of ``shape`` (at least 1 pixel)."""
    h, w = shape
    scale = work_size / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def scale_seeds(seeds: np.ndarray | None, shape: tuple[int, int], work: tuple[int, int]) -> np.ndarray | None:
    """(row, col) seeds of an image of ``shape`` -> the nearest pixels of its working size ``work``."""
    if seeds is None:
        return None
    factor = np.array([work[0] / shape[0], work[1] / shape[1]])
    scaled = np.floor((np.asarray(seeds, float) + 0.5) * factor).astype(np.int64)
    return np.minimum(scaled, np.array(work) - 1)


def prepared(image: np.ndarray, config: BaselineConfig, name: str, polarity: str) -> np.ndarray:
    """The (h, w) working channel of an (h, w, C) uint8 image: channel ``name``, smoothed, flipped if dark."""
    x = channel(image, name)
    x = ndimage.gaussian_filter(x, config.smooth, mode="reflect") if config.smooth > 0 else x
    return 1.0 - x if polarity == "dark" else x


def _otsu(x: np.ndarray, config: BaselineConfig, seeds, fov: np.ndarray) -> np.ndarray:
    return x > otsu_threshold(x[fov])


def _multiotsu(x: np.ndarray, config: BaselineConfig, seeds, fov: np.ndarray) -> np.ndarray:
    return classify(x, multi_otsu_thresholds(x[fov], config.classes)) == config.classes - 1


def _adaptive(x: np.ndarray, config: BaselineConfig, seeds, fov: np.ndarray) -> np.ndarray:
    return x > adaptive_threshold(x, config.block_size, config.offset, config.adaptive_method)


def _region(x: np.ndarray, config: BaselineConfig, seeds, fov: np.ndarray) -> np.ndarray:
    points = automatic_seed(x, fov) if seeds is None else seeds
    gradient = gradient_magnitude(x, 0.0) if config.gradient_max is not None else None
    return grow_region(x, points, config.tolerance, gradient, config.gradient_max, mask=fov)


def _watershed(x: np.ndarray, config: BaselineConfig, seeds, fov: np.ndarray) -> np.ndarray:
    """Markers: the foreground is the largest Otsu component eroded (or the seeds, dilated), the background Otsu's
    background (and the frame) eroded, both by a disk of 3% of the longer side; the flood runs on the gradient
    magnitude."""
    radius = max(1, round(0.03 * max(x.shape)))
    above = (x > otsu_threshold(x[fov])) & fov
    if seeds is None:
        fg = erode(largest_component(above), radius)
        fg = fg if fg.any() else _points(x.shape, automatic_seed(x, fov))
    else:
        fg = dilate(_points(x.shape, seeds), max(1, radius // 2))
    bg = erode(~above, radius) & ~dilate(fg, radius)
    if not bg.any():  # no background left: the image frame is the background marker
        bg = np.ones(x.shape, bool)
        bg[2:-2, 2:-2] = False
        bg &= ~fg
    markers = np.where(fg, 1, np.where(bg, 2, 0))
    return watershed(gradient_magnitude(x, 0.0), markers) == 1


def _points(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[points[:, 0], points[:, 1]] = True
    return mask


# name -> (working channel (h, w), config, seeds at the working size or None, field of view) -> boolean mask (h, w)
METHODS: dict[str, Callable[[np.ndarray, BaselineConfig, np.ndarray | None, np.ndarray], np.ndarray]] = {
    "otsu": _otsu, "multiotsu": _multiotsu, "adaptive": _adaptive, "region": _region, "watershed": _watershed,
}


def segment_working(image: np.ndarray, config: BaselineConfig, name: str, polarity: str,
                    seeds: np.ndarray | None = None) -> np.ndarray:
    """The cleaned-up mask of an image already at its working size."""
    x = prepared(image, config, name, polarity)
    fov = field_of_view(channel(image, "grey")) if config.field_of_view else np.ones(x.shape, bool)
    raw = METHODS[config.method](x, config, seeds, fov) & fov
    return clean_up(raw, config.open_radius, config.close_radius, config.fill_holes, config.largest)


def segment_image(image: np.ndarray, config: BaselineConfig, name: str, polarity: str,
                  seeds: np.ndarray | None = None) -> np.ndarray:
    """The (H, W) uint8 {0, 1} mask of an (H, W, C) uint8 image by ``config.method`` (not atlas); ``seeds`` (k, 2)
    in the image's own pixels, or None for the automatic seed."""
    work = working_shape(image.shape[:2], config.work_size)
    small = resize_image(image, work)
    mask = segment_working(small, config, name, polarity, scale_seeds(seeds, image.shape[:2], work))
    return resize_mask(mask.astype(np.uint8), image.shape[:2], binary=True)


def choose_channel(cases: Sequence[tuple[np.ndarray, np.ndarray]], config: BaselineConfig) -> dict:
    """The channel and polarity with the best mean Dice on ``cases`` (working-size images and {0, 1} masks), among
    those ``auto`` leaves open; returns ``{"channel", "polarity", "table": [[channel, polarity, mean Dice]]}``."""
    names = CHANNEL_NAMES if config.channel == "auto" else (config.channel,)
    if config.channels == 1:
        names = ("grey",)
    polarities = ("bright", "dark") if config.polarity == "auto" else (config.polarity,)
    table = []
    for name in names:
        for polarity in polarities:
            dice = [segmentation_case(segment_working(im, config, name, polarity), m.astype(bool),
                                      empty_score=config.empty_score, surface=False)["dice"] for im, m in cases]
            table.append([name, polarity, float(np.mean(dice)) if dice else 0.0])
    best = max(table, key=lambda row: row[2])  # the first of equals, in the table's order
    return {"channel": best[0], "polarity": best[1], "table": table}

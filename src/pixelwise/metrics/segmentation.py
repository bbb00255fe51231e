"""Per-case segmentation metrics that never hide a failure.

Empty-mask policy (each case gets a ``category``; nothing is dropped, nothing is NaN):

============  ===================  ==========================================================
category      truth / prediction   values
============  ===================  ==========================================================
normal        non-empty / any      the usual formulas (Dice = 0 if they do not overlap);
              (prediction non-     a non-empty truth with an empty prediction is ``missed``
              empty)
both_empty    empty / empty        Dice, IoU, precision, recall = ``empty_score`` (1 by default),
                                   surface distances 0
missed        non-empty / empty    Dice, IoU, precision, recall 0; surface distances = diagonal
false_alarm   empty / non-empty    Dice, IoU, precision, recall 0; surface distances = diagonal
============  ===================  ==========================================================

The diagonal is that of the image in the given pixel spacing, the largest distance possible inside it.
Specificity TN / (TN + FP) is ``empty_score`` when the truth covers the whole image (no negatives).

Surface distances follow MONAI's conventions: the boundary of a mask is the mask minus its erosion by the
4-connected cross; the Hausdorff distance is the maximum of the two directed distances, its 95th percentile
the maximum of the two directed 95th percentiles, the average symmetric surface distance (ASSD) the
mean over both boundaries' points of the distance to the other boundary, and the root-mean-square symmetric
surface distance (RMSSD, Heimann et al. 2009) the square root of the mean of their squares, which weighs large
local errors more than the ASSD and less than the HD.

Ignored pixels (``ignore``, or label ``ignore_index`` of a label mask: 255 in the Pascal VOC convention, the
unsure band along object boundaries) count nowhere: not in TP, FP, FN or TN, and not in the prediction whose
surface is measured. A case whose truth is all ignored has an empty truth.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

CATEGORIES = ("normal", "both_empty", "missed", "false_alarm")


def confusion(pred: np.ndarray, truth: np.ndarray) -> tuple[int, int, int, int]:
    """(TP, FP, FN, TN) of two boolean masks of the same shape."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and truth {truth.shape} differ in shape.")
    tp = int(np.count_nonzero(pred & truth))
    fp = int(np.count_nonzero(pred & ~truth))
    fn = int(np.count_nonzero(~pred & truth))
    return tp, fp, fn, pred.size - tp - fp - fn


def category(pred: np.ndarray, truth: np.ndarray) -> str:
    p, t = bool(np.any(pred)), bool(np.any(truth))
    if t:
        return "normal" if p else "missed"
    return "false_alarm" if p else "both_empty"


def boundary(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels: the mask minus its erosion by the 4-connected cross (pixels at the image edge count)."""
    mask = np.asarray(mask, bool)
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def directed_surface_distances(a: np.ndarray, b: np.ndarray, spacing=None) -> np.ndarray:
    """Distances from each boundary pixel of a to the nearest boundary pixel of b (both non-empty)."""
    ea, eb = boundary(a), boundary(b)
    dist_to_b = ndimage.distance_transform_edt(~eb, sampling=spacing)
    return dist_to_b[ea]


def surface_distances(pred: np.ndarray, truth: np.ndarray, spacing=None) -> dict:
    """Hausdorff distance, its 95th percentile and the ASSD of two non-empty masks."""
    d_pt = directed_surface_distances(pred, truth, spacing)
    d_tp = directed_surface_distances(truth, pred, spacing)
    return {
        "hd": float(max(d_pt.max(), d_tp.max())),
        "hd95": float(max(np.percentile(d_pt, 95), np.percentile(d_tp, 95))),
        "assd": float((d_pt.sum() + d_tp.sum()) / (d_pt.size + d_tp.size)),
        "rmssd": float(np.sqrt((np.square(d_pt).sum() + np.square(d_tp).sum()) / (d_pt.size + d_tp.size))),
    }


def diagonal(shape, spacing=None) -> float:
    spacing = np.ones(len(shape)) if spacing is None else np.asarray(spacing, float)
    return float(np.sqrt(np.sum((np.asarray(shape) * spacing) ** 2)))


def _ratio(num: float, den: float, if_empty: float) -> float:
    return float(num / den) if den > 0 else float(if_empty)


def segmentation_case(pred: np.ndarray, truth: np.ndarray, spacing=None, empty_score: float = 1.0,
                      surface: bool = True, ignore: np.ndarray | None = None) -> dict:
    """All metrics of one binary case; ``pred`` and ``truth`` are boolean (H, W) masks, ``ignore`` an optional
    boolean mask of pixels that count nowhere (see the module docstring).

    Returns plain numbers: tp, fp, fn, tn, accuracy, precision, recall, specificity, dice, iou and, with
    ``surface=True``, hd, hd95, assd, rmssd (in units of ``spacing``, pixels by default), plus ``category``.
    """
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    counted = pred.size
    if ignore is not None:
        keep = ~np.asarray(ignore, bool)
        pred, truth, counted = pred & keep, truth & keep, int(np.count_nonzero(keep))
    tp, fp, fn, tn = confusion(pred, truth)
    tn -= pred.size - counted
    cat = category(pred, truth)
    out: dict = {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "category": cat,
                 "accuracy": (tp + tn) / max(counted, 1),
                 "specificity": _ratio(tn, tn + fp, empty_score)}
    if cat == "both_empty":
        out.update(precision=empty_score, recall=empty_score, dice=empty_score, iou=empty_score)
    elif cat in ("missed", "false_alarm"):
        out.update(precision=0.0, recall=0.0, dice=0.0, iou=0.0)
    else:
        out.update(precision=_ratio(tp, tp + fp, 0.0), recall=_ratio(tp, tp + fn, 0.0),
                   dice=2 * tp / (2 * tp + fp + fn), iou=tp / (tp + fp + fn))
    if surface:
        if cat == "both_empty":
            out.update(hd=0.0, hd95=0.0, assd=0.0, rmssd=0.0)
        elif cat != "normal":
            d = diagonal(pred.shape, spacing)
            out.update(hd=d, hd95=d, assd=d, rmssd=d)
        else:
            out.update(surface_distances(pred, truth, spacing))
    return out


def multiclass_case(pred: np.ndarray, truth: np.ndarray, num_classes: int, spacing=None, empty_score: float = 1.0,
                    surface: bool = False, ignore_index: int | None = None) -> dict:
    """Per-class binary metrics of a label map (classes 1..K-1; 0 is background), plus their means.

    Keys: ``dice_k``, ``iou_k``, ``category_k`` for each foreground class k, and ``dice``/``iou`` as the
    mean over the foreground classes (each class counted under the empty-mask policy above). Pixels whose true
    label is ``ignore_index`` count nowhere, in accuracy neither.
    """
    out: dict = {}
    dices, ious = [], []
    ignore = None if ignore_index is None else np.asarray(truth) == ignore_index
    for k in range(1, num_classes):
        c = segmentation_case(pred == k, truth == k, spacing, empty_score, surface, ignore)
        out[f"dice_{k}"], out[f"iou_{k}"], out[f"category_{k}"] = c["dice"], c["iou"], c["category"]
        dices.append(c["dice"])
        ious.append(c["iou"])
    out["dice"], out["iou"] = float(np.mean(dices)), float(np.mean(ious))
    same = (np.asarray(pred) == np.asarray(truth))[... if ignore is None else ~ignore]
    out["accuracy"] = float(np.mean(same)) if same.size else float(empty_score)
    cats = [out[f"category_{k}"] for k in range(1, num_classes)]
    out["category"] = "missed" if "missed" in cats else "false_alarm" if "false_alarm" in cats else (
        "both_empty" if all(c == "both_empty" for c in cats) else "normal")
    return out

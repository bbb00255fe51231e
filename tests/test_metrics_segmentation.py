import math

import numpy as np
import pytest
import torch

from pixelwise.metrics import aggregate, bootstrap_interval, multiclass_case, segmentation_case


def square(shape, top, left, h, w):
    m = np.zeros(shape, bool)
    m[top:top + h, left:left + w] = True
    return m


def test_overlap_by_hand():
    truth = square((4, 4), 1, 1, 2, 2)  # 4 pixels
    pred = square((4, 4), 1, 1, 2, 3)  # 6 pixels, covering the truth
    c = segmentation_case(pred, truth)
    assert (c["tp"], c["fp"], c["fn"], c["tn"]) == (4, 2, 0, 10)
    assert c["dice"] == pytest.approx(0.8)
    assert c["iou"] == pytest.approx(4 / 6)
    assert c["precision"] == pytest.approx(4 / 6)
    assert c["recall"] == 1.0
    assert c["specificity"] == pytest.approx(10 / 12)
    assert c["accuracy"] == pytest.approx(14 / 16)
    assert c["category"] == "normal"


@pytest.mark.parametrize("spacing,expected", [(None, 3.0), ((2.0, 0.5), 1.5), ((0.5, 2.0), 6.0)])
def test_surface_distances_of_single_pixels_by_hand(spacing, expected):
    truth, pred = np.zeros((7, 9), bool), np.zeros((7, 9), bool)
    truth[2, 2] = pred[2, 5] = True  # 3 pixels apart along x
    c = segmentation_case(pred, truth, spacing=spacing)
    assert c["hd"] == pytest.approx(expected)
    assert c["hd95"] == pytest.approx(expected)
    assert c["assd"] == pytest.approx(expected)


def test_assd_by_hand_asymmetric_case():
    truth = np.zeros((5, 10), bool)
    pred = np.zeros((5, 10), bool)
    truth[2, 1] = True
    pred[2, 1] = pred[2, 4] = True  # distances pred->truth: 0, 3 ; truth->pred: 0
    c = segmentation_case(pred, truth)
    assert c["hd"] == pytest.approx(3.0)
    assert c["assd"] == pytest.approx(3.0 / 3)


DIAG = math.hypot(6, 8)
EMPTY, FULL = np.zeros((6, 8), bool), square((6, 8), 1, 1, 3, 3)


@pytest.mark.parametrize("pred,truth,category,dice,hd", [
    (EMPTY, EMPTY, "both_empty", 1.0, 0.0),
    (EMPTY, FULL, "missed", 0.0, DIAG),
    (FULL, EMPTY, "false_alarm", 0.0, DIAG),
    (square((6, 8), 4, 5, 2, 2), FULL, "normal", 0.0, None),  # disjoint but both non-empty
])
def test_empty_mask_policy(pred, truth, category, dice, hd):
    c = segmentation_case(pred, truth)
    assert c["category"] == category
    assert c["dice"] == dice and c["iou"] == dice
    values = [v for v in c.values() if isinstance(v, float)]
    assert all(math.isfinite(v) for v in values), "no metric may be NaN or infinite"
    if hd is not None:
        assert c["hd"] == pytest.approx(hd) and c["assd"] == pytest.approx(hd)


def test_empty_score_is_configurable():
    assert segmentation_case(EMPTY, EMPTY, empty_score=0.0)["dice"] == 0.0


def test_against_monai_and_torchmetrics():
    monai_metrics = pytest.importorskip("monai.metrics")
    tm = pytest.importorskip("torchmetrics.functional.classification")
    rng = np.random.default_rng(0)
    for _ in range(5):
        truth = np.zeros((23, 31), bool)
        pred = np.zeros((23, 31), bool)
        y0, x0 = rng.integers(2, 10, 2)
        truth[y0:y0 + rng.integers(4, 10), x0:x0 + rng.integers(4, 15)] = True
        y1, x1 = rng.integers(2, 10, 2)
        pred[y1:y1 + rng.integers(4, 10), x1:x1 + rng.integers(4, 15)] = True
        pred[rng.integers(0, 23), rng.integers(0, 31)] = True  # a stray pixel
        c = segmentation_case(pred, truth)
        p_t = torch.from_numpy(pred)[None, None].float()
        t_t = torch.from_numpy(truth)[None, None].float()
        assert c["dice"] == pytest.approx(monai_metrics.compute_dice(p_t, t_t).item(), abs=1e-6)
        assert c["iou"] == pytest.approx(monai_metrics.compute_iou(p_t, t_t).item(), abs=1e-6)
        assert c["iou"] == pytest.approx(tm.binary_jaccard_index(p_t.int(), t_t.int()).item(), abs=1e-6)
        assert c["precision"] == pytest.approx(tm.binary_precision(p_t.int(), t_t.int()).item(), abs=1e-6)
        assert c["recall"] == pytest.approx(tm.binary_recall(p_t.int(), t_t.int()).item(), abs=1e-6)
        assert c["hd"] == pytest.approx(monai_metrics.compute_hausdorff_distance(p_t, t_t).item(), abs=1e-5)
        assert c["hd95"] == pytest.approx(
            monai_metrics.compute_hausdorff_distance(p_t, t_t, percentile=95).item(), abs=1e-5)
        assert c["assd"] == pytest.approx(
            monai_metrics.compute_average_surface_distance(p_t, t_t, symmetric=True).item(), abs=1e-5)


def test_multiclass_case_means_foreground_classes():
    truth = np.array([[0, 1, 1], [2, 2, 0]])
    pred = np.array([[0, 1, 0], [2, 2, 2]])
    c = multiclass_case(pred, truth, 3)
    assert c["dice_1"] == pytest.approx(2 * 1 / 3)  # tp 1, fp 0, fn 1
    assert c["dice_2"] == pytest.approx(2 * 2 / 5)  # tp 2, fp 1, fn 0
    assert c["dice"] == pytest.approx((2 / 3 + 4 / 5) / 2)


def test_aggregate_counts_every_case_and_is_seeded():
    cases = [segmentation_case(p, t) for p, t in [(EMPTY, EMPTY), (EMPTY, FULL), (FULL, EMPTY), (FULL, FULL)]]
    agg = aggregate(cases, seed=1)
    assert agg["n_cases"] == 4
    assert agg["categories"] == {"normal": 1, "both_empty": 1, "missed": 1, "false_alarm": 1}
    assert agg["metrics"]["dice"]["mean"] == pytest.approx(0.5)
    assert agg["metrics"]["dice"]["median"] == pytest.approx(0.5)
    assert agg["metrics"]["dice"]["std"] == pytest.approx(np.std([1, 0, 0, 1], ddof=1))
    assert agg == aggregate(cases, seed=1)
    lo, hi = agg["metrics"]["dice"]["ci_low"], agg["metrics"]["dice"]["ci_high"]
    assert 0 <= lo <= 0.5 <= hi <= 1


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small = bootstrap_interval(rng.normal(0, 1, 20), seed=0)
    large = bootstrap_interval(rng.normal(0, 1, 2000), seed=0)
    assert small[0] < 0.5 and small[1] > -0.5
    assert (large[1] - large[0]) < (small[1] - small[0]) / 5

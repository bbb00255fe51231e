"""Evaluation pitfalls: the root-mean-square surface distance (by hand and against a brute-force distance matrix),
the ignore label in metrics and losses (by hand, and the generalised Dice loss against MONAI), the breakdown by
structure size (by hand), and the two documented demonstrations: a one-pixel shift costs a small structure more
Dice than a large one; a few stray annotation pixels far away move HD but not HD95."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.spatial.distance import cdist
from skimage.segmentation import find_boundaries

from pixelwise.data.folders import ImageMaskFolder
from pixelwise.errors import DataError, PixelwiseError
from pixelwise.losses import CEDiceLoss, cross_entropy_loss, generalised_dice_loss, multiclass_dice_loss
from pixelwise.losses.segmentation import BCEDiceLoss, binary_generalised_dice_loss
from pixelwise.metrics import multiclass_case, segmentation_case, size_bins, size_breakdown
from pixelwise.metrics.pitfalls import annotation_noise, boundary_shift
from pixelwise.tasks.segment import SegmentationConfig, loss_for

pytestmark = pytest.mark.usefixtures("one_thread")


def test_one_pixel_shift_costs_a_small_structure_more_dice():
    # Dice of a side-s square against itself moved one pixel: 2 s (s - 1) / (2 s^2) = (s - 1) / s
    assert boundary_shift(4)["dice"] == pytest.approx(0.75)
    assert boundary_shift(40)["dice"] == pytest.approx(0.975)
    assert boundary_shift(40, shift=4)["dice"] == pytest.approx(0.9)
    assert boundary_shift(4)["hd"] == boundary_shift(40)["hd"] == 1.0  # the same boundary error in pixels


def test_stray_annotation_pixels_move_hd_but_not_hd95():
    m = annotation_noise(side=20, image=100, stray=3, distance=40)
    # truth = 400 square pixels + 3 strays 40 pixels out; its boundary = 76 square pixels + 3 strays (3.8% < 5%)
    assert m["hd"] == pytest.approx(40.0) and m["hd95"] == 0.0
    assert m["dice"] == pytest.approx(2 * 400 / (400 + 403))
    assert m["assd"] == pytest.approx(3 * 40 / (76 + 79))
    assert m["rmssd"] == pytest.approx(math.sqrt(3 * 40**2 / (76 + 79)))
    many = annotation_noise(side=20, image=100, stray=10, distance=40)  # 10 of 86 boundary pixels: HD95 moves too
    assert many["hd95"] > 30


def test_rmssd_against_a_brute_force_distance_matrix():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:44]
    for _ in range(3):
        cy, cx, r = rng.uniform(14, 26), rng.uniform(14, 30), rng.uniform(4, 9)
        truth = (yy - 20) ** 2 + (xx - 22) ** 2 <= 64
        pred = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        spacing = (0.7, 1.3)
        pa = np.argwhere(find_boundaries(pred, mode="inner", connectivity=1)) * spacing
        pb = np.argwhere(find_boundaries(truth, mode="inner", connectivity=1)) * spacing
        d = cdist(pa, pb)
        both = np.concatenate([d.min(1), d.min(0)])
        m = segmentation_case(pred, truth, spacing)
        assert m["rmssd"] == pytest.approx(np.sqrt(np.mean(both**2)))
        assert m["assd"] == pytest.approx(np.mean(both)) and m["assd"] <= m["rmssd"] <= m["hd"]
    assert segmentation_case(np.zeros((5, 5)), truth[:5, :5] | True)["rmssd"] == pytest.approx(math.hypot(5, 5))


def test_the_ignore_label_counts_nowhere():
    truth = np.array([[1, 1, 255], [0, 0, 0]])
    pred = np.array([[1, 0, 1], [0, 0, 1]])
    m = multiclass_case(pred, truth, 2, ignore_index=255)
    # class 1 over the 5 counted pixels: TP (0,0), FN (0,1), FP (1,2): Dice 2 / 4; accuracy 3 / 5
    assert m["dice"] == pytest.approx(0.5) and m["accuracy"] == pytest.approx(0.6)
    plain = multiclass_case(pred, np.where(truth == 255, 0, truth), 2)  # 255 as background: one more FP
    assert plain["dice"] == pytest.approx(2 / 5)
    b = segmentation_case(pred == 1, truth == 1, ignore=truth == 255)
    assert (b["tp"], b["fp"], b["fn"], b["tn"]) == (1, 1, 1, 2)


def test_cross_entropy_and_dice_leave_ignored_pixels_out():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 5, 7, generator=g)
    target = torch.randint(0, 3, (2, 5, 7), generator=g)
    ignored = target.clone()
    ignored[..., -2:] = 255  # the last two columns ignored: the same as cutting them off
    cut = (logits[..., :-2], target[..., :-2])
    assert cross_entropy_loss(logits, ignored, 255).item() == pytest.approx(cross_entropy_loss(*cut).item(), rel=1e-6)
    assert multiclass_dice_loss(logits, ignored, ignore_index=255).item() == pytest.approx(
        multiclass_dice_loss(*cut).item(), rel=1e-6)
    assert generalised_dice_loss(logits, ignored, ignore_index=255).item() == pytest.approx(
        generalised_dice_loss(*cut).item(), rel=1e-6)
    z = logits.clone().requires_grad_()
    everything = torch.full_like(target, 255)
    loss = CEDiceLoss(1.0, ignore_index=255)(z, everything)
    loss.backward()
    assert loss.item() == 1.0 and z.grad.abs().max() == 0  # CE 0; Dice 1 - 0 / eps: constant, as for empty images
    with pytest.raises(ValueError, match="0..2"):
        multiclass_dice_loss(logits, ignored)  # 255 without ignore_index is not a class


@pytest.mark.parametrize("shape,classes", [((3, 7, 9), 4), ((1, 5, 3), 2), ((2, 1, 11), 3)])
def test_generalised_dice_loss_agrees_with_monai(shape, classes):
    from monai.losses import GeneralizedDiceLoss

    g = torch.Generator().manual_seed(sum(shape))
    logits = torch.randn(shape[0], classes, *shape[1:], generator=g)
    target = torch.randint(0, classes - 1, shape, generator=g)  # the last class absent: its weight is the largest
    oracle = GeneralizedDiceLoss(softmax=True, to_onehot_y=True, smooth_nr=0.0, smooth_dr=1e-6)
    assert generalised_dice_loss(logits, target).item() == pytest.approx(oracle(logits, target[:, None]).item(),
                                                                         rel=1e-5)
    binary = logits[:, :1]
    two = torch.cat([torch.zeros_like(binary), binary], 1)
    mask = (target > 0).float()[:, None]
    assert binary_generalised_dice_loss(binary, mask).item() == pytest.approx(
        oracle(two, mask).item(), rel=1e-5)
    assert BCEDiceLoss(1.0, generalised=True)(binary, mask).item() == pytest.approx(
        torch.nn.functional.binary_cross_entropy_with_logits(binary, mask).item() + oracle(two, mask).item(), rel=1e-5)


def test_generalised_dice_weighs_a_small_class_like_a_large_one():
    """Two classes, a 2-pixel structure in 100: missing it costs the soft Dice little beside the background's
    near-perfect score, the generalised Dice much more (its weight is 1 / area^2)."""
    target = torch.zeros(1, 10, 10, dtype=torch.long)
    target[0, 0, :2] = 1
    logits = torch.zeros(1, 2, 10, 10)
    logits[:, 0] = 8.0  # everything predicted background
    assert generalised_dice_loss(logits, target).item() > 0.9
    assert multiclass_dice_loss(logits, target).item() < 0.51


def test_segment_config_wires_the_ignore_label_and_the_generalised_dice(tmp_path):
    c = SegmentationConfig(data="x", num_classes=3, ignore_index=255, dice_loss="generalised")
    loss = loss_for(c)
    assert loss.ignore_index == 255 and loss.dice is generalised_dice_loss
    for kwargs, words in (({"ignore_index": 255}, "needs label masks"),
                          ({"num_classes": 3, "ignore_index": 2}, "in 3..255"),
                          ({"dice_loss": "tversky"}, "dice_loss='tversky'")):
        with pytest.raises(PixelwiseError, match=words):
            SegmentationConfig(data="x", **kwargs)
    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir()
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(tmp_path / "images" / "a.png")
    Image.fromarray(np.array([[0, 1, 2, 255, 0]] * 4, np.uint8)).save(tmp_path / "masks" / "a.png")
    assert ImageMaskFolder(tmp_path, 3, ignore_index=255).read(0)[1].max() == 255
    with pytest.raises(DataError, match="holds label 255.*--ignore-index"):
        ImageMaskFolder(tmp_path, 3).read(0)


def test_size_bins_by_hand():
    areas = [0, 5, 1, 9, 3, 7, 0, 2, 8]
    bins, edges = size_bins(areas)
    # non-empty areas sorted: 1 2 3 5 7 8 9; linear tertiles at positions 2 and 4: 3 and 7
    assert edges == {"tertiles": [3.0, 7.0], "smallest_max": 1.0}
    assert bins == {"smallest": [2], "small": [2, 4, 7], "medium": [1, 5], "large": [3, 8], "empty_truth": [0, 6]}
    cases = [{"dice": d, "iou": d / 2, "category": "normal"} for d in np.linspace(0, 0.8, 9)]
    out = size_breakdown(cases, areas, ["dice", "iou", "hd95"], seed=0)
    assert out["bins"]["medium"]["metrics"]["dice"]["mean"] == pytest.approx((0.1 + 0.5) / 2)
    assert out["bins"]["large"]["area_min"] == 8 and out["bins"]["large"]["categories"]["normal"] == 2
    assert "hd95" not in out["bins"]["small"]["metrics"]  # keys the cases lack are left out
    none = size_breakdown(cases[:2], [0, 0], ["dice"])
    assert none["tertiles"] is None and none["bins"]["small"] == {"n_cases": 0}


@pytest.mark.slow
def test_a_label_run_with_an_ignore_label_trains_and_scores_end_to_end(tmp_path):
    """Label masks 0..2 with a 255 band along each boundary: training (cross-entropy and the generalised Dice
    leave the band out), validation and evaluation all run, and the band counts in no metric."""
    import json

    from pixelwise.cli import main

    rng = np.random.default_rng(0)
    for i in range(12):
        labels = np.zeros((20, 20), np.uint8)
        top = int(rng.integers(2, 8))
        labels[top:top + 8, 3:11], labels[top:top + 8, 11:18] = 1, 2
        image = np.stack([labels * 90 + rng.integers(0, 30, (20, 20))] * 3, -1).astype(np.uint8)
        labels[top, 3:18] = 255  # the unsure band on one edge
        for sub, array in (("images", image), ("masks", labels)):
            (tmp_path / "data" / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(tmp_path / "data" / sub / f"c{i}.png")
    out = tmp_path / "run"
    assert main(["segment", "train", "--data", str(tmp_path / "data"), "--num-classes", "3", "--ignore-index", "255",
                 "--dice-loss", "generalised", "--size", "16", "--base-channels", "4", "--depth", "2", "--epochs",
                 "2", "--batch-size", "4", "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"dice_1", "dice_2", "accuracy"} <= set(metrics["metrics"]) and metrics["by_size"]["bins"]
    assert main(["segment", "train", "--data", str(tmp_path / "data"), "--num-classes", "3", "--size", "16",
                 "--out", str(tmp_path / "refused"), "--quiet"]) == 2  # 255 without --ignore-index: one sentence

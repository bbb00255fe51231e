"""Comparing runs: wins / ties / losses and category moves by hand, a paired interval that collapses on a constant
difference (an unpaired one would not), and segment / restore compare on run folders with known per-case scores:
the numbers by hand, the figure and report written, and runs with other cases or another task refused with nothing
written."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from pixelwise.cli import main
from pixelwise.metrics.compare import category_table, paired_comparison, wins_ties_losses
from pixelwise.tasks.restore import RestorationConfig
from pixelwise.tasks.restore import build_model as restore_model
from pixelwise.tasks.segment import SegmentationConfig, build_model
from pixelwise.train import save_weights
from pixelwise.train.files import write_json
from pixelwise.train.runs import config_dict

pytestmark = pytest.mark.usefixtures("one_thread")


def test_wins_ties_losses_by_hand():
    ref, other = [0.5, 0.5, 0.5, 0.5, math.inf], [0.7, 0.5, 0.495, 0.2, math.inf]
    assert wins_ties_losses(ref, other) == {"wins": 1, "ties": 2, "losses": 2}
    assert wins_ties_losses(ref, other, tolerance=0.01) == {"wins": 1, "ties": 3, "losses": 1}
    # a distance: lower is better, so the same numbers turn around
    assert wins_ties_losses(ref, other, higher_is_better=False) == {"wins": 2, "ties": 2, "losses": 1}
    assert wins_ties_losses([1.0], [float("nan")]) == {"wins": 0, "ties": 0, "losses": 1}


def test_a_constant_difference_has_a_collapsed_paired_interval():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.2, 0.9, 30)  # cases of very different difficulty
    rows = [{"dice_a": x, "dice_b": x + 0.1} for x in a]
    out = paired_comparison(rows, ["a", "b"], ["dice"], seed=0)
    d = out["difference"]["b"]["dice"]
    assert d["mean"] == pytest.approx(0.1) and d["ci_low"] == pytest.approx(0.1) and d["ci_high"] == pytest.approx(0.1)
    assert (d["wins"], d["ties"], d["losses"]) == (30, 0, 0)
    s = out["summary"]
    assert s["b"]["dice"]["ci_high"] - s["b"]["dice"]["ci_low"] > 0.1  # each mean alone is uncertain
    assert out["reference"] == "a"


def test_category_moves_by_hand():
    table = category_table(["normal", "missed", "missed", "both_empty"], ["normal", "normal", "missed", "false_alarm"])
    assert table == {"both_empty": {"false_alarm": 1}, "missed": {"missed": 1, "normal": 1}, "normal": {"normal": 1}}


CASES = ["case_0001", "case_0004", "case_0007", "case_0009"]


def _segment_run(root, name, polyp_folder, dice, categories, **settings):
    """A segmentation run folder with known per-case scores (and an untrained checkpoint for the figure)."""
    run = root / name
    (run / "checkpoints").mkdir(parents=True)
    config = SegmentationConfig(data=str(polyp_folder), out=str(run), size=16, base_channels=2, depth=1,
                                norm_mean=[0.5] * 3, norm_std=[0.2] * 3, **settings)
    write_json(run / "config.json", config_dict(config))
    torch.manual_seed(0)
    save_weights(build_model(config), run / "checkpoints" / "best.safetensors")
    write_json(run / "metrics.json", {"source": "test split", "tta": "none", "checkpoint": "best"})
    with open(run / "per_case.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["id", "dice", "iou", "hd95", "category"])
        w.writeheader()
        for case, d, c in zip(CASES, dice, categories):
            w.writerow({"id": case, "dice": d, "iou": d / (2 - d), "hd95": 10 * (1 - d), "category": c})
    return run


@pytest.fixture
def two_runs(tmp_path, polyp_folder):
    a = _segment_run(tmp_path, "unet", polyp_folder, [0.8, 0.6, 0.0, 1.0], ["normal", "normal", "missed", "both_empty"])
    b = _segment_run(tmp_path, "vit", polyp_folder, [0.9, 0.5, 0.4, 1.0], ["normal", "normal", "normal", "both_empty"])
    return a, b


def test_segment_compare_by_hand(two_runs, tmp_path, capsys):
    a, b = two_runs
    out = tmp_path / "cmp"
    assert main(["segment", "compare", str(a), str(b), "--out", str(out), "--figure-cases", "2"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    d = m["comparison"]["difference"]["vit"]
    # vit - unet per case: +0.1, -0.1, +0.4, 0 -> mean 0.1; two wins, one tie, one loss
    assert d["dice"]["mean"] == pytest.approx(0.1) and (d["dice"]["wins"], d["dice"]["ties"],
                                                          d["dice"]["losses"]) == (2, 1, 1)
    # hd95 = 10 (1 - dice): lower is better, so the same cases win
    assert d["hd95"]["mean"] == pytest.approx(-1.0) and d["hd95"]["wins"] == 2
    assert m["categories"]["counts"]["unet"]["missed"] == 1 and m["categories"]["counts"]["vit"]["missed"] == 0
    assert m["categories"]["moves"]["vit"]["missed"] == {"normal": 1}
    assert [row["id"] for row in m["per_case"]][:1] == ["case_0007"]  # the largest disagreement first
    assert m["keys"] == ["dice", "iou", "hd95"] and m["n_cases"] == 4
    for name in ("per_case.csv", "report.html", "plots/disagreements.png"):
        assert (out / name).is_file(), name
    assert "vit - unet: dice +0.100" in capsys.readouterr().out
    page = (out / "report.html").read_text()
    assert "2 / 1 / 1" in page and "disagreements.png" in page


@pytest.mark.parametrize("change,words", [
    (lambda run: _drop_case(run), "tested on different cases (1 differ, e.g. case_0009 only in unet's)"),
    (lambda run: _set(run, num_classes=3), "differ in num_classes (null and 3), which decides the labels predicted"),
    (lambda run: _set(run, empty_score=0.0), "differ in empty_score"),
])
def test_runs_of_other_cases_or_tasks_are_refused(two_runs, tmp_path, capsys, change, words):
    a, b = two_runs
    change(b)
    out = tmp_path / "never"
    assert main(["segment", "compare", str(a), str(b), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err
    assert not out.exists()


def _drop_case(run):
    lines = (run / "per_case.csv").read_text().splitlines()
    (run / "per_case.csv").write_text("\n".join(lines[:-1]) + "\n")


def _set(run, **settings):
    config = json.loads((run / "config.json").read_text())
    config.update(settings)
    (run / "config.json").write_text(json.dumps(config))


def test_other_refusals(two_runs, tmp_path, capsys):
    a, b = two_runs
    for argv, words in ((["segment", "compare", str(a), "--out", "x"], "needs at least two runs"),
                        (["segment", "compare", str(a), str(a), "--out", "x"], "is given twice"),
                        (["segment", "compare", str(a), str(tmp_path), "--out", "x"], "is neither a run folder"),
                        (["restore", "compare", str(a), str(b), "--out", "x"], "not `pixelwise restore`"),
                        (["segment", "compare", str(a), str(b), "--tie", "-1", "--out", "x"], "--tie -1.0 must be")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err
    (b / "per_case.csv").unlink()
    assert main(["segment", "compare", str(a), str(b), "--out", "x"]) == 2
    assert "run `pixelwise segment eval --run" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_restore_compare_draws_every_network_on_the_same_measurements(tmp_path):
    runs = []
    for width, psnr in ((4, [20.0, 22.0, 21.0]), (8, [21.0, 22.0, 25.0])):
        run = tmp_path / f"w{width}"
        (run / "checkpoints").mkdir(parents=True)
        config = RestorationConfig(data="phantoms", out=str(run), model="unet", size=16, phantoms=4, depth=2,
                                   width=width, measurement=RestorationConfig().measurement)
        write_json(run / "config.json", config_dict(config))
        torch.manual_seed(width)
        save_weights(restore_model(config), run / "checkpoints" / "best.safetensors")
        write_json(run / "metrics.json", {"source": "a test draw of phantoms", "protocol": config.eval_protocol,
                                          "checkpoint": "best"})
        rows = [{"case": f"phantom{i:03d}", "psnr_network": p, "ssim_network": p / 30} for i, p in enumerate(psnr)]
        with open(run / "per_case.csv", "w", newline="") as f:
            w = csv.DictWriter(f, list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        runs.append(str(run))
    out = tmp_path / "cmp"
    assert main(["restore", "compare", *runs, "--out", str(out), "--figure-cases", "2", "--tie", "0.5",
                 "--quiet"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    d = m["comparison"]["difference"]["w8"]["psnr"]
    assert d["mean"] == pytest.approx((1 + 0 + 4) / 3) and (d["wins"], d["ties"], d["losses"]) == (2, 1, 0)
    assert (out / "plots" / "disagreements.png").is_file() and "categories" not in m

"""`segment baseline` and `register` end to end on tiny generated data: the run folder a baseline writes is scored
exactly like `segment eval` scores a network (the same keys, columns and test cases), `--like` compares them case by
case, multi-atlas segmentation finds a target that is its own atlas, `segment eval --spacing` rescales surface
distances, and each bad input is one line, exit 2, nothing written."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from pixelwise.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")
SMALL = ["--work-size", "32", "--block-size", "9", "--tune-cases", "8", "--quiet"]


def read(path) -> dict:
    return json.loads(path.read_text())


def rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def trained(polyp_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("baseline") / "unet"
    assert main(["segment", "train", "--data", str(polyp_folder), "--size", "32", "--base-channels", "4", "--depth",
                 "2", "--epochs", "1", "--batch-size", "8", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.mark.slow
def test_every_method_is_scored_like_segment_eval_on_the_same_cases(trained, tmp_path, capsys):
    network = read(trained / "metrics.json")
    test_ids = read(trained / "split.json")["test"]
    for method in ("otsu", "multiotsu", "adaptive", "region", "watershed"):
        out = tmp_path / method
        assert main(["segment", "baseline", "--method", method, "--like", str(trained), "--out", str(out),
                     *SMALL]) == 0
        metrics = read(out / "metrics.json")
        assert set(network) - {"tta", "checkpoint"} <= set(metrics)
        assert set(metrics["metrics"]) == set(network["metrics"]) and metrics["by_size"]["bins"].keys() == \
            network["by_size"]["bins"].keys()
        assert list(rows(out / "per_case.csv")[0]) == list(rows(trained / "per_case.csv")[0])
        assert [r["id"] for r in rows(out / "per_case.csv")] == test_ids
        versus = metrics["versus"]
        assert versus["n_cases"] == len(test_ids) and set(versus["gain"]["baseline"]) == {"dice", "iou", "run_better"}
        gain = np.mean([float(a["dice"]) - float(b["dice"]) for a, b in zip(rows(trained / "per_case.csv"),
                                                                            rows(out / "per_case.csv"))])
        assert versus["gain"]["baseline"]["dice"]["mean"] == pytest.approx(gain)
        assert (out / "report.html").read_text().count("<table>") == 3  # metrics, sizes, the comparison
        assert read(out / "split.json") == read(trained / "split.json")
    assert "run folder:" in capsys.readouterr().out
    again = tmp_path / "again"
    assert main(["segment", "baseline", "--config", str(tmp_path / "watershed" / "config.json"), "--out", str(again),
                 "--quiet"]) == 0  # the same numbers from the run's own config.json
    first, second = read(tmp_path / "watershed" / "metrics.json"), read(again / "metrics.json")
    for m in (first, second):
        m.pop("seconds_per_image"), m["tuning"].pop("seconds")
    assert first == second


def test_channel_and_polarity_are_chosen_on_training_cases(polyp_folder, tmp_path):
    out = tmp_path / "auto"
    assert main(["segment", "baseline", "--data", str(polyp_folder), "--channel", "auto", "--out", str(out),
                 *SMALL]) == 0
    tuning = read(out / "metrics.json")["tuning"]
    assert len(tuning["table"]) == 2 * 11 and tuning["cases"] == 8
    assert [tuning["channel"], tuning["polarity"]] == max(tuning["table"], key=lambda r: r[2])[:2]


def test_atlases_find_a_target_that_is_its_own_atlas(polyp_folder, tmp_path):
    """With the data itself as the atlas set, the most similar atlas of each target is the target (NCC 1), the
    registration stays at the identity and its mask comes back: Dice near 1, whatever the fusion."""
    for fusion, warp_labels in (("majority", "nearest"), ("weighted", "probability")):
        out = tmp_path / fusion
        assert main(["segment", "baseline", "--method", "atlas", "--data", str(polyp_folder), "--atlas-data",
                     str(polyp_folder), "--atlases", "1", "--fusion", fusion, "--label-warp", warp_labels,
                     "--atlas-size", "32", "--iterations", "10", "--out", str(out), "--quiet"]) == 0
        cases = rows(out / "per_case.csv")
        assert all(c["atlases"] == c["id"] for c in cases)
        assert read(out / "metrics.json")["metrics"]["dice"]["mean"] > 0.9
    out = tmp_path / "training-atlases"
    assert main(["segment", "baseline", "--method", "atlas", "--data", str(polyp_folder), "--atlases", "3",
                 "--selection", "random", "--atlas-size", "24", "--iterations", "10", "--out", str(out),
                 "--quiet"]) == 0
    train = set(read(out / "split.json")["train"])
    used = [c["atlases"].split(";") for c in rows(out / "per_case.csv")]
    assert all(len(u) == 3 and set(u) <= train for u in used) and len({tuple(u) for u in used}) == 1


def test_region_growing_takes_seeds_from_a_file(polyp_folder, tmp_path):
    split = tmp_path / "train.txt"
    test = tmp_path / "test.txt"
    split.write_text("\n".join(f"case_{i:04d}" for i in range(40)))
    test.write_text("case_0040\ncase_0041\n")
    seeds = tmp_path / "seeds.csv"
    seeds.write_text("stem,row,col\ncase_0040,16,16\ncase_0041,3,30\n")
    out = tmp_path / "seeded"
    assert main(["segment", "baseline", "--method", "region", "--data", str(polyp_folder), "--train-ids", str(split),
                 "--test-ids", str(test), "--seeds", str(seeds), "--polarity", "bright", *SMALL,
                 "--out", str(out)]) == 0
    assert len(rows(out / "per_case.csv")) == 2


def test_segment_eval_spacing_scales_surface_distances(trained, capsys):
    assert main(["segment", "eval", "--run", str(trained), "--spacing", "2,2", "--quiet"]) == 0
    scaled = read(trained / "evaluations" / "test-spacing-2-2" / "metrics.json")
    own = read(trained / "metrics.json")
    for key in ("hd", "hd95", "assd", "rmssd"):  # an isotropic spacing of 2 doubles every distance
        assert scaled["metrics"][key]["mean"] == pytest.approx(2 * own["metrics"][key]["mean"])
    assert scaled["metrics"]["dice"] == own["metrics"]["dice"] and scaled["by_size"]["area_unit"] != "pixels"
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:  # argparse's usage error: exit 2
        main(["segment", "eval", "--run", str(trained), "--spacing", "0,1", "--quiet"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert "not a pixel spacing" in err and err.count("\n") == 1


def grey_and_colour(tmp_path):
    yy, xx = np.mgrid[0:40, 0:48]
    grey = (128 + 90 * np.sin(xx / 6) * np.cos(yy / 5)).clip(0, 255).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "fixed.png")
    Image.fromarray(np.roll(grey, (2, -3), (0, 1))).save(tmp_path / "moving.png")
    Image.fromarray(np.stack([grey] * 3, -1)).save(tmp_path / "colour.png")
    return tmp_path / "fixed.png", tmp_path / "moving.png", tmp_path / "colour.png"


def test_register_writes_the_warped_image_the_transform_and_scores(tmp_path, capsys):
    fixed, moving, colour = grey_and_colour(tmp_path)
    out = tmp_path / "reg"
    assert main(["register", str(fixed), str(moving), "--transform", "rigid", "--metric", "ssd", "--iterations", "60",
                 "--out", str(out), "--quiet"]) == 0
    for name in ("warped.png", "transform.json", "metrics.json", "figure.png", "config.json"):
        assert (out / name).is_file()
    metrics, transform = read(out / "metrics.json"), read(out / "transform.json")
    assert metrics["after"]["ssd"] < 0.2 * metrics["before"]["ssd"]
    # moving = fixed rolled by 2 rows and -3 columns: T(p) = p + (-3, 2), so the pixel matrix moves (c, r) that way
    np.testing.assert_allclose(np.array(transform["pixel_matrix"])[:2, 2], [-3, 2], atol=0.2)
    assert metrics["inverse_consistency"]["mean"] < 0.2
    assert main(["register", str(fixed), str(colour), "--grey", "--transform", "deformable", "--levels", "2",
                 "--iterations", "10", "--out", str(tmp_path / "def"), "--quiet", "--no-inverse"]) == 0
    assert np.load(tmp_path / "def" / "displacement.npy").shape == (2, 40, 48)


@pytest.mark.parametrize("argv,words", [
    (["register", "F", "C", "--out", "T/x"], "has 1 channel(s) but"),
    (["register", "F", "T/missing.png", "--out", "T/x"], "does not exist"),
    (["register", "F", "M", "--metric", "mi", "--out", "T/x"], "metric='mi' is not known"),
    (["register", "F", "M", "--window", "4", "--out", "T/x"], "--window=4 must be odd"),
    (["segment", "baseline", "--method", "snake", "--data", "D", "--out", "T/x"], "--method='snake' is not known"),
    (["segment", "baseline", "--out", "T/x"], "data (--data) is not given"),
    (["segment", "baseline", "--like", "T", "--out", "T/x"], "is not a segment run folder"),
    (["segment", "baseline", "--data", "D", "--channels", "1", "--channel", "hue", "--out", "T/x"], "needs colour"),
    (["segment", "baseline", "--data", "D", "--block-size", "4", "--out", "T/x"], "--block-size=4 must be odd"),
    (["segment", "baseline", "--data", "D", "--seeds", "T/seeds.csv", "--method", "region", "--out", "T/x"],
     "seed (row 32, col 5)"),
    (["segment", "baseline", "--data", "D", "--method", "atlas", "--atlas-data", "T/bad", "--out", "T/x"],
     "sizes differ"),
    (["segment", "baseline", "--data", "D", "--spacing", "0,1", "--out", "T/x"],
     "--spacing=0,1 must be two numbers > 0"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(polyp_folder, tmp_path, capsys, argv, words):
    fixed, moving, colour = grey_and_colour(tmp_path)
    (tmp_path / "seeds.csv").write_text("case_0001,32,5\n")  # the images are 32 x 32: row 32 is outside
    bad = tmp_path / "bad"
    shutil.copytree(polyp_folder, bad)
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(bad / "masks" / "case_0003.png")
    names = {"F": str(fixed), "M": str(moving), "C": str(colour), "D": str(polyp_folder), "T": str(tmp_path)}
    argv = [names.get(a, a.replace("T/", f"{tmp_path}/")) for a in argv]
    before = sorted(tmp_path.rglob("*"))
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1, err
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.slow
def test_the_baselines_benchmark_runs_at_toy_size(trained, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "segment_baselines.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny tensors: one thread each (the machine may be shared)
    done = subprocess.run([sys.executable, str(script), "--run", str(trained), "--out", str(tmp_path), "--methods",
                           "otsu,atlas", "--atlases", "1,2", "--work-size", "32", "--atlas-size", "16",
                           "--iterations", "3"], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result["methods"]) == {"otsu", "atlas-1-majority", "atlas-2-majority", "atlas-2-weighted"}
    network = np.mean([float(r["dice"]) for r in rows(trained / "per_case.csv")])
    otsu = np.mean([float(r["dice"]) for r in rows(tmp_path / "otsu" / "per_case.csv")])
    assert result["methods"]["otsu"]["network_gain_dice"]["mean"] == pytest.approx(network - otsu, abs=1e-4)


def test_majority_and_locally_weighted_votes_by_hand():
    """Three atlases: two vote foreground but differ from the target by 1 everywhere (local MSD 1), one votes
    background and matches the target exactly (local MSD 0). Majority: 2/3. Weighted by 1 / (MSD + 1e-4):
    2 (1 / 1.0001) / (2 / 1.0001 + 1e4), about 2e-4."""
    import torch

    from pixelwise.tasks.segment.atlas import fuse

    target = torch.zeros(1, 1, 5, 5)
    warped = torch.cat([torch.ones(2, 1, 5, 5), torch.zeros(1, 1, 5, 5)])
    votes = torch.cat([torch.ones(2, 1, 5, 5), torch.zeros(1, 1, 5, 5)])
    torch.testing.assert_close(fuse(target, warped, votes, "majority"), torch.full((5, 5), 2 / 3))
    w = 1 / 1.0001
    torch.testing.assert_close(fuse(target, warped, votes, "weighted"), torch.full((5, 5), 2 * w / (2 * w + 1e4)))


@pytest.mark.slow
def test_fusing_atlases_beats_one_atlas_where_anatomy_corresponds(tmp_path):
    """On generated subjects of one anatomy (the organ's boundary with its neighbour nearly invisible), a majority
    vote of 5 registered atlases scores a higher mean Dice than the single most similar atlas, on the same test
    cases: the registration errors of different atlases partly cancel (Heckemann et al. 2006); the locally weighted
    vote higher still. Otsu, which sees only intensity, merges the organ with its neighbour and scores below all.
    (Measured at this size: one 0.856, five 0.872, weighted 0.896, Otsu 0.812; benchmarks/atlas_fusion.py gives
    the full-size figures.)"""
    from pixelwise.data.synthetic import write_anatomy_folder

    data = write_anatomy_folder(tmp_path / "anatomy", n=30, size=48, seed=0)
    dice = {}
    for name, extra in (("one", ["--atlases", "1", "--fusion", "majority"]),
                        ("five", ["--atlases", "5", "--fusion", "majority"]),
                        ("weighted", ["--atlases", "5", "--fusion", "weighted"]),
                        ("otsu", [])):
        method = "otsu" if name == "otsu" else "atlas"
        assert main(["segment", "baseline", "--method", method, "--data", str(data), "--split", "0.5,0.1,0.4",
                     "--atlas-size", "48", "--work-size", "48", "--iterations", "30", *extra, "--out",
                     str(tmp_path / name), "--quiet"]) == 0
        dice[name] = [float(r["dice"]) for r in rows(tmp_path / name / "per_case.csv")]
    assert len(dice["one"]) == len(dice["five"]) == 12
    assert np.mean(dice["five"]) > np.mean(dice["one"]) + 0.005
    assert np.mean(dice["weighted"]) > np.mean(dice["five"]) + 0.02  # the atlases that match locally decide
    assert np.mean(dice["otsu"]) < np.mean(dice["one"])

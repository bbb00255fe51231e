"""The commands that explain, attack and protect, end to end on tiny runs: classify train with DP-SGD (the privacy
spent in metrics.json agrees with Opacus's accountant for the steps taken), segment train by FedAvg and
adversarially, attack, explain and invert writing what they say; and their bad input (one line, exit 2, nothing
written)."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelwise.cli import main

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.filterwarnings("ignore::UserWarning")]

DIGITS = ["--data", "digits", "--max-images", "300", "--base", "4", "--epochs", "2", "--batch-size", "32", "--quiet"]
SEGMENT = ["--size", "24", "--base-channels", "4", "--depth", "2", "--epochs", "2", "--batch-size", "4", "--quiet"]


def _json(path) -> dict:
    return json.loads(Path(path).read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory, polyp_folder):
    root = tmp_path_factory.mktemp("trust")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["classify", "train", *DIGITS, "--norm", "group", "--dp-clip", "1", "--dp-epsilon", "8",
                     "--dp-delta", "1e-4", "--out", str(root / "dp")]) == 0
        assert main(["segment", "train", "--data", str(polyp_folder), *SEGMENT, "--out", str(root / "seg")]) == 0
    return {"dp": root / "dp", "seg": root / "seg", "root": root, "polyps": polyp_folder}


def test_classify_with_dp_reports_the_privacy_opacus_counts(runs):
    from opacus.accountants import RDPAccountant

    run = runs["dp"]
    metrics = _json(run / "metrics.json")
    privacy = metrics["privacy"]
    steps = sum(int(r["steps"]) for r in csv.DictReader((run / "history.csv").open()))
    train = len(_json(run / "split.json")["train"])
    assert privacy["dp_steps"] == steps == 2 * round(train / 32)
    assert privacy["sampling_rate"] == pytest.approx(32 / train)
    accountant = RDPAccountant()
    accountant.history = [(privacy["noise_multiplier"], privacy["sampling_rate"], steps)]
    assert privacy["epsilon"] == pytest.approx(accountant.get_epsilon(1e-4), rel=1e-6)
    assert 7.9 < privacy["epsilon"] <= 8.0  # the noise was calibrated to the target over the planned epochs
    assert _json(run / "config.json")["privacy"]["dp_sigma"] == privacy["noise_multiplier"]
    assert 0 <= metrics["accuracy"] <= 1 and len(metrics["confusion"]) == 10
    assert (run / "report.html").is_file() and (run / "plots" / "confusion.png").is_file()


def test_segment_with_dp_by_fedavg_and_adversarially(runs, tmp_path):
    fed, adv, dp = tmp_path / "fed", tmp_path / "adv", tmp_path / "dp"
    assert main(["segment", "train", "--data", str(runs["polyps"]), *SEGMENT, "--norm", "group", "--dp-clip", "1",
                 "--dp-noise", "0.8", "--dp-delta", "1e-3", "--out", str(dp)]) == 0
    privacy = _json(dp / "metrics.json")["privacy"]
    assert privacy["noise_multiplier"] == 0.8 and privacy["epsilon"] > 0 and privacy["target_epsilon"] is None
    assert main(["segment", "train", "--data", str(runs["polyps"]), *SEGMENT, "--clients", "3", "--client-split",
                 "brightness", "--client-fraction", "0.6", "--out", str(fed)]) == 0
    split, metrics = _json(fed / "split.json"), _json(fed / "metrics.json")
    assert sorted(i for c in split["clients"] for i in c) == list(range(len(split["train"])))
    assert metrics["federated"]["rounds"] == 2 * 2  # 2 of 3 clients a round: 2 rounds an epoch
    assert main(["segment", "train", "--data", str(runs["polyps"]), *SEGMENT, "--adversarial", "pgd", "--epsilon",
                 "4/255", "--adv-steps", "2", "--out", str(adv)]) == 0
    assert _json(adv / "metrics.json")["adversarial_training"]["epsilon"] == pytest.approx(4 / 255)


def test_attack_writes_a_robustness_curve(runs, tmp_path):
    assert main(["attack", "--run", str(runs["dp"]), "--method", "fgsm", "--epsilon", "0.1,0.3", "--quiet"]) == 0
    metrics = _json(runs["dp"] / "evaluations" / "attack-fgsm" / "metrics.json")
    assert [c["epsilon"] for c in metrics["curve"]] == [0.0, 0.1, 0.3]
    assert metrics["clean"]["mean"] == pytest.approx(_json(runs["dp"] / "metrics.json")["accuracy"])
    assert metrics["curve"][-1]["mean"] <= metrics["clean"]["mean"]
    out = tmp_path / "pgd"
    assert main(["attack", "--run", str(runs["seg"]), "--epsilon", "8/255", "--steps", "2", "--out", str(out),
                 "--quiet"]) == 0
    rows = list(csv.DictReader((out / "per_case.csv").open()))
    assert len(rows) == 2 * _json(out / "metrics.json")["cases"] and "dice" in rows[0]
    for name in ("report.html", "plots/robustness.png", "plots/examples.png", "config.json"):
        assert (out / name).is_file(), name


def test_explain_writes_maps_overlays_and_a_report(runs, tmp_path):
    images = sorted((runs["polyps"] / "images").iterdir())[:2]
    out = tmp_path / "explain"
    assert main(["explain", "--run", str(runs["seg"]), *map(str, images), "--method",
                 "saliency,smoothgrad,gradient_x_input,guided_backprop,occlusion,filters,maximise", "--samples", "3",
                 "--steps", "5", "--out", str(out), "--quiet"]) == 0
    for image in images:
        assert np.load(out / "maps" / f"{image.stem}_occlusion.npy").shape == (3, 24, 24)
        assert (out / "plots" / f"{image.stem}.png").is_file()
    metrics = _json(out / "metrics.json")
    assert "predicted region" in metrics["images"][0]["target"] or "whole image" in metrics["images"][0]["target"]
    assert metrics["maximise"]["layer"] and np.load(out / "maps" / "filters.npy").shape[0] == 4
    digit = tmp_path / "digit.png"
    Image.fromarray((np.eye(8) * 255).astype(np.uint8)).save(digit)
    assert main(["explain", "--run", str(runs["dp"]), str(digit), "--method", "saliency,guided_backprop",
                 "--target", "class:3", "--out", str(tmp_path / "digit"), "--quiet"]) == 0
    assert "class 3" in _json(tmp_path / "digit" / "metrics.json")["images"][0]["target"]


def test_invert_recovers_from_the_runs_own_private_gradient(runs):
    assert main(["invert", "--run", str(runs["dp"]), "--batch", "2", "--iterations", "20", "--quiet"]) == 0
    metrics = _json(runs["dp"] / "evaluations" / "invert-b2-dp" / "metrics.json")
    assert metrics["dp"]["noise_multiplier"] == _json(runs["dp"] / "metrics.json")["privacy"]["noise_multiplier"]
    assert len(metrics["per_image"]) == 2 and metrics["ssim"] is None  # 8x8 digits: below SSIM's window


def test_a_restore_run_is_attacked_and_explained(tmp_path):
    run = tmp_path / "dn"
    assert main(["restore", "train", "--data", "bundled", "--task", "denoise", "--model", "dncnn", "--depth", "3",
                 "--width", "4", "--patch", "16", "--val-size", "24", "--epochs", "1", "--batch-size", "4",
                 "--steps-per-epoch", "2", "--tv-iterations", "5", "--out", str(run), "--quiet"]) == 0
    assert main(["attack", "--run", str(run), "--method", "fgsm", "--epsilon", "4/255", "--max-cases", "2",
                 "--quiet"]) == 0
    curve = _json(run / "evaluations" / "attack-fgsm" / "metrics.json")["curve"]
    assert curve[1]["mean"] < curve[0]["mean"]  # PSNR falls under attack
    photo = tmp_path / "photo.png"
    Image.fromarray((np.arange(20 * 20).reshape(20, 20) % 255).astype(np.uint8)).save(photo)
    assert main(["explain", "--run", str(run), str(photo), "--method", "saliency,occlusion", "--out",
                 str(tmp_path / "ex"), "--quiet"]) == 0
    assert "centre of the restored image" in _json(tmp_path / "ex" / "metrics.json")["images"][0]["target"]
    assert np.load(tmp_path / "ex" / "maps" / "photo_saliency.npy").shape[-2:] == (20, 20)


BAD = [  # argv (RUN:name = a fixture run, T/ = this test's folder), words the one line must contain
    (["classify", "train", *DIGITS, "--dp-clip", "1", "--dp-epsilon", "8", "--out", "T/new"], "--norm group"),
    (["classify", "train", *DIGITS, "--norm", "group", "--dp-clip", "0", "--dp-noise", "1", "--out", "T/new"],
     "--dp-clip=0.0 must be"),
    (["classify", "train", *DIGITS, "--norm", "group", "--dp-noise", "1", "--out", "T/new"], "needs dp_clip"),
    (["classify", "train", *DIGITS, "--norm", "group", "--dp-clip", "1", "--dp-epsilon", "0.01", "--out", "T/new"],
     "cannot be reached"),
    (["classify", "train", *DIGITS, "--norm", "group", "--dp-clip", "1", "--dp-noise", "1", "--dp-delta", "0.5",
      "--out", "T/new"], "is not below 1 / 240"),
    (["classify", "train", *DIGITS, "--clients", "1000", "--out", "T/new"], "more than the 240 training cases"),
    (["segment", "train", "--data", "POLYPS", *SEGMENT, "--clients", "3", "--client-split", "class", "--out",
      "T/new"], "needs class labels"),
    (["segment", "train", "--data", "POLYPS", *SEGMENT, "--adversarial", "pgd", "--epsilon", "0", "--out", "T/new"],
     "--epsilon=0.0 must be"),
    (["segment", "train", "--data", "POLYPS", *SEGMENT, "--adversarial", "fgsm", "--norm", "group", "--dp-clip", "1",
      "--dp-noise", "1", "--out", "T/new"], "cannot be combined"),
    (["attack", "--run", "RUN:dp", "--epsilon", "-0.1"], "must be finite radii"),
    (["attack", "--run", "T/latent"], "these tools work on runs of"),
    (["explain", "--run", "RUN:seg", "IMAGE", "--target", "class:3", "--out", "T/new"], "names a class"),
    (["explain", "--run", "RUN:seg", "IMAGE", "--target", "mask:T/small.png", "--out", "T/new"],
     "give a mask of the image's size"),
    (["explain", "--run", "RUN:dp", "IMAGE", "--target", "box:0,0,2,2", "--out", "T/new"], "names a region"),
    (["explain", "--run", "RUN:seg", "IMAGE", "--target", "box:5,5,100,9", "--out", "T/new"], "does not fit"),
    (["explain", "--run", "RUN:seg", "--out", "T/new"], "explain images"),
    (["explain", "--run", "RUN:seg", "IMAGE", "--method", "lime", "--out", "T/new"], "method='lime' is not known"),
    (["explain", "--run", "RUN:seg", "IMAGE", "--method", "occlusion", "--patch", "100000", "--out", "T/new"],
     "(--patch) is larger than the"),
    (["invert", "--run", "RUN:seg", "--batch", "1000"], "more than the run's"),
    (["invert", "--run", "RUN:dp", "--dp-clip", "1"], "go together"),
]


@pytest.mark.parametrize("argv,words", BAD, ids=[w for _, w in BAD])
def test_bad_input_is_one_line_and_writes_nothing(argv, words, runs, tmp_path, capsys):
    from pixelwise.tasks.latent import LatentConfig
    from pixelwise.train.runs import config_dict

    (tmp_path / "latent").mkdir()
    (tmp_path / "latent" / "config.json").write_text(json.dumps(config_dict(LatentConfig())))
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "small.png")
    image = str(sorted((runs["polyps"] / "images").iterdir())[0])
    args = [image if a == "IMAGE" else str(runs["polyps"]) if a == "POLYPS" else
            str(runs[a[4:]]) if a.startswith("RUN:") else a.replace("T/", f"{tmp_path}/") for a in argv]
    before = sorted(p for p in runs["root"].rglob("*"))
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err
    assert not (tmp_path / "new").exists()
    assert sorted(p for p in runs["root"].rglob("*")) == before

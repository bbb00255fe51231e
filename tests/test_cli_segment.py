"""The command line end to end on a tiny generated folder, and each bad-input error."""

import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from pixelwise.cli import main

TRAIN = ["segment", "train", "--size", "32", "--base-channels", "4", "--depth", "2", "--epochs", "2", "--batch-size",
         "4", "--quiet"]


def test_train_eval_predict(polyp_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*TRAIN, "--data", str(polyp_folder), "--out", str(out), "--seed", "3"]) == 0
    assert (out / "metrics.json").is_file()
    split = json.loads((out / "split.json").read_text())
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == (28, 10, 10)
    assert main(["segment", "eval", "--run", str(out), "--quiet", "--good-iou", "0.9", "--partial-iou", "0.5"]) == 0
    evaluation = out / "evaluations" / "test-iou-0.5-0.9"
    tiers = json.loads((evaluation / "metrics.json").read_text())["tiers"]
    ious = [float(r["iou"]) for r in csv.DictReader((evaluation / "per_case.csv").open())]
    assert tiers == {"good": sum(i >= 0.9 for i in ious), "partial": sum(0.5 <= i < 0.9 for i in ious),
                     "poor": sum(i < 0.5 for i in ious), "thresholds": {"good_iou": 0.9, "partial_iou": 0.5}}
    assert main(["segment", "eval", "--run", str(out), "--quiet", "--good-iou", "0.1", "--partial-iou", "0.5"]) == 2
    assert main(["segment", "predict", "--run", str(out), str(polyp_folder / "images"), "--out", str(tmp_path / "m"),
                 "--quiet"]) == 0
    assert len(list((tmp_path / "m").glob("*.png"))) == 48
    assert "wrote 48 masks" in capsys.readouterr().out
    # --compile: the same masks (48 = 6 batches of 8: one compile), up to a logit rounded across zero
    assert main(["segment", "predict", "--run", str(out), str(polyp_folder / "images"), "--out", str(tmp_path / "c"),
                 "--batch-size", "8", "--quiet", "--compile"]) == 0
    assert "torch.compile failed" not in capsys.readouterr().out
    eager = np.stack([np.asarray(Image.open(p)) for p in sorted((tmp_path / "m").glob("*.png"))])
    compiled = np.stack([np.asarray(Image.open(p)) for p in sorted((tmp_path / "c").glob("*.png"))])
    assert eager.shape == compiled.shape and (eager == compiled).mean() > 0.999


def test_resume_continues_a_run(polyp_folder, tmp_path):
    out = tmp_path / "run"
    assert main([*TRAIN, "--data", str(polyp_folder), "--out", str(out)]) == 0
    assert main([*TRAIN[:-3], "--epochs", "3", "--quiet", "--data", str(polyp_folder), "--out", str(out),
                 "--resume"]) == 0
    history = (out / "history.csv").read_text().strip().splitlines()
    assert len(history) == 1 + 3


def bad(tmp_path, polyp_folder):
    broken = tmp_path / "broken"
    shutil.copytree(polyp_folder, broken)
    (broken / "masks" / "case_0002.png").unlink()
    return broken


@pytest.mark.parametrize("args,message", [
    (["--model", "resnet"], "unet, vit, fcn"),
    (["--lambda-dice", "-1"], "--lambda-dice=-1.0"),
    (["--split", "0.5,0.5"], "three non-negative numbers"),
    (["--split", "0.7,0.2,0.2"], "sum"),
    (["--lr", "0"], "lr"),
    (["--minutes", "-2"], "minutes"),
    (["--test-ids", "x.txt"], "--train-ids"),
    (["--train-ids", "missing.txt"], "does not exist"),
    (["--resume"], "cannot resume"),
])
def test_bad_arguments_exit_2_with_one_line(polyp_folder, tmp_path, capsys, args, message):
    out = tmp_path / "run"
    code = main([*TRAIN, "--data", str(polyp_folder), "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_bad_data_exit_2_and_names_the_file(polyp_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*TRAIN, "--data", str(bad(tmp_path, polyp_folder)), "--out", str(out)]) == 2
    assert "case_0002" in capsys.readouterr().err
    assert not out.exists()
    assert main([*TRAIN, "--data", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_existing_run_is_not_overwritten(polyp_folder, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    assert main([*TRAIN, "--data", str(polyp_folder), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "precious"


@pytest.mark.parametrize("argv,message", [
    (["segment", "eval", "--run", "no/such/run"], "does not exist"),
    (["segment", "predict", "--run", "no/such/run", "x.png", "--out", "o"], "does not exist"),
])
def test_eval_and_predict_errors(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_usage_errors_exit_2(capsys, tmp_path):
    assert main(["segment", "train", "--out", str(tmp_path / "r")]) == 2  # --data missing (nor in a --config)
    assert "--data" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    with pytest.raises(SystemExit) as info:
        main(["segment", "train", "--sizes", "3"])  # an option that does not exist: argparse's own usage error
    assert info.value.code == 2


def test_python_dash_m_and_console_script():
    done = subprocess.run([sys.executable, "-m", "pixelwise", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "segment" in done.stdout
    done = subprocess.run([sys.executable, "-m", "pixelwise", "segment", "eval", "--run", "nope"], capture_output=True,
                          text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1


def test_compile_flag_trains_through_torch_compile(polyp_folder, tmp_path, monkeypatch):
    """``--compile`` reaches the loop: torch.compile is called once on the model (a recorder stands in for it
    here; the compiled loop itself is checked against the plain one in test_train.py)."""
    import torch

    calls = []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: calls.append(type(model).__name__) or model)
    out = tmp_path / "run"
    assert main([*TRAIN, "--epochs", "1", "--data", str(polyp_folder), "--out", str(out), "--compile"]) == 0
    assert calls == ["UNet"] and json.loads((out / "config.json").read_text())["compile"] is True
    assert main([*TRAIN, "--epochs", "1", "--data", str(polyp_folder), "--out", str(tmp_path / "plain")]) == 0
    assert calls == ["UNet"]

"""``pixelwise restore`` end to end on tiny generated data, and bad input (exit code 2, one line, nothing written)."""

from __future__ import annotations

import json

import pytest
import torch

from pixelwise.cli import main
from pixelwise.data.io import read_image, write_image
from pixelwise.data.samples import sample, to_uint8

torch.set_num_threads(1)
QUICK = ["--patch", "24", "--batch-size", "4", "--steps-per-epoch", "3", "--epochs", "1", "--quiet"]


@pytest.fixture(scope="module")
def crops(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crops")
    cam = sample("camera", grey=True)
    for i, (top, size) in enumerate([(100, 32), (200, 29), (300, 31)]):
        write_image(folder / f"c{i}.png", to_uint8(cam[:, top:top + size, top:top + size + 1]))
    return folder


def test_train_eval_apply_denoise(crops, tmp_path, capsys):
    run = tmp_path / "runs" / "dn"
    assert main(["restore", "train", "--task", "denoise", "--model", "dncnn", "--depth", "3", "--width", "8",
                 "--data", str(crops), "--sigma", "25", "--out", str(run), *QUICK]) == 0
    for name in ("config.json", "history.csv", "metrics.json", "per_case.csv", "plots/figure.png"):
        assert (run / name).is_file(), name
    assert main(["restore", "eval", "--run", str(run), "--data", str(crops), "--protocol", "plain"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["count"] == 3 and metrics["protocol"] == "plain"
    assert set(metrics["mean"]) == set(metrics["summary"]) == {"naive", "tv", "network"}
    assert set(metrics["gain"]) == {"naive", "tv"} and (run / "report.html").is_file()
    assert "network - naive" in capsys.readouterr().out
    out = tmp_path / "restored"
    assert main(["restore", "apply", "--run", str(run), str(crops / "c1.png"), "--out", str(out)]) == 0
    assert read_image(out / "c1.png", mode="L").shape == (29, 30)
    assert "wrote 1 images" in capsys.readouterr().out


def test_train_sr_post_blind_range_and_apply_upsamples(crops, tmp_path):
    run = tmp_path / "sr"
    assert main(["restore", "train", "--task", "sr", "--model", "post", "--scale", "3", "--depth", "2", "--width",
                 "8", "--data", str(crops), "--sigma-range", "0,5", "--out", str(run), *QUICK]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["protocol"] == "sr"
    out = tmp_path / "up"
    assert main(["restore", "apply", "--run", str(run), str(crops), "--out", str(out)]) == 0
    assert read_image(out / "c0.png", mode="L").shape == (96, 99)  # 32 x 33 -> 3 x


def test_train_ct_unrolled_on_phantoms(tmp_path):
    run = tmp_path / "ct"
    assert main(["restore", "train", "--task", "ct", "--model", "unrolled", "--data", "phantoms", "--size", "24",
                 "--phantoms", "4", "--views", "8", "--iterations", "2", "--width", "4", "--out", str(run),
                 *QUICK]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["naive_name"] == "FBP" and metrics["count"] == 8


def test_dip(tmp_path):
    out = tmp_path / "dip"
    assert main(["restore", "dip", "camera", "--size", "24", "--iterations", "20", "--log-every", "5",
                 "--out", str(out)]) == 0
    for name in ("naive.png", "measurement.png", "reconstruction.png", "trace.csv", "metrics.json", "figure.png"):
        assert (out / name).is_file(), name
    assert json.loads((out / "metrics.json").read_text())["dip"]["iteration"] in (5, 10, 15, 20)


BAD = [
    (["train", "--task", "dehaze"], "task"),
    (["train", "--model", "resnet"], "model"),
    (["train", "--task", "denoise", "--regime", "measurements"], "degenerate"),
    (["train", "--data", "/no/such/dir"], "not a folder"),
    (["train", "--task", "sr", "--scale", "3", "--patch", "25"], "multiple"),
    (["train", "--model", "post"], "post"),
    (["eval", "--run", "/no/such/run"], "not a restore run folder"),
    (["dip", "/no/such.png"], "neither a file"),
    (["dip", "camera", "--task", "dehaze"], "task"),
    (["dip", "camera", "--iterations", "0"], "iterations"),
]


@pytest.mark.parametrize("args, words", BAD, ids=[w for _, w in BAD])
def test_bad_input_is_one_line_and_writes_nothing(args, words, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["restore", *args, "--out", str(out)] if args[0] != "eval" else ["restore", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and words in err, err
    assert not out.exists()


def test_sigma_and_sigma_range_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["restore", "train", "--sigma", "25", "--sigma-range", "0,55"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["restore", "train", "--sigma-range", "55"])
    assert exc.value.code == 2


def test_existing_run_needs_overwrite(crops, tmp_path, capsys):
    run = tmp_path / "taken"
    run.mkdir()
    (run / "keep.txt").write_text("mine")
    code = main(["restore", "train", "--data", str(crops), "--out", str(run), *QUICK])
    assert code == 2 and "already exists" in capsys.readouterr().err
    assert (run / "keep.txt").read_text() == "mine"


def test_resume_extends_a_run(crops, tmp_path, capsys):
    run = tmp_path / "run"
    small = ["--depth", "2", "--width", "4", "--data", str(crops), "--out", str(run)]
    assert main(["restore", "train", *small, *QUICK]) == 0
    weights = (run / "checkpoints" / "last.safetensors").read_bytes()
    # the same command again with --resume and a longer run: the repeated options agree with the saved ones
    assert main(["restore", "train", *small, *QUICK[:-3], "--epochs", "2", "--quiet", "--resume"]) == 0
    rows = (run / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 2
    assert (run / "checkpoints" / "last.safetensors").read_bytes() != weights
    assert json.loads((run / "config.json").read_text())["epochs"] == 2
    capsys.readouterr()
    assert main(["restore", "train", "--out", str(run), "--lr", "0.5", "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "lr=0.5" in err, err
    assert len((run / "history.csv").read_text().strip().splitlines()) == 1 + 2


RESUME_BAD = [
    (["--resume"], "cannot resume"),
    (["--resume", "--overwrite"], "contradict"),
]


@pytest.mark.parametrize("args, words", RESUME_BAD, ids=[w for _, w in RESUME_BAD])
def test_resume_bad_input(args, words, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["restore", "train", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err
    assert not out.exists()


def test_apply_refuses_what_it_cannot_do(tmp_path, crops, capsys):
    run = tmp_path / "mri"
    assert main(["restore", "train", "--task", "mri", "--model", "unet", "--data", "phantoms", "--size", "16",
                 "--phantoms", "2", "--depth", "2", "--width", "4", "--out", str(run), *QUICK]) == 0
    out = tmp_path / "never"
    assert main(["restore", "apply", "--run", str(run), str(crops / "c0.png"), "--out", str(out)]) == 2
    assert "mri" in capsys.readouterr().err
    dn = tmp_path / "dn"
    assert main(["restore", "train", "--data", str(crops), "--depth", "2", "--width", "4", "--out", str(dn),
                 *QUICK]) == 0
    assert main(["restore", "apply", "--run", str(dn), str(crops / "c0.png"), str(tmp_path / "missing.png"),
                 "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not out.exists()


def test_colour_denoising_run(crops, tmp_path):
    run = tmp_path / "rgb"
    assert main(["restore", "train", "--channels", "3", "--depth", "2", "--width", "4", "--data", str(crops),
                 "--out", str(run), *QUICK]) == 0
    out = tmp_path / "rgb_out"
    assert main(["restore", "apply", "--run", str(run), str(crops / "c2.png"), "--out", str(out)]) == 0
    assert read_image(out / "c2.png", mode="RGB").shape == (31, 32, 3)


def test_compile_flag_trains_through_torch_compile(crops, tmp_path, monkeypatch):
    """``restore train --compile`` calls torch.compile once on the network (a recorder stands in for it)."""
    calls = []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: calls.append(type(model).__name__) or model)
    run = tmp_path / "dn"
    assert main(["restore", "train", "--task", "denoise", "--model", "dncnn", "--depth", "3", "--width", "8",
                 "--data", str(crops), "--out", str(run), "--compile", *QUICK]) == 0
    assert len(calls) == 1 and json.loads((run / "config.json").read_text())["compile"] is True

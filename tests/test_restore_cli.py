"""``pixelwise restore`` end to end on tiny generated data, options to configs, and bad input (exit code 2, one
line, nothing written)."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from pixelwise.cli import build_parser, main
from pixelwise.cli.options import config_from_args
from pixelwise.data.io import read_image, write_image
from pixelwise.data.samples import sample, to_uint8
from pixelwise.tasks.restore import DIPConfig, RestorationConfig

pytestmark = pytest.mark.usefixtures("one_thread")
QUICK = ["--patch", "24", "--batch-size", "4", "--steps-per-epoch", "3", "--epochs", "1", "--quiet"]


@pytest.fixture(scope="module")
def crops(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crops")
    cam = sample("camera", grey=True)
    for i, (top, size) in enumerate([(100, 32), (200, 29), (300, 31)]):
        write_image(folder / f"c{i}.png", to_uint8(cam[:, top:top + size, top:top + size + 1]))
    return folder


def parsed(cls, argv: list[str]):
    """The config a command line builds, without running it."""
    return config_from_args(cls, build_parser(argv).parse_args(argv))


# (options after `restore train`, {dotted setting: expected value})
OPTIONS = [
    ([], {"measurement.operator": "denoise", "measurement.scale": 3, "sigma": 25.0, "patch": 40, "epochs": 10,
          "batch_size": 16, "warmup": 200, "grad_clip": 1.0, "out": "runs/restore", "augment": True}),
    (["--task", "sr"], {"measurement.operator": "downsample", "measurement.scale": 3, "patch": 42, "sigma": 0.0}),
    (["--task", "sr", "--scale", "4"], {"measurement.scale": 4, "patch": 40}),
    (["--task", "deblur", "--kernel-sigma", "2.5"], {"measurement.operator": "blur", "measurement.kernel_sigma": 2.5,
                                                     "sigma": 2.0}),
    (["--operator", "ct", "--views", "45"], {"measurement.operator": "ct", "measurement.views": 45}),
    (["--task", "inpaint", "--keep", "0.25"], {"measurement.keep": 0.25}),
    (["--sigma-range", "0,55"], {"sigma_range": (0.0, 55.0), "sigma": 25.0}),
    (["--sigma", "50", "--sigma-range", "0,55"], {"sigma_range": (0.0, 55.0), "sigma": 50.0}),
    (["--no-augment", "--shared"], {"augment": False, "shared": True}),
    (["--tv-lambda", "auto"], {"tv_lambda": "auto"}),
    (["--tv-lambda", "0.05", "--tv-tol", "none"], {"tv_lambda": 0.05, "tv_tol": None}),
    (["--grad-clip", "none", "--minutes", "2"], {"grad_clip": None, "minutes": 2.0, "epochs": 1000}),
]


@pytest.mark.parametrize("options, expected", OPTIONS, ids=[" ".join(o) or "defaults" for o, _ in OPTIONS])
def test_options_build_the_config(options, expected):
    config = parsed(RestorationConfig, ["restore", "train", *options])
    for dotted, value in expected.items():
        node = config
        for part in dotted.split("."):
            node = getattr(node, part)
        assert node == value, dotted


def test_dip_options_build_its_config():
    config = parsed(DIPConfig, ["restore", "dip", "astronaut", "--task", "sr", "--scale", "4", "--size", "32"])
    assert (config.image, config.measurement.operator, config.measurement.scale, config.size) == (
        "astronaut", "downsample", 4, 32)
    assert (config.sigma, config.iterations, config.out) == (25.0, 500, "runs/dip")


def test_train_eval_apply_denoise(crops, tmp_path, capsys):
    run = tmp_path / "runs" / "dn"
    assert main(["restore", "train", "--task", "denoise", "--model", "dncnn", "--depth", "3", "--width", "8",
                 "--data", str(crops), "--sigma", "25", "--out", str(run), *QUICK]) == 0
    for name in ("config.json", "split.json", "history.csv", "metrics.json", "per_case.csv", "plots/figure.png",
                 "report.html"):
        assert (run / name).is_file(), name
    own = (run / "metrics.json").read_bytes()
    assert main(["restore", "eval", "--run", str(run), "--data", str(crops), "--protocol", "plain", "--quiet"]) == 0
    metrics = json.loads((run / "evaluations" / f"{crops.name}-plain" / "metrics.json").read_text())
    assert metrics["count"] == 3 and metrics["protocol"] == "plain"
    assert set(metrics["mean"]) == set(metrics["summary"]) == {"naive", "tv", "network"}
    assert set(metrics["gain"]) == {"naive", "tv"} and (run / "evaluations" / f"{crops.name}-plain" / "report.html")
    assert "network - naive" in capsys.readouterr().out
    assert (run / "metrics.json").read_bytes() == own  # the run's own results stay
    assert main(["restore", "eval", "--run", str(run), "--which", "last", "--name", "last", "--quiet"]) == 0
    assert json.loads((run / "evaluations" / "last" / "metrics.json").read_text())["checkpoint"] == "last"
    out = tmp_path / "restored"
    assert main(["restore", "apply", "--run", str(run), str(crops / "c1.png"), "--out", str(out), "--quiet"]) == 0
    assert read_image(out / "c1.png", mode="L").shape == (29, 30)
    assert "wrote 1 images" in capsys.readouterr().out


def test_train_sr_post_blind_range_and_apply_upsamples(crops, tmp_path):
    run = tmp_path / "sr"
    assert main(["restore", "train", "--task", "sr", "--model", "post", "--scale", "3", "--depth", "2", "--width",
                 "8", "--data", str(crops), "--sigma-range", "0,5", "--out", str(run), *QUICK]) == 0
    saved = json.loads((run / "config.json").read_text())
    assert saved["measurement"]["operator"] == "downsample" and saved["sigma_range"] == [0.0, 5.0]
    assert json.loads((run / "metrics.json").read_text())["protocol"] == "sr"
    out = tmp_path / "up"
    assert main(["restore", "apply", "--run", str(run), str(crops), "--out", str(out), "--which", "last"]) == 0
    assert read_image(out / "c0.png", mode="L").shape == (96, 99)  # 32 x 33 -> 3 x


def test_train_ct_unrolled_on_phantoms(tmp_path):
    run = tmp_path / "ct"
    assert main(["restore", "train", "--task", "ct", "--model", "unrolled", "--data", "phantoms", "--size", "24",
                 "--phantoms", "4", "--views", "8", "--iterations", "2", "--width", "4", "--out", str(run),
                 *QUICK]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["naive_name"] == "FBP" and metrics["count"] == 8


def test_a_runs_config_json_repeats_it(crops, tmp_path):
    """config.json as --config: the same settings (the path of the data already absolute), the same numbers."""
    first, again = tmp_path / "first", tmp_path / "again"
    assert main(["restore", "train", "--depth", "2", "--width", "4", "--data", str(crops), "--sigma", "30",
                 "--no-augment", "--out", str(first), *QUICK]) == 0
    assert main(["restore", "train", "--config", str(first / "config.json"), "--out", str(again), "--quiet"]) == 0
    a, b = (json.loads((r / "config.json").read_text()) for r in (first, again))
    assert {k: v for k, v in a.items() if k != "out"} == {k: v for k, v in b.items() if k != "out"}
    rows = [[{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(open(d / "history.csv"))]
            for d in (first, again)]
    assert rows[0] == rows[1]
    assert (first / "checkpoints" / "last.safetensors").read_bytes() == (
        again / "checkpoints" / "last.safetensors").read_bytes()


def test_dip(tmp_path):
    out = tmp_path / "dip"
    assert main(["restore", "dip", "camera", "--size", "24", "--iterations", "20", "--log-every", "5",
                 "--out", str(out), "--quiet"]) == 0
    for name in ("config.json", "naive.png", "measurement.png", "reconstruction.png", "trace.csv", "metrics.json",
                 "figure.png"):
        assert (out / name).is_file(), name
    first = json.loads((out / "metrics.json").read_text())
    assert first["dip"]["iteration"] in (5, 10, 15, 20)
    # its config.json repeats it (with --overwrite, into the same folder): the same numbers
    assert main(["restore", "dip", "camera", "--config", str(out / "config.json"), "--overwrite", "--quiet"]) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert again["dip"] == first["dip"] and again["naive"] == first["naive"]


@pytest.mark.slow
def test_dip_stops_by_the_discrepancy_principle_and_draws_the_fitting_curves(tmp_path):
    out = tmp_path / "dip"
    assert main(["restore", "dip", "camera", "--size", "16", "--iterations", "400", "--log-every", "10",
                 "--sigma", "25", "--discrepancy", "--curves", "--out", str(out), "--quiet"]) == 0
    dip = json.loads((out / "metrics.json").read_text())["dip"]
    trace = list(csv.DictReader((out / "trace.csv").open()))
    noise_variance = (25 / 255) ** 2
    # (D2): the first logged check whose residual is within the noise variance, and none before it
    assert dip["stopped_by"] == "discrepancy" and float(trace[-1]["residual"]) <= noise_variance
    assert all(float(row["residual"]) > noise_variance for row in trace[:-1])
    assert dip["iteration"] == int(trace[-1]["iteration"]) < 400
    curves = list(csv.DictReader((out / "curves.csv").open()))
    assert len(curves) == 40 and (out / "plots" / "curves.png").is_file()
    for row in curves[1:]:  # the natural image is fitted long before the noise (Ulyanov et al. 2018, Fig. 2)
        assert float(row["natural"]) < float(row["noisy"]) and float(row["natural"]) < float(row["noise"])


def test_dip_deblur_alias(tmp_path):
    out = tmp_path / "dip"
    assert main(["restore", "dip", "shepp_logan", "--task", "deblur", "--size", "16", "--iterations", "4",
                 "--log-every", "2", "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["measurement"]["operator"] == "blur" and metrics["naive_name"] == "blurred"


BAD = [
    (["train", "--task", "dehaze"], "operator 'dehaze' is not known"),
    (["train", "--model", "resnet"], "model='resnet' is not known; use one of dncnn"),
    (["train", "--task", "denoise", "--regime", "measurements"], "degenerate"),
    (["train", "--data", "/no/such/dir"], "not a folder"),
    (["train", "--task", "sr", "--scale", "3", "--patch", "25"], "multiple"),
    (["train", "--model", "post"], "post"),
    (["train", "--epochs", "0"], "epochs=0"),
    (["train", "--config", "/no/such.toml"], "does not exist"),
    (["eval", "--run", "/no/such/run"], "does not exist; give --run a folder made by `pixelwise restore train`"),
    (["apply", "--run", "/no/such/run", "x.png", "--out", "OUT"], "does not exist"),
    (["dip", "/no/such.png"], "neither a file"),
    (["dip", "camera", "--task", "dehaze"], "operator"),
    (["dip", "camera", "--iterations", "0"], "iterations"),
    (["dip", "camera", "--log-every", "0"], "--log-every=0"),
    (["dip", "camera", "--task", "sr", "--scale", "3", "--size", "64"], "multiple of --scale=3"),
    (["dip", "camera", "--size", "4096"], "crop size 4096"),
]


@pytest.mark.parametrize("args, words", BAD, ids=[w[:30] for _, w in BAD])
def test_bad_input_is_one_line_and_writes_nothing(args, words, tmp_path, capsys):
    out = tmp_path / "out"
    args = [str(out) if a == "OUT" else a for a in args]
    code = main(["restore", *args, "--out", str(out)] if args[0] in ("train", "dip") else ["restore", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and words in err, err
    assert not out.exists()


@pytest.mark.parametrize("args", [["--sigma-range", "55"], ["--sigma-range", "0,5,9"], ["--task", "sr", "--scale",
                                                                                       "x"]])
def test_malformed_values_are_usage_errors(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["restore", "train", *args])
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_existing_run_needs_overwrite(crops, tmp_path, capsys):
    run = tmp_path / "taken"
    run.mkdir()
    (run / "keep.txt").write_text("mine")
    code = main(["restore", "train", "--data", str(crops), "--out", str(run), *QUICK])
    assert code == 2 and "already exists" in capsys.readouterr().err
    assert (run / "keep.txt").read_text() == "mine"


def test_dip_writes_into_a_folder_with_files_only_with_overwrite(tmp_path, capsys):
    out = tmp_path / "dip"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    argv = ["restore", "dip", "camera", "--size", "16", "--iterations", "2", "--log-every", "1", "--out", str(out),
            "--quiet"]
    assert main(argv) == 2 and "--overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert main([*argv, "--overwrite"]) == 0
    assert (out / "keep.txt").read_text() == "mine" and (out / "metrics.json").is_file()


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
    for changed, words in ((["--lr", "0.5"], "lr=0.5"), (["--task", "sr"], "measurement.operator='downsample'"),
                           (["--no-augment"], "augment=False")):
        assert main(["restore", "train", "--out", str(run), *changed, "--resume", "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err, err
    assert len((run / "history.csv").read_text().strip().splitlines()) == 1 + 2
    # the budget alone may change
    assert main(["restore", "train", "--out", str(run), "--epochs", "3", "--resume", "--quiet"]) == 0
    assert len((run / "history.csv").read_text().strip().splitlines()) == 1 + 3


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

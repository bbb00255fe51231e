"""The run-folder contract, once, for every recipe that trains: the files a run writes, the same numbers from the
same seed, the overwrite and resume refusals, a run repeated from its config.json, and kill -9 at several points
(inside an epoch, in the middle of a checkpoint write) followed by --resume ending with exactly the weights and
history of an uninterrupted run (--deterministic, bitwise on a CPU)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pixelwise.cli import main
from pixelwise.data.synthetic import write_polyps_folder

pytestmark = pytest.mark.usefixtures("one_thread")

# recipe -> (train argv without --out, the files a run writes besides RUN_FILES, where to kill it: ("step", n)
# before the n-th optimizer step, ("write", n) between writing the n-th file and putting it in place; writes
# count config.json, split.json, then per epoch last_state.pt, best (if better), last, history.csv)
RECIPES = {
    "segment": (["segment", "train", "--data", "{polyps}", "--size", "24", "--base-channels", "4", "--depth", "2",
                 "--epochs", "4", "--batch-size", "4"], ["metrics.json", "per_case.csv", "report.html", "split.json"],
                [("step", 5), ("step", 8), ("write", 1), ("write", 3), ("write", 4), ("write", 8)]),
    "segment-transfer": (["segment", "train", "--data", "{polyps}", "--size", "24", "--base-channels", "4", "--depth",
                          "2", "--epochs", "4", "--batch-size", "4", "--init", "{pretrained}", "--freeze-encoder",
                          "--label-fraction", "0.5"], ["metrics.json", "per_case.csv", "report.html", "split.json"],
                         [("step", 3)]),
    "pretrain": (["pretrain", "train", "--data", "{polyps}", "--size", "24", "--base-channels", "4", "--depth", "2",
                  "--epochs", "3", "--batch-size", "4"],
                 ["metrics.json", "per_case.csv", "report.html", "split.json", "plots/views.png"],
                 [("step", 7), ("write", 4)]),
    "restore": (["restore", "train", "--data", "phantoms", "--task", "mri", "--model", "unet", "--size", "16",
                 "--phantoms", "4", "--depth", "2", "--width", "4", "--epochs", "4", "--batch-size", "4",
                 "--steps-per-epoch", "2", "--tv-iterations", "50"],
                ["metrics.json", "per_case.csv", "report.html", "split.json"],
                [("step", 3), ("step", 6), ("write", 1), ("write", 3), ("write", 4), ("write", 8)]),
    "restore-adversarial": (["restore", "train", "--data", "bundled", "--task", "denoise", "--model", "dncnn",
                             "--depth", "3", "--width", "4", "--patch", "16", "--val-size", "24", "--epochs", "3",
                             "--batch-size", "4", "--steps-per-epoch", "2", "--adversarial-weight", "0.01",
                             "--tv-iterations", "20"], ["metrics.json", "per_case.csv", "report.html"],
                            [("step", 3), ("write", 4)]),
    "latent": (["latent", "train", "--model", "convae", "--data", "digits", "--latent-dim", "3", "--base", "4",
                "--max-images", "120", "--epochs", "3", "--batch-size", "32"],
               ["metrics.json", "per_case.csv", "report.html", "split.json"],
               [("step", 5), ("write", 3), ("write", 4)]),
    "latent-vqvae": (["latent", "train", "--model", "vqvae", "--data", "digits", "--latent-dim", "3", "--base", "4",
                      "--max-images", "120", "--epochs", "3", "--batch-size", "32", "--num-codes", "8",
                      "--prior-epochs", "3", "--prior-channels", "4", "--prior-layers", "2"],
                     ["metrics.json", "per_case.csv", "report.html", "prior/checkpoints/best.safetensors"],
                     [("step", 5), ("step", 14), ("write", 8), ("write", 13)]),
    "latent-gan": (["latent", "train", "--model", "wgan", "--data", "digits", "--latent-dim", "4", "--base", "4",
                    "--max-images", "120", "--epochs", "3", "--batch-size", "32", "--n-critic", "2",
                    "--classifier-epochs", "2", "--n-samples", "16"],
                   ["metrics.json", "per_case.csv", "report.html", "classifier/checkpoints/best.safetensors"],
                   [("step", 2), ("step", 7), ("write", 4)]),
    "classify-dp": (["classify", "train", "--data", "digits", "--max-images", "120", "--base", "4", "--epochs", "3",
                     "--batch-size", "16", "--norm", "group", "--dp-clip", "1", "--dp-noise", "1"],
                    ["metrics.json", "per_case.csv", "report.html", "split.json"],
                    [("step", 4)]),
    "segment-fedavg": (["segment", "train", "--data", "{polyps}", "--size", "24", "--base-channels", "4", "--depth",
                        "2", "--epochs", "3", "--batch-size", "4", "--clients", "3", "--client-fraction", "0.6"],
                       ["metrics.json", "per_case.csv", "report.html", "split.json"], [("write", 4)]),
    "diffuse": (["diffuse", "train", "--data", "digits", "--T", "10", "--base", "4", "--mults", "1,2", "--max-images",
                 "64", "--epochs", "3", "--batch-size", "16", "--samples", "4"],
                ["metrics.json", "per_case.csv", "report.html", "split.json", "plots/samples.png"],
                [("step", 2), ("step", 5), ("write", 3), ("write", 5), ("write", 8)]),
}
RUN_FILES = ["config.json", "history.csv", "checkpoints/last_state.pt", "checkpoints/last.safetensors",
             "checkpoints/best.safetensors"]
TIMING = ("seconds", "sampling_seconds", "network_seconds_per_image", "seconds_per_image")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("contract")
    polyps = str(write_polyps_folder(root / "polyps", n=24, size=24, seed=1))
    assert main(["pretrain", "train", "--data", polyps, "--size", "24", "--base-channels", "4", "--depth", "2",
                 "--epochs", "1", "--batch-size", "4", "--out", str(root / "pretrained"), "--quiet"]) == 0
    return {"polyps": polyps, "pretrained": str(root / "pretrained")}


def argv(recipe: str, data: dict, out: Path, *extra: str) -> list[str]:
    return [a.format(**data) for a in RECIPES[recipe][0]] + ["--out", str(out), "--quiet", *extra]


def untimed(value):
    """A metrics or history value with every wall-clock entry removed (those differ from run to run)."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k not in TIMING and not k.endswith("_seconds")}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


def history(run: Path) -> list[dict]:
    rows = list(csv.DictReader((run / "history.csv").open()))
    return [untimed(row) for row in rows]


def weights(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*.safetensors"))}


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES)
def test_files_reproducibility_and_refusals(recipe, data, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(argv(recipe, data, a, "--seed", "2")) == 0
    for name in RUN_FILES + RECIPES[recipe][1]:
        assert (a / name).is_file(), name
    assert main(argv(recipe, data, b, "--seed", "2")) == 0  # the same seed: the same numbers
    assert history(a) == history(b)
    metrics = [untimed(json.loads((run / "metrics.json").read_text())) for run in (a, b)]
    assert metrics[0] == metrics[1]
    capsys.readouterr()
    before = weights(a)
    for extra, words in ((["--seed", "2"], "already exists"), (["--resume", "--seed", "3"], "seed=3 (saved 2)"),
                         (["--overwrite", "--resume"], "contradict")):
        assert main(argv(recipe, data, a, *extra)) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err
    assert weights(a) == before  # nothing touched by a refusal
    assert main(argv(recipe, data, tmp_path / "c", "--resume")) == 2
    assert "cannot resume" in capsys.readouterr().err
    # a run repeated from its folder: config.json as --config gives the same numbers
    assert main([*argv(recipe, data, tmp_path / "c")[:2], "--config", str(a / "config.json"), "--out",
                 str(tmp_path / "c"), "--quiet"]) == 0
    assert history(tmp_path / "c") == history(a)


KILLER = """
import os, signal, sys
import torch
torch.set_num_threads(1)  # as the resuming test process (the one_thread fixture): results depend on the threads
mode, n = sys.argv[1], int(sys.argv[2])
count = [0]
def kill_on(n_calls):
    count[0] += 1
    if count[0] == n_calls:
        os.kill(os.getpid(), signal.SIGKILL)
if mode == "step":  # inside an epoch: before the n-th optimizer step
    step = torch.optim.Adam.step
    def counted(self, *args, **kwargs):
        kill_on(n)
        return step(self, *args, **kwargs)
    torch.optim.Adam.step = counted
else:  # in the middle of the n-th atomic write: the new file is complete under its temporary name only
    replace = os.replace
    def counted_replace(src, dst):
        kill_on(n)
        return replace(src, dst)
    os.replace = counted_replace
from pixelwise.cli import main
sys.exit(main(sys.argv[3:]))
"""

@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES)
def test_kill_and_resume_ends_as_an_uninterrupted_run(recipe, data, tmp_path):
    reference = tmp_path / "reference"
    assert main(argv(recipe, data, reference, "--deterministic")) == 0
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    for mode, n in RECIPES[recipe][2]:
        out = tmp_path / f"{mode}-{n}"
        done = subprocess.run([sys.executable, "-c", KILLER, mode, str(n), *argv(recipe, data, out, "--deterministic")],
                              capture_output=True, text=True, env=env)
        assert done.returncode == -signal.SIGKILL, f"{mode} {n} was not killed: {done.stderr[-500:]}"
        if not list(out.rglob("last_state.pt")):  # killed before any stage committed an epoch: start again
            assert main(argv(recipe, data, out, "--deterministic", "--overwrite")) == 0
        else:
            assert main(argv(recipe, data, out, "--deterministic", "--resume")) == 0
        assert weights(out) == weights(reference), f"{mode} {n}"
        assert history(out) == history(reference), f"{mode} {n}"
        assert not list(out.rglob(".*.tmp"))
        metrics = [untimed(json.loads((r / "metrics.json").read_text())) for r in (out, reference)]
        assert metrics[0] == metrics[1]
    assert np.isfinite([float(r["train_loss"]) for r in history(reference)]).all()

"""The explain / attack / protect benchmarks run end to end at toy sizes and print well-formed JSON with the
figures they promise (the figures themselves are measured at full size by the lead, never checked here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pixelwise.cli import main

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
DIGITS = ["--mnist", "digits", "--max-images", "200", "--epochs", "1", "--batch-size", "32"]


def _run(script: str, *args: str, cwd: Path) -> dict:
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          timeout=900, cwd=BENCHMARKS)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.slow
def test_trust_benchmarks_run_at_toy_sizes(tmp_path, polyp_folder):
    run = tmp_path / "seg"
    assert main(["segment", "train", "--data", str(polyp_folder), "--size", "24", "--base-channels", "4", "--depth",
                 "2", "--epochs", "1", "--batch-size", "4", "--out", str(run), "--quiet"]) == 0
    out = _run("explain_faithfulness.py", "--run", str(run), "--images", "2", "--samples", "2", "--steps", "4",
               cwd=tmp_path)
    assert set(out["results"]) >= {"saliency", "occlusion", "random_map", "occlusion_polyp_vs_background"}
    assert "spearman_vs_random_weights" in out["results"]["saliency"]
    out = _run("adversarial_training.py", "--data", str(polyp_folder), "--work", str(tmp_path / "adv"), "--size",
               "24", "--base-channels", "4", "--depth", "2", "--epochs", "1", "--max-cases", "3", "--steps", "1",
               "--train-steps", "1", "--epsilon", "8/255", cwd=tmp_path)
    assert [c["epsilon"] for c in out["curves"]["standard"]] == [0.0, 8 / 255]
    assert set(out["adversarial_gain_over_standard_by_epsilon"]) == {"0.00000", "0.03137"}
    out = _run("dp_sgd.py", *DIGITS, "--epsilons", "8,inf", "--work", str(tmp_path / "dp"), cwd=tmp_path)
    rows = out["mnist"]["rows"]
    assert rows[0]["epsilon_spent"] <= 8 and rows[1]["target_epsilon"] is None and "accuracy" in rows[1]
    out = _run("fedavg.py", *DIGITS, "--clients", "3", "--work", str(tmp_path / "fed"), cwd=tmp_path)
    assert {"central", "fedavg_iid", "fedavg_by_class"} == set(out["mnist"])
    assert "mean" in out["mnist"]["fedavg_by_class"]["minus_central"]
    out = _run("gradient_inversion.py", *DIGITS, "--batches", "1", "--iterations", "10", "--repeats", "1", "--work",
               str(tmp_path / "inv"), cwd=tmp_path)
    assert {"plain", "dp_same_weights", "dp_run", "drop_db", "constant_image"} <= set(out["by_batch"]["1"])

"""Two of the explain / attack / protect benchmarks run end to end at toy sizes and print well-formed JSON with the
figures they promise (the figures themselves are measured at full size by the lead, never checked here). The
other three (adversarial_training, dp_sgd, fedavg) only arrange recipe runs that tests/test_trust_cli.py covers;
their toy commands are in their docstrings."""

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
    assert set(out["results"]) == {"region", "image"}
    for score in ("region", "image"):
        assert set(out["results"][score]) >= {"saliency", "occlusion", "random_map", "occlusion_polyp_vs_background"}
        assert "spearman_vs_random_weights" in out["results"][score]["saliency"]
    out = _run("gradient_inversion.py", *DIGITS, "--batches", "1", "--iterations", "10", "--repeats", "1", "--work",
               str(tmp_path / "inv"), cwd=tmp_path)
    assert {"plain", "dp_same_weights", "dp_run", "drop_db", "constant_image"} <= set(out["by_batch"]["1"])

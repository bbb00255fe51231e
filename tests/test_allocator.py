"""tune_malloc: freed large blocks are reused without page faults (measured in fresh processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pixelwise.train import allocator


def _glibc() -> bool:
    return allocator.glibc() is not None


# After ten warm-up rounds, a 64 MiB tensor is allocated, touched and freed 3 times; the child prints the
# minor page faults of those 3 rounds. Each fresh 64 MiB mapping costs 16,384 faults of 4 KiB pages; a
# reused heap block costs none.
CHILD = """
import json, resource, sys
import torch
from pixelwise.train import tune_malloc
outcome = tune_malloc() if sys.argv[1] == "tune" else "untouched"
for _ in range(10):  # first touches are paid either way, and the heap takes a few rounds to settle
    x = torch.ones(16 * 2**20); del x
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    x = torch.ones(16 * 2**20); del x
print(json.dumps({"outcome": outcome, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def _child(mode: str, **env) -> dict:
    full = {k: v for k, v in os.environ.items() if k != "PIXELWISE_KEEP_MALLOC"} | env
    out = subprocess.run([sys.executable, "-c", CHILD, mode], env=full, capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not _glibc(), reason="tune_malloc changes glibc's malloc only")
def test_tuned_malloc_reuses_large_blocks_without_page_faults():
    plain = _child("plain")
    tuned = _child("tune")
    assert tuned["outcome"] == "tuned"
    # glibc's default maps and unmaps each 64 MiB block: about 3 x 16,384 faults
    assert plain["faults"] > 3 * 16384 * 0.9, plain
    assert tuned["faults"] < 1000, tuned


@pytest.mark.skipif(not _glibc(), reason="tune_malloc changes glibc's malloc only")
def test_environment_variable_leaves_malloc_alone():
    kept = _child("tune", PIXELWISE_KEEP_MALLOC="1")
    assert kept["outcome"] == "kept: PIXELWISE_KEEP_MALLOC is set"
    assert kept["faults"] > 3 * 16384 * 0.9, kept


@pytest.mark.parametrize("value, kept", [("1", True), ("yes", True), ("0", False), ("", False), (" ", False)])
def test_environment_values(monkeypatch, value, kept):
    monkeypatch.setenv("PIXELWISE_KEEP_MALLOC", value)
    outcome = allocator._apply()
    assert (outcome == "kept: PIXELWISE_KEEP_MALLOC is set") == kept
    if not kept:
        assert outcome == ("tuned" if _glibc() else "unchanged: not glibc")


def test_first_answer_is_kept(monkeypatch):
    monkeypatch.setattr(allocator, "_outcome", None)
    first = allocator.tune_malloc()
    monkeypatch.setenv("PIXELWISE_KEEP_MALLOC", "1")  # too late: the setting is process-wide and already made
    assert allocator.tune_malloc() == first


def test_command_line_applies_it(monkeypatch):
    from pixelwise.cli import main

    monkeypatch.setattr(allocator, "_outcome", None)
    monkeypatch.setenv("PIXELWISE_KEEP_MALLOC", "1")  # the answer tells that main asked, without changing malloc
    assert main(["arch", "shape", "unet", "--input", "1x3x64x64"]) == 0
    assert allocator._outcome == "kept: PIXELWISE_KEEP_MALLOC is set"

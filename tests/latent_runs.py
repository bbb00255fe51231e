"""Helpers of the latent tests' kill-and-resume checks: an Adam step counter that interrupts a run once, and the
comparison of two run folders (checkpoints byte for byte, histories without their measured seconds, metrics)."""

from __future__ import annotations

import json

import torch

from pixelwise.train.files import read_csv


class AdamSteps:
    """Counts the Adam steps of the process (every stage), and raises KeyboardInterrupt once at step
    ``interrupt_at``."""

    def __init__(self, monkeypatch, interrupt_at: int | None = None):
        self.n, self.interrupt_at, original = 0, interrupt_at, torch.optim.Adam.step

        def step(optimizer, *args, **kwargs):
            self.n += 1
            if self.n == self.interrupt_at:
                self.n, self.interrupt_at = 0, None  # once; then count the steps of the resumed run
                raise KeyboardInterrupt
            return original(optimizer, *args, **kwargs)

        monkeypatch.setattr(torch.optim.Adam, "step", step)


def same_run(a, b, stages=("",)) -> None:
    """Byte-identical checkpoints of every stage, the same histories apart from their measured seconds, and the
    same metrics."""
    for stage in stages:
        for name in ("last.safetensors", "best.safetensors"):
            assert (a / stage / "checkpoints" / name).read_bytes() == (b / stage / "checkpoints" / name).read_bytes()
        assert _timeless(a / stage / "history.csv") == _timeless(b / stage / "history.csv")
    assert json.loads((a / "metrics.json").read_text()) == json.loads((b / "metrics.json").read_text())


def _timeless(history) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in read_csv(history)]

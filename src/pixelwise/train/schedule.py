"""Learning-rate schedules as plain functions of progress, so a time budget can re-plan the length."""

from __future__ import annotations

import math

SCHEDULES = ("cosine", "onecycle", "constant")


def learning_rate(kind: str, base_lr: float, step: int, total_steps: int, warmup_fraction: float = 0.3) -> float:
    """The learning rate at ``step`` of ``total_steps``.

    cosine: base_lr * (1 + cos(pi t)) / 2 with t = step / total (Loshchilov and Hutter, SGDR, ICLR 2017).
    onecycle: linear warm-up from base_lr / 25 to base_lr over the first ``warmup_fraction`` of the run,
    then cosine annealing to base_lr / 1e4 (Smith and Topin, "Super-Convergence", 2019).
    constant: base_lr.
    """
    t = min(max(step / max(total_steps, 1), 0.0), 1.0)
    if kind == "constant":
        return base_lr
    if kind == "cosine":
        return base_lr * 0.5 * (1 + math.cos(math.pi * t))
    if kind == "onecycle":
        start, end = base_lr / 25, base_lr / 1e4
        if t < warmup_fraction:
            return start + (base_lr - start) * t / warmup_fraction
        u = (t - warmup_fraction) / max(1 - warmup_fraction, 1e-8)
        return end + (base_lr - end) * 0.5 * (1 + math.cos(math.pi * u))
    raise ValueError(f"schedule {kind!r} is not known; use one of {', '.join(SCHEDULES)}.")

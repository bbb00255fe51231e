"""Choose a regularisation weight by a short grid search on a validation image with known truth."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from pixelwise.metrics.image import psnr


@dataclass
class LambdaChoice:
    """The chosen lambda, its score, and every (lambda, score) tried (the report of the search)."""

    lam: float
    score: float
    table: list[tuple[float, float]] = field(default_factory=list)

    def describe(self) -> str:
        rows = ", ".join(f"{lam:.3g}: {score:.2f}" for lam, score in self.table)
        return f"lambda = {self.lam:.3g} (PSNR {self.score:.2f} dB on the validation image; tried {rows})"


def log_grid(low: float, high: float, count: int) -> list[float]:
    """``count`` values spaced evenly in log scale from ``low`` to ``high``."""
    if not 0 < low <= high or count < 1:
        raise ValueError(f"grid needs 0 < low <= high and count >= 1, got {low}, {high}, {count}.")
    if count == 1:
        return [low]
    step = (math.log(high) - math.log(low)) / (count - 1)
    return [math.exp(math.log(low) + i * step) for i in range(count)]


def choose_lambda(
    solve: Callable[[float], torch.Tensor],
    truth: torch.Tensor,
    lambdas: Sequence[float],
    data_range: float = 1.0,
    callback: Callable[[float, float], object] | None = None,
) -> LambdaChoice:
    """Run ``solve(lam)`` for each lambda and keep the one with the best PSNR against ``truth``.

    ``truth`` must be a validation image, not the image being reconstructed: choosing lambda with the
    test image's own truth would report an optimistic number.
    """
    if not lambdas:
        raise ValueError("the lambda grid is empty; give at least one value.")
    table = []
    for lam in lambdas:
        x = solve(float(lam))
        score = psnr(x[0] if x.dim() == 4 else x, truth[0] if truth.dim() == 4 else truth, data_range)
        table.append((float(lam), score))
        if callback is not None:
            callback(float(lam), score)
    best = max(table, key=lambda row: row[1])
    return LambdaChoice(best[0], best[1], table)

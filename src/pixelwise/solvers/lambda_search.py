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


@dataclass
class GridSearch:
    """The result of :func:`search_lambda`: the chosen lambda, its score, every (lambda, score) tried (sorted
    by lambda), the first grid's ends, whether its best was at one of them, the range finally searched, and
    whether the best is still at an end of it (the widening limit was reached)."""

    lam: float
    score: float
    table: list[tuple[float, float]]
    grid: tuple[float, float]
    hit_edge: bool
    searched: tuple[float, float]
    at_edge: bool

    def describe(self) -> str:
        note = ""
        if self.hit_edge:
            note = (f"; the first grid [{self.grid[0]:.3g}, {self.grid[1]:.3g}] had its best at an end, widened to "
                    f"[{self.searched[0]:.3g}, {self.searched[1]:.3g}]")
        if self.at_edge:
            note += "; the best is still at an end of the range searched"
        return f"lambda = {self.lam:.3g} (score {self.score:.2f}; {len(self.table)} values tried{note})"


def search_lambda(score: Callable[[float], float], low: float, high: float, per_decade: int = 2, widen: int = 3,
                  refine: int = 2) -> GridSearch:
    """Maximise ``score(lam)`` (e.g. the mean validation PSNR) over lambda without stopping at a grid edge.

    1. A log grid from ``low`` to ``high`` with ``per_decade`` points per decade.
    2. While the best value is at an end of the range searched, one more decade past that end (at most
       ``widen`` times): a best value at an edge means the optimum may lie outside the grid.
    3. ``refine`` points either side of the best at ``1 / (per_decade (refine + 1))`` of a decade apart.

    Each lambda is scored once. ``score`` must be computed on validation data, never on the test images.
    """
    if not 0 < low < high:
        raise ValueError(f"search_lambda needs 0 < low < high, got {low}, {high}.")
    if per_decade < 1 or widen < 0 or refine < 0:
        raise ValueError(f"per_decade={per_decade} must be >= 1, widen={widen} and refine={refine} >= 0.")
    step = 1.0 / per_decade  # in decades
    scores: dict[float, float] = {}

    def tried(exponents) -> None:
        for e in exponents:
            lam = float(10.0**e)
            if lam not in scores:
                scores[lam] = float(score(lam))

    lo, hi = math.log10(low), math.log10(high)
    count = max(1, round((hi - lo) / step))
    tried(lo + i * (hi - lo) / count for i in range(count + 1))  # 1. the grid
    best = max(scores, key=scores.get)
    hit_edge = best in (min(scores), max(scores))
    for _ in range(widen):  # 2. a decade further while the best is at an end
        if best == min(scores):
            tried(math.log10(best) - (j + 1) * step for j in range(per_decade))
        elif best == max(scores):
            tried(math.log10(best) + (j + 1) * step for j in range(per_decade))
        else:
            break
        best = max(scores, key=scores.get)
    fine = step / (refine + 1)
    tried(math.log10(best) + sign * j * fine for j in range(1, refine + 1) for sign in (-1, 1))  # 3. refine
    best = max(scores, key=scores.get)
    table = sorted(scores.items())
    return GridSearch(best, scores[best], table, (float(low), float(high)), hit_edge, (table[0][0], table[-1][0]),
                      best in (table[0][0], table[-1][0]))

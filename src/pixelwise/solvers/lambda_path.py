"""Choosing a regularisation weight in seconds: a bracketing search on log lambda, warm-started along the path.

Scoring a weight means solving the problem at that weight (on a validation image) and measuring the result, so the
cost of a search is the number of weights times the cost of a solve. Three things keep both small:

1. Few weights. The score (validation PSNR) is a smooth, single-peaked function of ``t = log10 lambda``, so the
   search first brackets the peak, three points ``l < m < r`` a ``step`` apart with ``f(m) >= f(l), f(r)`` (moving
   by ``step`` past an end while the best sits there, at most ``widen`` times), then refines it as Brent's method
   does (Brent 1973, "Algorithms for minimization without derivatives", ch. 5): the vertex of the parabola through
   the three points,

       v = m - 1/2 [(m - l)^2 (f_m - f_r) - (m - r)^2 (f_m - f_l)] / [(m - l)(f_m - f_r) - (m - r)(f_m - f_l)],  (G1)

   or, where the parabola is flat or its vertex falls too near a point already scored, a golden-section step into
   the larger side, ``v = m + (1 - phi) (r - m)`` (or towards l), ``phi = (sqrt(5) - 1) / 2`` (Kiefer 1953,
   "Sequential minimax search for a maximum", Proc. AMS 4); v replaces the bracket point on its side. It stops once
   the bracket is narrower than ``tol`` decades or the vertex (G1) falls within ``tol / 2`` of m: typically 5 to 7
   scores where a grid of the same reach and resolution takes dozens.
2. Warm starts (:class:`WarmStarts`): each solve starts from the state of the nearest weight solved before (what
   that state may carry without biasing the comparison is the solver's business: for PDHG the dual iterates, the
   image starting from the naive reconstruction, :func:`pixelwise.solvers.methods.path_solver`); the refining
   points are ever closer, so late solves start nearer their answer.
3. A looser stopping tolerance than the final solve: the search needs the ranking of the weights, not the last
   digits of each solution. Only the winner is solved again, on the image itself, with the method's own settings.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

PHI = (math.sqrt(5.0) - 1.0) / 2.0  # 0.618...
@dataclass
class PathSearch:
    """The chosen weight, its score, every ``(lambda, score)`` in the order tried, the range searched (after any
    widening) and whether the best still sits at an end of it (the widening budget ran out)."""

    lam: float
    score: float
    table: list[tuple[float, float]] = field(default_factory=list)
    searched: tuple[float, float] = (0.0, 0.0)
    at_edge: bool = False

    def describe(self, scored: str = "PSNR", where: str = "the validation image") -> str:
        note = "; the best is at an end of the range searched" if self.at_edge else ""
        return (f"lambda = {self.lam:.3g} ({scored} {self.score:.2f} dB on {where}; {len(self.table)} "
                f"weights tried in [{self.searched[0]:.3g}, {self.searched[1]:.3g}]{note})")


def search_log_lambda(score: Callable[[float], float], center: float, step: float = 0.75, tol: float = 0.1,
                   widen: int = 3, refine: int = 8, callback: Callable[[float, float], object] | None = None
                   ) -> PathSearch:
    """Maximise ``score(lambda)`` over ``lambda = 10^t``: bracket around ``log10(center)`` with points ``step``
    decades apart, then refine by (G1) until the bracket is narrower than ``tol`` decades (at most ``refine``
    more scores). ``callback(lam, score)`` sees each weight scored; each is scored once."""
    if not center > 0 or not step > 0 or not tol > 0:
        raise ValueError(f"search_log_lambda needs center > 0, step > 0 and tol > 0, got {center}, {step}, {tol}.")
    if int(widen) != widen or widen < 0 or int(refine) != refine or refine < 0:
        raise ValueError(f"widen={widen} and refine={refine} must be whole numbers >= 0.")
    scores: dict[float, float] = {}

    def f(t: float) -> float:
        if t not in scores:
            scores[t] = float(score(10.0**t))
            if callback is not None:
                callback(10.0**t, scores[t])
        return scores[t]

    c = math.log10(center)
    left, mid, right = c - step, c, c + step
    f(mid), f(left), f(right)
    for _ in range(widen):  # move past the end where the best sits
        if f(left) > f(mid) and f(left) >= f(right):
            left, mid, right = left - step, left, mid
        elif f(right) > f(mid):
            left, mid, right = mid, right, right + step
        else:
            break
        f(left), f(right)
    bracketed = f(mid) >= f(left) and f(mid) >= f(right)
    if bracketed:
        _refine(f, left, mid, right, tol, refine)
    best = max(scores, key=scores.get)
    tried = sorted(scores)
    return PathSearch(10.0**best, scores[best], [(10.0**t, s) for t, s in scores.items()],
                      (10.0**tried[0], 10.0**tried[-1]), not bracketed)


def _refine(f: Callable[[float], float], left: float, mid: float, right: float, tol: float, budget: int) -> None:
    """Parabolic steps (G1) with golden-section fallbacks inside the bracket ``left < mid < right``."""
    for _ in range(budget):
        if right - left < tol:
            return
        fl, fm, fr = f(left), f(mid), f(right)
        num = (mid - left) ** 2 * (fm - fr) - (mid - right) ** 2 * (fm - fl)
        den = (mid - left) * (fm - fr) - (mid - right) * (fm - fl)
        v = mid - 0.5 * num / den if den != 0 else None  # (G1)
        if v is not None and abs(v - mid) < tol / 2:  # the peak is located to within tol / 2 of mid
            return
        if v is None or not left < v < right or min(abs(v - p) for p in (left, mid, right)) < tol / 3:
            v = mid + (1 - PHI) * (right - mid) if right - mid > mid - left else mid - (1 - PHI) * (mid - left)
        if f(v) >= fm:  # v is the new middle; mid closes the bracket on its side
            left, mid, right = (mid, v, right) if v > mid else (left, v, mid)
        elif v > mid:
            right = v
        else:
            left = v


def search_evaluations(widen: int = 3, refine: int = 8) -> int:
    """The most scores :func:`search_log_lambda` takes: three, two per widening, and ``refine``."""
    return 3 + 2 * widen + refine


class WarmStarts:
    """``solve(lam, start) -> (image, state)`` called with the state of the nearest weight (in log scale) solved
    before, or None for the first; ``warm(lam)`` returns the image and keeps the state."""

    def __init__(self, solve: Callable[[float, object | None], tuple[object, object]]):
        self.solve = solve
        self.states: dict[float, object] = {}

    def __call__(self, lam: float):
        start = None
        if self.states:
            nearest = min(self.states, key=lambda known: abs(math.log(known / lam)))
            start = self.states[nearest]
        image, state = self.solve(lam, start)
        self.states[lam] = state
        return image

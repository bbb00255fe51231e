"""Comparing methods case by case: paired differences with a paired bootstrap interval, and wins, ties and losses.

The rows are cases scored by every method: ``rows[i][f"{key}_{method}"]``. Differences are taken against a
``reference`` method (the first run of a comparison, the baseline): ``other - reference`` per case, so a positive
difference of a higher-is-better metric means the other method scored higher. A case is a win for the other method
when it is better by more than the metric's tie tolerance, a tie within it, a loss otherwise (direction-aware: for a
distance, lower is better).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from pixelwise.metrics.aggregate import paired_summaries


def wins_ties_losses(reference: Sequence[float], other: Sequence[float], higher_is_better: bool = True,
                     tolerance: float = 0.0) -> dict[str, int]:
    """Counts of the cases where ``other`` beats ``reference`` by more than ``tolerance`` (wins), is within it (ties),
    or is worse (losses). Two infinite values of the same sign (two perfect PSNRs) are a tie; NaN never wins."""
    out = {"wins": 0, "ties": 0, "losses": 0}
    for r, o in zip(reference, other, strict=True):
        if r == o or (math.isinf(r) and r == o):
            out["ties"] += 1
            continue
        d = (o - r) if higher_is_better else (r - o)  # > 0: the other is better
        if math.isnan(d):
            out["losses" if not math.isnan(r) else "ties"] += 1
        elif abs(d) <= tolerance:
            out["ties"] += 1
        else:
            out["wins" if d > 0 else "losses"] += 1
    return out


def paired_comparison(rows: Sequence[dict], methods: Sequence[str], keys: Sequence[str], seed: int,
                      higher_is_better: dict[str, bool] | None = None, tolerance: dict[str, float] | None = None,
                      confidence: float = 0.95, n_boot: int = 2000) -> dict:
    """Every method's summary of every key, and each other method against the first (the reference), paired by case.

    Returns ``{"reference", "summary": {method: {key: summarise}}, "difference": {other: {key: summarise of other -
    reference, with "wins", "ties", "losses"}}, "bootstrap": how the intervals were drawn}``; the summaries and the
    differences' intervals are :func:`~pixelwise.metrics.aggregate.paired_summaries`' (one seeded bootstrap
    resampling the cases together)."""
    if len(methods) < 2:
        raise ValueError(f"a comparison needs at least two methods, got {list(methods)}.")
    higher_is_better, tolerance = higher_is_better or {}, tolerance or {}
    reference = methods[0]
    out = {"reference": reference, "summary": {}, "difference": {}}
    for other in methods[1:]:
        paired = paired_summaries(rows, [reference, other], keys, other, seed, confidence, n_boot)
        out["summary"].update(paired["summary"])
        diff = paired["gain"][reference]  # other - reference, per case
        for k in keys:
            diff[k].update(wins_ties_losses([r[f"{k}_{reference}"] for r in rows], [r[f"{k}_{other}"] for r in rows],
                                            higher_is_better.get(k, True), tolerance.get(k, 0.0)))
        diff.pop(f"{other}_better", None)  # the wins of the first key, counted above with ties apart
        out["difference"][other] = diff
        out["bootstrap"] = paired["bootstrap"]
    return out


def category_table(reference: Sequence[str], other: Sequence[str]) -> dict[str, dict[str, int]]:
    """How the cases' categories move: ``{category of the reference: {category of the other: count}}``."""
    pairs = Counter(zip(reference, other, strict=True))
    return {a: {b: n for (ra, b), n in sorted(pairs.items()) if ra == a} for a in sorted(set(reference))}

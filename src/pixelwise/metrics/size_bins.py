"""Results broken down by structure size: a mean Dice over all cases hides that small structures fail first.

Cases whose truth is not empty are cut into tertiles of their true area (``small``: area <= the first tertile,
``medium``: up to the second, ``large``: above it; numpy's linear quantiles), and the ``smallest`` bin holds the
ceil(10%) cases with the smallest true areas (at least one; equal areas by case order), a subset of ``small``.
Cases with an empty truth have no size and form ``empty_truth``. Each bin gets :func:`~pixelwise.metrics.aggregate`
of the chosen metrics (mean, median, spread, a seeded bootstrap interval) and its case categories.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from pixelwise.metrics.aggregate import aggregate

BINS = ("smallest", "small", "medium", "large", "empty_truth")
SMALLEST_FRACTION = 0.1


def size_bins(areas: Sequence[float], smallest_fraction: float = SMALLEST_FRACTION) -> tuple[dict, dict]:
    """``({bin: [case indices]}, {"tertiles": [q1, q2], "smallest_max": area})`` for the true ``areas`` of the
    cases (0 = empty truth), by the rule of the module docstring."""
    a = np.asarray(areas, dtype=np.float64)
    sized = np.flatnonzero(a > 0)
    bins: dict[str, list[int]] = {name: [] for name in BINS}
    bins["empty_truth"] = np.flatnonzero(a <= 0).tolist()
    if sized.size == 0:
        return bins, {"tertiles": None, "smallest_max": None}
    q1, q2 = (float(v) for v in np.quantile(a[sized], [1 / 3, 2 / 3]))
    bins["small"] = sized[a[sized] <= q1].tolist()
    bins["medium"] = sized[(a[sized] > q1) & (a[sized] <= q2)].tolist()
    bins["large"] = sized[a[sized] > q2].tolist()
    k = max(1, math.ceil(smallest_fraction * sized.size))
    order = sized[np.argsort(a[sized], kind="stable")]
    bins["smallest"] = sorted(order[:k].tolist())
    return bins, {"tertiles": [q1, q2], "smallest_max": float(a[order[k - 1]])}


def size_breakdown(cases: Sequence[dict], areas: Sequence[float], keys: Sequence[str], seed: int = 0,
                   area_unit: str = "pixels") -> dict:
    """Per-bin aggregates of ``keys`` over ``cases`` (dicts of per-case metrics with a ``category``), binned by
    their true ``areas``; a bin without cases reports only ``n_cases`` 0."""
    if len(cases) != len(areas):
        raise ValueError(f"{len(cases)} cases but {len(areas)} areas; give one true area per case.")
    members, edges = size_bins(areas)
    out: dict = {"rule": "tertiles of the true area over cases with a non-empty truth; smallest: the ceil(10%) "
                 "smallest of them; empty_truth: cases with an empty truth", "area_unit": area_unit, **edges,
                 "bins": {}}
    for name, idx in members.items():
        entry: dict = {"n_cases": len(idx)}
        if idx:
            chosen = [areas[i] for i in idx]
            summary = aggregate([{k: cases[i][k] for k in [*keys, "category"] if k in cases[i]} for i in idx],
                                [k for k in keys if k in cases[idx[0]]], seed=seed)
            entry.update(area_min=float(min(chosen)), area_max=float(max(chosen)), metrics=summary["metrics"],
                         categories=summary.get("categories", {}))
        out["bins"][name] = entry
    return out

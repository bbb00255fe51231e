"""Aggregates over cases: mean, median, standard deviation, a seeded bootstrap interval, category counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from pixelwise.metrics.segmentation import CATEGORIES


def bootstrap_interval(values: Sequence[float], confidence: float = 0.95, n_boot: int = 2000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (Efron and Tibshirani 1993), resampling cases with replacement."""
    v = np.asarray(values, float)
    if v.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def summarise(values: Sequence[float], confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> dict:
    v = np.asarray(values, float)
    lo, hi = bootstrap_interval(v, confidence, n_boot, seed)
    return {"mean": float(v.mean()), "median": float(np.median(v)), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            "ci_low": lo, "ci_high": hi, "n": int(v.size)}


def aggregate(cases: Sequence[dict], keys: Sequence[str] | None = None, confidence: float = 0.95,
              n_boot: int = 2000, seed: int = 0) -> dict:
    """Summaries of each numeric key over all cases, and the count of each ``category``.

    Every case counts: the per-case metrics already score empty and failed cases (see
    :mod:`pixelwise.metrics.segmentation`), so no case is ever dropped here.
    """
    if not cases:
        raise ValueError("aggregate got no cases; evaluate at least one case.")
    if keys is None:
        keys = [k for k, v in cases[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    out: dict = {"n_cases": len(cases), "confidence": confidence, "bootstrap_samples": n_boot, "seed": seed,
                 "metrics": {k: summarise([c[k] for c in cases], confidence, n_boot, seed) for k in keys}}
    if "category" in cases[0]:
        counts = Counter(c["category"] for c in cases)
        out["categories"] = {c: int(counts.get(c, 0)) for c in CATEGORIES}
    return out


def paired_summaries(rows: Sequence[dict], methods: Sequence[str], keys: Sequence[str], reference: str, seed: int,
                     confidence: float = 0.95, n_boot: int = 2000) -> dict:
    """Each method's :func:`summarise` of every key over the cases (``rows[i][f"{key}_{method}"]``), and the
    ``reference`` method's gain over each other method, paired by case.

    Paired: each case's difference ``reference - other`` is one sample, so every bootstrap draw resamples the
    same cases for both methods (the interval of the gain, not of two separate means). Every case counts.
    Returns ``{"summary": {method: {key: ...}}, "gain": {other: {key: ..., "wins": cases where the reference
    scores higher on the first key}}, "bootstrap": how the intervals were drawn}``.
    """
    summary = {m: {k: summarise([r[f"{k}_{m}"] for r in rows], confidence, n_boot, seed) for k in keys}
               for m in methods}
    gain = {b: {k: summarise([r[f"{k}_{reference}"] - r[f"{k}_{b}"] for r in rows], confidence, n_boot, seed)
                for k in keys} for b in methods if b != reference}
    for b in gain:
        gain[b][f"{reference}_better"] = sum(r[f"{keys[0]}_{reference}"] > r[f"{keys[0]}_{b}"] for r in rows)
    return {"summary": summary, "gain": gain,
            "bootstrap": {"confidence": confidence, "samples": n_boot, "seed": seed,
                          "method": "percentile bootstrap of the mean over cases; gains paired by case"}}

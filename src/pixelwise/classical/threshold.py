"""Thresholds: Otsu, multi-level Otsu and adaptive (local) thresholds. Foreground is always ``x > t``.

Histograms follow one rule: an integer image has one bin per integer from its minimum to its maximum (bin centres
are the integers), a float image ``bins`` equal bins over [min, max] (centres halfway between the edges). A
threshold is the centre of the last bin of the lower class, so that ``x > t`` puts every pixel of that bin below
it. These are scikit-image's conventions (``threshold_otsu``, ``threshold_multiotsu``), so the thresholds agree
with it (tests/test_classical.py); its ``np.digitize`` of multi-Otsu classes puts a pixel equal to a threshold
above it, where ``x > t`` here puts it below.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def histogram(values: np.ndarray, bins: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(counts, bin centres) of ``values`` by the rule of the module docstring."""
    v = np.asarray(values).ravel()
    if v.size == 0:
        raise ValueError("a threshold needs at least one pixel.")
    if not np.all(np.isfinite(v)):
        raise ValueError("the image holds NaN or infinite values; a threshold needs finite pixels.")
    if v.min() == v.max():  # one value: one bin
        return np.array([float(v.size)]), np.array([float(v[0])])
    if np.issubdtype(v.dtype, np.integer):
        low = int(v.min())
        counts = np.bincount((v - low).astype(np.int64))
        return counts.astype(np.float64), np.arange(low, low + counts.size, dtype=np.float64)
    counts, edges = np.histogram(v, bins=bins, range=(float(v.min()), float(v.max())))
    return counts.astype(np.float64), (edges[:-1] + edges[1:]) / 2


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold (Otsu 1979, IEEE SMC 9(1)): the split of the histogram after bin k maximising the
    between-class variance sigma_B^2(k) = w0(k) w1(k) (mu0(k) - mu1(k))^2 (w: class weights, mu: class means);
    the first maximum wins. A constant image returns its value (so ``x > t`` is empty)."""
    h, c = histogram(values, bins)
    if h.size == 1:
        return float(c[0])
    w0, s0 = np.cumsum(h)[:-1], np.cumsum(h * c)[:-1]  # class 0: bins 0..k
    w1, s1 = np.cumsum(h[::-1])[::-1][1:], np.cumsum((h * c)[::-1])[::-1][1:]  # class 1: bins k+1..
    with np.errstate(invalid="ignore", divide="ignore"):
        between = w0 * w1 * (s0 / w0 - s1 / w1) ** 2
    return float(c[int(np.argmax(np.nan_to_num(between, nan=0.0)))])


def multi_otsu_thresholds(values: np.ndarray, classes: int = 3, bins: int = 256) -> np.ndarray:
    """The ``classes - 1`` thresholds of multi-level Otsu (Liao, Chen and Chung 2001, J. Inf. Sci. Eng. 17):
    contiguous bin ranges maximising the between-class variance, equivalently sum_k S_k^2 / W_k (S_k the sum of
    the class's values, W_k its pixel count). Found exactly by dynamic programming over the bins (K passes over
    a B x B table) instead of the exhaustive search over all (B choose K-1) splits."""
    if classes < 2:
        raise ValueError(f"classes={classes} must be >= 2.")
    h, c = histogram(values, bins)
    if np.count_nonzero(h) < classes:
        raise ValueError(f"the image has {np.count_nonzero(h)} distinct values (histogram bins); {classes} classes "
                         "need at least as many.")
    n = h.size
    w, s = np.concatenate([[0.0], np.cumsum(h)]), np.concatenate([[0.0], np.cumsum(h * c)])
    weight = w[None, 1:] - w[:-1, None]  # (a, b): the class of bins a..b
    total = s[None, 1:] - s[:-1, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(weight > 0, total**2 / np.where(weight > 0, weight, 1.0), 0.0)
    score[np.tril_indices(n, -1)] = -np.inf  # a > b is no class
    best = score[0].copy()  # best[b]: one class over bins 0..b
    starts = []
    for _ in range(1, classes):
        cand = np.full((n, n), -np.inf)
        cand[1:] = best[:-1, None] + score[1:]  # the previous classes end at a - 1, this one covers a..b
        starts.append(np.argmax(cand, axis=0))
        best = cand.max(axis=0)
    ends, b = [], n - 1
    for start in reversed(starts):
        b = int(start[b]) - 1
        ends.append(b)
    return c[np.array(ends[::-1])]


def classify(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Class index 0..len(thresholds) of each value: the number of thresholds it is strictly above."""
    return np.searchsorted(np.sort(np.asarray(thresholds, float)), values, side="left").astype(np.int64)


def adaptive_threshold(image: np.ndarray, block_size: int, offset: float = 0.0, method: str = "gaussian"
                       ) -> np.ndarray:
    """The threshold surface T(x) = (local weighted mean of the image around x) - offset; foreground is
    ``image > T``. ``gaussian``: a Gaussian of sigma = (block_size - 1) / 6, so that +-3 sigma spans the block;
    ``mean``: the block_size x block_size box. Borders reflect (scipy's ``reflect``: the edge pixel repeated).
    scikit-image's ``threshold_local`` conventions."""
    if isinstance(block_size, bool) or int(block_size) != block_size or block_size < 3 or block_size % 2 == 0:
        raise ValueError(f"block_size={block_size} must be an odd whole number >= 3, e.g. 35.")
    x = np.asarray(image, dtype=np.float64)
    if method == "gaussian":
        local = ndimage.gaussian_filter(x, (block_size - 1) / 6.0, mode="reflect")
    elif method == "mean":
        local = ndimage.uniform_filter(x, int(block_size), mode="reflect")
    else:
        raise ValueError(f"adaptive method {method!r} is not known; use gaussian or mean.")
    return local - offset

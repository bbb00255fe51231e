"""Marker-based watershed on the gradient (Beucher and Meyer 1993; Meyer's flooding algorithm).

Labelled markers flood the surface (usually the gradient magnitude) in the order of its values: a priority queue
holds the pixels next to the labelled ones, keyed by (surface value, order of arrival); the lowest comes out first
and hands its label to its unlabelled 4-neighbours. Every pixel reachable from a marker gets the label of the
marker whose flood reaches it first. Ties between equal values go to the pixel queued first, which is scikit-
image's rule (``skimage.segmentation.watershed``, connectivity 1, no compactness), so on a surface without ties
the labels are the same (tests/test_classical.py).
"""

from __future__ import annotations

import heapq

import numpy as np
from scipy import ndimage


def gradient_magnitude(image: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """|grad (G_sigma * image)| with Sobel derivatives divided by 8 (so a unit ramp has gradient 1 per pixel);
    ``sigma`` 0 skips the smoothing. Borders reflect."""
    x = np.asarray(image, dtype=np.float64)
    s = ndimage.gaussian_filter(x, sigma, mode="reflect") if sigma > 0 else x
    gy = ndimage.sobel(s, axis=0, mode="reflect") / 8.0
    gx = ndimage.sobel(s, axis=1, mode="reflect") / 8.0
    return np.hypot(gx, gy)


def watershed(surface: np.ndarray, markers: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Labels (H, W) int64 from flooding ``surface`` (H, W) from ``markers`` (H, W; 0 = unlabelled, k > 0 the
    marker of label k). ``mask``: only True pixels may be flooded (the rest stay 0). Pixels that no marker can
    reach stay 0."""
    surface, markers = np.asarray(surface, dtype=np.float64), np.asarray(markers)
    if surface.shape != markers.shape or surface.ndim != 2:
        raise ValueError(f"surface {surface.shape} and markers {markers.shape} must be the same (H, W).")
    h, w = surface.shape
    width = w + 2  # padded by one pixel all round, so that neighbours need no bounds checks
    labels = np.zeros((h + 2, w + 2), dtype=np.int64)
    labels[1:-1, 1:-1] = markers
    allowed = np.zeros((h + 2, w + 2), dtype=bool)
    allowed[1:-1, 1:-1] = True if mask is None else np.asarray(mask, bool)
    values = np.zeros((h + 2, w + 2))
    values[1:-1, 1:-1] = surface
    lab, ok, val = labels.ravel().tolist(), allowed.ravel().tolist(), values.ravel().tolist()  # fast item access
    heap = [(val[i], 0, i) for i in np.flatnonzero(labels.ravel()).tolist()]
    heapq.heapify(heap)
    age = 0
    while heap:
        _, _, i = heapq.heappop(heap)
        for j in (i - width, i - 1, i + 1, i + width):
            if ok[j] and not lab[j]:
                age += 1
                lab[j] = lab[i]
                heapq.heappush(heap, (val[j], age, j))
    return np.asarray(lab, dtype=np.int64).reshape(h + 2, w + 2)[1:-1, 1:-1]

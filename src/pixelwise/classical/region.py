"""Region growing from seeds with an intensity and a gradient criterion, and an automatic seed.

A pixel joins a seed's region when it is 4-connected to the seed through pixels that all satisfy both criteria
(Adams and Bischof 1994 grow by the intensity difference; the gradient limit stops the growth at edges):

    |I(x) - mu| <= tolerance      and      |grad I(x)| <= gradient_max,

mu being the mean of I over a (2w+1) x (2w+1) window around the seed. With ``update`` the reference is then
re-estimated as the mean of the grown region and the region grown again, until it stops changing (a region
whose mean is consistent with its own membership rule). Each seed keeps its own reference; the result is the
union of the seeds' regions. Growing is vectorised (connected components of the candidates), so the result does
not depend on the order of the seeds or of the pixels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pixelwise.classical.threshold import otsu_threshold
from pixelwise.errors import PixelwiseError


def check_seeds(seeds, shape: tuple[int, int], source: str = "the seeds") -> np.ndarray:
    """``seeds`` as a (k, 2) int array of (row, col), refused in one sentence if one lies outside ``shape``."""
    s = np.asarray(seeds, dtype=np.float64).reshape(-1, 2)
    if s.shape[0] == 0:
        raise PixelwiseError(f"{source} hold no seed; give at least one (row, col) point.")
    h, w = shape
    for r, c in s:
        if not (0 <= r < h and 0 <= c < w and float(r).is_integer() and float(c).is_integer()):
            raise PixelwiseError(f"seed (row {r:g}, col {c:g}) in {source} lies outside the {h} x {w} image (or is "
                                 f"not whole); give seeds with 0 <= row < {h} and 0 <= col < {w}.")
    return s.astype(np.int64)


def grow_region(image: np.ndarray, seeds, tolerance: float, gradient: np.ndarray | None = None,
                gradient_max: float | None = None, window: int = 1, update: bool = True,
                max_rounds: int = 20, mask: np.ndarray | None = None) -> np.ndarray:
    """The union of the seeds' regions (boolean (H, W)) by the rule of the module docstring.

    ``image``: (H, W) float; ``seeds``: (k, 2) (row, col); ``gradient``: (H, W) gradient magnitude for the
    gradient criterion (with ``gradient_max``); ``window`` w of the seed's reference window; ``mask``: only
    True pixels may join (a seed always belongs to its region)."""
    x = np.asarray(image, dtype=np.float64)
    pts = check_seeds(seeds, x.shape)
    if not tolerance >= 0:
        raise ValueError(f"tolerance={tolerance} must be >= 0.")
    passable = np.ones(x.shape, dtype=bool) if mask is None else np.asarray(mask, bool).copy()
    if gradient_max is not None:
        if gradient is None or np.shape(gradient) != x.shape:
            raise ValueError("gradient_max needs the gradient magnitude of the image's shape.")
        passable &= np.asarray(gradient) <= gradient_max
    out = np.zeros(x.shape, dtype=bool)
    for r, c in pts:
        patch = x[max(r - window, 0):r + window + 1, max(c - window, 0):c + window + 1]
        mu, region = float(patch.mean()), None
        for _ in range(max_rounds if update else 1):
            candidates = passable & (np.abs(x - mu) <= tolerance)
            candidates[r, c] = True  # the seed itself always belongs
            labels, _ = ndimage.label(candidates)
            grown = labels == labels[r, c]
            if region is not None and np.array_equal(grown, region):
                break
            region, mu = grown, float(x[grown].mean())
        out |= region
    return out


def automatic_seed(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """One seed (1, 2): the most interior pixel (largest distance to the background) of the largest 4-connected
    component of Otsu's foreground ``image > t``; the image centre when that foreground is empty. With ``mask``,
    the threshold is Otsu's of the masked pixels and the foreground lies inside the mask."""
    x = np.asarray(image, dtype=np.float64)
    inside = np.ones(x.shape, bool) if mask is None else np.asarray(mask, bool)
    fg = (x > otsu_threshold(x[inside])) & inside if inside.any() else np.zeros(x.shape, bool)
    labels, n = ndimage.label(fg)
    if n == 0:
        return np.array([[x.shape[0] // 2, x.shape[1] // 2]])
    largest = labels == int(np.argmax(np.bincount(labels.ravel())[1:])) + 1
    depth = ndimage.distance_transform_edt(np.pad(largest, 1))[1:-1, 1:-1]  # the image edge counts as background
    return np.array([np.unravel_index(int(np.argmax(depth)), x.shape)])

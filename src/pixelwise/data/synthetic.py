"""Generated segmentation data with exact masks, for the demo and the tests.

``polyps(n, size, seed)`` draws textured backgrounds with 0 to 3 shaded elliptical blobs. About 10% of
the images have no object at all, so that empty masks (and the metrics' empty-case policy) are exercised.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

EMPTY_FRACTION = 0.1


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth reddish-pink tissue-like background, (size, size, 3) float in [0, 1]."""
    base = rng.uniform([0.45, 0.2, 0.15], [0.75, 0.4, 0.3])  # mucosa-like colour
    coarse = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma=size / 10)
    fine = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma=1.5)
    coarse /= np.abs(coarse).max() + 1e-8
    fine /= np.abs(fine).max() + 1e-8
    shade = 1.0 + 0.25 * coarse[..., None] + 0.08 * fine[..., None]
    return np.clip(base[None, None, :] * shade, 0, 1)


def _blob(rng: np.random.Generator, size: int, yy: np.ndarray, xx: np.ndarray):
    """One rotated ellipse: boolean mask and a radial shading profile in [0, 1]."""
    cy, cx = rng.uniform(0.15, 0.85, size=2) * size
    a, b = rng.uniform(0.07, 0.2, size=2) * size
    theta = rng.uniform(0, np.pi)
    c, s = np.cos(theta), np.sin(theta)
    u = ((xx - cx) * c + (yy - cy) * s) / a
    v = (-(xx - cx) * s + (yy - cy) * c) / b
    r2 = u * u + v * v
    return r2 <= 1.0, np.clip(1.0 - r2, 0.0, 1.0)


def polyp_sample(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One image (size, size, 3) uint8 and its exact mask (size, size) uint8 in {0, 1}."""
    image = _texture(rng, size)
    mask = np.zeros((size, size), dtype=bool)
    n_blobs = 0 if rng.random() < EMPTY_FRACTION else int(rng.integers(1, 4))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    for _ in range(n_blobs):
        inside, profile = _blob(rng, size, yy, xx)
        colour = rng.uniform([0.75, 0.45, 0.35], [0.95, 0.65, 0.5])  # a lighter, raised polyp
        shade = (0.75 + 0.25 * profile)[..., None] * colour[None, None, :]
        image = np.where(inside[..., None], shade, image)
        mask |= inside
    image = image + rng.normal(0, 0.02, image.shape)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8), mask.astype(np.uint8)


def polyps(n: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n generated images and masks: ((n, size, size, 3) uint8, (n, size, size) uint8 in {0, 1}).

    The same (n, size, seed) always gives the same arrays; the i-th sample depends only on (seed, i).
    """
    if n < 1 or size < 8:
        raise ValueError(f"polyps needs n >= 1 and size >= 8, got n={n}, size={size}.")
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    masks = np.empty((n, size, size), dtype=np.uint8)
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        images[i], masks[i] = polyp_sample(rng, size)
    return images, masks


def write_polyps_folder(root: str | Path, n: int, size: int = 64, seed: int = 0, image_ext: str = ".png") -> Path:
    """Write ``root/images/case_XXXX<ext>`` and ``root/masks/case_XXXX.png`` (0/255), returns root."""
    from pixelwise.data.io import write_image

    root = Path(root)
    images, masks = polyps(n, size, seed)
    for i in range(n):
        write_image(root / "images" / f"case_{i:04d}{image_ext}", images[i])
        write_image(root / "masks" / f"case_{i:04d}.png", masks[i] * 255)
    return root

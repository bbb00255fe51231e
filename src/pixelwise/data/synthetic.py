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


# Generated anatomy: one template, many subjects (for atlas-based segmentation).
#
# Each structure is an ellipse (centre y, centre x, radius y, radius x, rotation in degrees, intensity), on
# [-1, 1]^2 with y pointing down the rows, painted in this order (a later one covers an earlier one). The last is
# the labelled organ; the one before touches it with almost the same brightness (0.56 against 0.60, under noise of
# 0.04), so a part of the organ's boundary is nearly invisible and only the anatomy (where the organ usually ends)
# tells where it is: the situation multi-atlas fusion is made for.
ANATOMY = (
    (0.00, 0.00, 0.66, 0.82, 0.0, 0.30),  # body
    (-0.05, 0.35, 0.26, 0.18, 0.0, 0.12),  # a dark structure
    (-0.45, 0.00, 0.09, 0.09, 0.0, 0.85),  # a small bright one
    (0.26, -0.04, 0.13, 0.16, -10.0, 0.56),  # the organ's neighbour, nearly as bright
    (0.04, -0.32, 0.20, 0.28, 20.0, 0.60),  # the organ (labelled)
)
ANATOMY_LABEL = len(ANATOMY) - 1


def _smooth_field(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """A smooth random field (size, size) with maximum absolute value 1."""
    field = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma=sigma, mode="wrap")
    return field / (np.abs(field).max() + 1e-12)


def anatomy_sample(rng: np.random.Generator, size: int, deform: float = 0.06) -> tuple[np.ndarray, np.ndarray]:
    """One subject: a grey image (size, size) uint8 and the organ's exact mask (size, size) uint8 in {0, 1}.

    The subject is the template :data:`ANATOMY` with every ellipse's radii scaled by up to +-12% and its centre
    moved by up to 0.04, seen through a random affine map (rotation up to 12 degrees, scales 0.9-1.1, shift up to
    0.06) plus a smooth random displacement of up to ``deform`` (in units of half the image), then blurred,
    shaded by a smooth bias field (+-10%) and given Gaussian noise (sigma 0.04)."""
    coords = (np.arange(size) + 0.5) / size * 2 - 1
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    angle = np.deg2rad(rng.uniform(-12, 12))
    scale = rng.uniform(0.9, 1.1, size=2)
    shift = rng.uniform(-0.06, 0.06, size=2)
    c, s = np.cos(angle), np.sin(angle)
    y0, x0 = yy - shift[0], xx - shift[1]  # the template point seen at each pixel: inverse affine, then displaced
    ty = (c * y0 - s * x0) / scale[0] + deform * _smooth_field(rng, size, size / 8)
    tx = (s * y0 + c * x0) / scale[1] + deform * _smooth_field(rng, size, size / 8)
    image = np.zeros((size, size))
    mask = np.zeros((size, size), dtype=bool)
    for k, (cy, cx, ry, rx, rot, value) in enumerate(ANATOMY):
        cy, cx = cy + rng.uniform(-0.04, 0.04), cx + rng.uniform(-0.04, 0.04)
        ry, rx = ry * rng.uniform(0.88, 1.12), rx * rng.uniform(0.88, 1.12)
        r = np.deg2rad(rot)
        u = ((ty - cy) * np.cos(r) + (tx - cx) * np.sin(r)) / ry
        v = (-(ty - cy) * np.sin(r) + (tx - cx) * np.cos(r)) / rx
        inside = u * u + v * v <= 1.0
        image = np.where(inside, value, image)
        if k == ANATOMY_LABEL:
            mask = inside
    image = ndimage.gaussian_filter(image, sigma=size / 128) * (1 + 0.1 * _smooth_field(rng, size, size / 4))
    image = image + rng.normal(0, 0.04, image.shape)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8), mask.astype(np.uint8)


def anatomy(n: int, size: int = 96, seed: int = 0, deform: float = 0.06) -> tuple[np.ndarray, np.ndarray]:
    """n generated subjects of one anatomy (:func:`anatomy_sample`): ((n, size, size) uint8 grey images,
    (n, size, size) uint8 organ masks in {0, 1}). The i-th subject depends only on (seed, i)."""
    if n < 1 or size < 16 or not deform >= 0:
        raise ValueError(f"anatomy needs n >= 1, size >= 16 and deform >= 0, got n={n}, size={size}, "
                         f"deform={deform}.")
    pairs = [anatomy_sample(np.random.default_rng([seed, i]), size, deform) for i in range(n)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def write_anatomy_folder(root: str | Path, n: int, size: int = 96, seed: int = 0, deform: float = 0.06) -> Path:
    """Write ``root/images/subject_XXXX.png`` (grey) and ``root/masks/subject_XXXX.png`` (0/255), returns root."""
    from pixelwise.data.io import write_image

    root = Path(root)
    images, masks = anatomy(n, size, seed, deform)
    for i in range(n):
        write_image(root / "images" / f"subject_{i:04d}.png", images[i])
        write_image(root / "masks" / f"subject_{i:04d}.png", masks[i] * 255)
    return root

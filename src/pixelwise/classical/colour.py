"""One grey channel out of a colour image, for the classical methods: a channel, or a colour transform.

Every channel is a float64 (H, W) array scaled to about [0, 1] by fixed rules (stated per channel below), so that
tolerances such as region growing's mean the same thing on every image. Input: (H, W, 3) or (H, W, 1) uint8, or
float in [0, 1]; a grey image (one channel) accepts only ``grey``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# sRGB (IEC 61966-2-1) linear RGB -> CIE XYZ, and the D65 reference white (the matrix of skimage.color, Poynton)
_RGB_TO_XYZ = np.array([[0.412453, 0.357580, 0.180423],
                        [0.212671, 0.715160, 0.072169],
                        [0.019334, 0.119193, 0.950227]])
_D65 = np.array([0.95047, 1.0, 1.08883])


def as_float(image: np.ndarray) -> np.ndarray:
    """(H, W, C) or (H, W) uint8, uint16 or float -> (H, W, C) float64 in [0, 1] (uint8 divided by 255, uint16 by
    65535, floats as they are)."""
    x = np.asarray(image)
    x = x[..., None] if x.ndim == 2 else x
    if x.ndim != 3:
        raise ValueError(f"an image is (H, W) or (H, W, C), got shape {x.shape}.")
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(x.dtype, 1.0)
    return x.astype(np.float64) / scale


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B (Pillow's "L" conversion, before its rounding)."""
    return rgb @ np.array([0.299, 0.587, 0.114])


def hsv(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) hue, saturation, value, each in [0, 1]: V = max, S = (max - min) / max (0 where max = 0), and
    the hue angle / 360 degrees (Smith 1978; 0 on grey pixels), as skimage.color.rgb2hsv."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v, low = rgb.max(-1), rgb.min(-1)
    delta = v - low
    s = np.divide(delta, v, out=np.zeros_like(v), where=v > 0)
    safe = np.where(delta > 0, delta, 1.0)
    h = np.where(v == r, (g - b) / safe, np.where(v == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    h = np.where(delta > 0, (h / 6.0) % 1.0, 0.0)
    return np.stack([h, s, v], axis=-1)


def lab(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) CIE L*a*b* of sRGB under D65 (CIE 15:2004): L* in [0, 100], a*, b* about [-128, 127].

    Linearise: c <= 0.04045 -> c / 12.92, else ((c + 0.055) / 1.055)^2.4; XYZ = M c / white;
    f(t) = t^(1/3) for t > (6/29)^3, else t / (3 (6/29)^2) + 4/29; L* = 116 f(Y) - 16, a* = 500 (f(X) - f(Y)),
    b* = 200 (f(Y) - f(Z)).
    """
    c = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = (c @ _RGB_TO_XYZ.T) / _D65
    delta = 6.0 / 29.0
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4.0 / 29.0)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def principal(rgb: np.ndarray) -> np.ndarray:
    """The colours' projection on their first principal component (of this image's pixels), scaled to [0, 1]
    by its minimum and maximum, signed to rise with luma: the one grey channel with the most colour variance."""
    flat = rgb.reshape(-1, 3)
    centred = flat - flat.mean(0)
    _, _, vt = np.linalg.svd(centred.T @ centred)
    axis = vt[0] if vt[0] @ np.array([0.299, 0.587, 0.114]) >= 0 else -vt[0]
    p = (centred @ axis).reshape(rgb.shape[:2])
    span = p.max() - p.min()
    return (p - p.min()) / span if span > 0 else np.zeros_like(p)


# name -> (H, W, 3) float RGB in [0, 1] -> (H, W) about [0, 1]
CHANNELS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "grey": luma,
    "red": lambda x: x[..., 0],
    "green": lambda x: x[..., 1],
    "blue": lambda x: x[..., 2],
    "hue": lambda x: hsv(x)[..., 0],
    "saturation": lambda x: hsv(x)[..., 1],
    "value": lambda x: hsv(x)[..., 2],
    "lab_l": lambda x: lab(x)[..., 0] / 100.0,  # L* / 100
    "lab_a": lambda x: (lab(x)[..., 1] + 128.0) / 255.0,  # (a* + 128) / 255
    "lab_b": lambda x: (lab(x)[..., 2] + 128.0) / 255.0,  # (b* + 128) / 255
    "pca": principal,
}


def channel(image: np.ndarray, name: str = "grey") -> np.ndarray:
    """The (H, W) float64 channel ``name`` (one of :data:`CHANNELS`) of an image; a grey image is its own
    ``grey`` channel."""
    if name not in CHANNELS:
        raise ValueError(f"channel {name!r} is not known; use one of {', '.join(CHANNELS)}.")
    x = as_float(image)
    if x.shape[-1] == 1:
        if name != "grey":
            raise ValueError(f"channel {name!r} needs a colour image; this image is grey (use grey).")
        return x[..., 0]
    if x.shape[-1] != 3:
        raise ValueError(f"a colour image has 3 channels, got {x.shape[-1]}.")
    return CHANNELS[name](x)

"""Image-quality metrics for restoration: PSNR, SSIM, and the Y channel of YCbCr with a border shave.

Inputs are numpy arrays or torch tensors of one image, ``(H, W)`` grey or ``(C, H, W)`` channels-first
(a leading batch axis of 1 is accepted); the result is a plain float. The data range (peak value) is
always an argument: it is never guessed from the data, because a guess silently changes the number.

- PSNR = 10 log10(R^2 / MSE) over all pixels and channels.
- SSIM (Wang, Bovik, Sheikh & Simoncelli 2004, "Image quality assessment: from error visibility to
  structural similarity", IEEE TIP 13(4)), their equation (13) with Gaussian-weighted statistics: an
  11 x 11 window with sigma 1.5, ``C1 = (0.01 R)^2``, ``C2 = (0.03 R)^2``, the map averaged over the
  positions where the window fits (the 'valid' region, as in the authors' MATLAB code), and over
  channels for colour images.
- Y channel: ITU-R BT.601 luma as MATLAB ``rgb2ycbcr`` computes it for images in [0, 1],
  ``Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255`` (range [16, 235] / 255), and a border of
  ``shave`` pixels removed on each side before measuring: the protocol of the SRCNN / VDSR tables
  (shave = the scale factor).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from pixelwise.errors import PixelwiseError

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _as_chw(image, name: str) -> torch.Tensor:
    """``(H, W)``, ``(C, H, W)`` or ``(1, C, H, W)`` -> float64 ``(C, H, W)``."""
    t = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image.detach())
    t = t.to(torch.float64)
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() == 2:
        t = t[None]
    if t.dim() != 3:
        raise PixelwiseError(f"{name} must be one image (H, W) or (C, H, W), got shape {tuple(t.shape)}.")
    return t


def _pair(prediction, target, data_range) -> tuple[torch.Tensor, torch.Tensor, float]:
    p = _as_chw(prediction, "prediction")
    t = _as_chw(target, "target")
    if p.shape != t.shape:
        raise PixelwiseError(
            f"prediction {tuple(p.shape)} and target {tuple(t.shape)} differ in shape; "
            "crop or resize one of them."
        )
    if data_range is None or not float(data_range) > 0:
        raise PixelwiseError(
            f"data_range {data_range} must be > 0 (1.0 for images in [0, 1], 255 for 8 bits)."
        )
    return p, t, float(data_range)


def psnr(prediction, target, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(R^2 / MSE)``; ``inf`` for identical images."""
    p, t, r = _pair(prediction, target, data_range)
    mse = float(((p - t) ** 2).mean())
    return math.inf if mse == 0 else 10.0 * math.log10(r * r / mse)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """The normalised ``(size, size)`` Gaussian weighting window of SSIM."""
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma * sigma))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim_map(prediction, target, data_range: float) -> torch.Tensor:
    """The SSIM map ``(C, H - 10, W - 10)`` of Wang et al. (2004), equation (13), Gaussian window."""
    p, t, r = _pair(prediction, target, data_range)
    c, h, w = p.shape
    if h < SSIM_WINDOW or w < SSIM_WINDOW:
        raise PixelwiseError(
            f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {h}x{w}."
        )
    win = gaussian_window()[None, None]  # (1, 1, 11, 11)

    def blur(z):  # local Gaussian-weighted mean, 'valid' positions only
        return F.conv2d(z[:, None], win)[:, 0]  # (C, H - 10, W - 10)

    mu_p, mu_t = blur(p), blur(t)
    var_p = blur(p * p) - mu_p**2
    var_t = blur(t * t) - mu_t**2
    cov = blur(p * t) - mu_p * mu_t
    c1, c2 = (SSIM_K1 * r) ** 2, (SSIM_K2 * r) ** 2
    return ((2 * mu_p * mu_t + c1) * (2 * cov + c2)) / ((mu_p**2 + mu_t**2 + c1) * (var_p + var_t + c2))


def ssim(prediction, target, data_range: float) -> float:
    """Mean SSIM over the valid region and over channels (grey or colour), Wang et al. (2004)."""
    return float(ssim_map(prediction, target, data_range).mean())


def rgb_to_y(image, data_range: float = 1.0) -> torch.Tensor:
    """ITU-R BT.601 luma of an RGB image ``(3, H, W)`` in [0, data_range], as MATLAB ``rgb2ycbcr``.

    Returns ``(1, H, W)`` in the same range convention: ``Y / 255 * data_range`` with Y in [16, 235].
    """
    x = _as_chw(image, "image")
    if x.shape[0] != 3:
        raise PixelwiseError(f"rgb_to_y needs 3 channels (R, G, B), got {x.shape[0]}.")
    x = x / data_range
    y = (16.0 + 65.481 * x[0] + 128.553 * x[1] + 24.966 * x[2]) / 255.0
    return (y * data_range)[None]


def _shave(x: torch.Tensor, shave: int) -> torch.Tensor:
    if int(shave) != shave or shave < 0:
        raise PixelwiseError(f"border shave {shave} must be a whole number >= 0.")
    if shave == 0:
        return x
    if 2 * shave >= min(x.shape[-2:]):
        raise PixelwiseError(f"border shave {shave} removes the whole {x.shape[-2]}x{x.shape[-1]} image.")
    return x[..., shave:-shave, shave:-shave]


def psnr_y(prediction, target, data_range: float = 1.0, shave: int = 0) -> float:
    """PSNR on the Y channel (BT.601) after removing ``shave`` border pixels; grey images as they are."""
    p, t, r = _pair(prediction, target, data_range)
    if p.shape[0] == 3:
        p, t = rgb_to_y(p, r), rgb_to_y(t, r)
    return psnr(_shave(p, shave), _shave(t, shave), r)


def ssim_y(prediction, target, data_range: float = 1.0, shave: int = 0) -> float:
    """SSIM on the Y channel (BT.601) after removing ``shave`` border pixels; grey images as they are."""
    p, t, r = _pair(prediction, target, data_range)
    if p.shape[0] == 3:
        p, t = rgb_to_y(p, r), rgb_to_y(t, r)
    return ssim(_shave(p, shave), _shave(t, shave), r)

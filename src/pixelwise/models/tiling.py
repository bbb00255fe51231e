"""Sliding-window inference: a network applied to an image of any size in overlapping tiles, blended with
Gaussian weights, so that memory is bounded by the tiles in flight, not by the image.

The convention of nnU-Net (Isensee et al. 2021, "nnU-Net: a self-configuring method for deep learning-based
biomedical image segmentation", Nature Methods 18) and MONAI's ``sliding_window_inference``:

- windows of T pixels step by ``max(1, floor(T (1 - overlap)))`` from the first pixel, and the last window is
  moved back to end on the image's last pixel, so every pixel is covered and no window leaves the image;
- each window's prediction is weighted by a Gaussian centred on it, w(d) = exp(-d^2 / (2 sigma^2)) with
  d the distance (in pixels) from the window's centre (T - 1) / 2 along each axis and sigma = T / 8, the
  product over the two axes, floored at 1e-3 (a window's corners still count where no other window reaches);
- the result is sum_windows w p / sum_windows w: the predictions near a tile's border, where the network saw
  the least context, count least.

Two extensions for networks whose output is not their input's size: a ``margin`` of context fed around every
tile and not predicted (a valid-padding U-Net's border; the image is mirrored where the margin leaves it), and an
integer output ``scale`` (a super-resolution network's upsampling).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from pixelwise.errors import PixelwiseError


@dataclass(frozen=True)
class Tiles:
    """Sliding-window settings: ``tile`` pixels a window (None: the whole image at once), ``overlap`` the share of
    a window its neighbour covers, ``batch`` windows per forward pass (the memory in flight)."""

    tile: int | None = None
    overlap: float = 0.25
    batch: int = 4

    def __post_init__(self):
        if self.tile is not None and (isinstance(self.tile, bool) or not isinstance(self.tile, int) or self.tile < 1):
            raise PixelwiseError(f"tile={self.tile} must be a whole number of pixels >= 1 (or unset: no tiles).")
        if not 0 <= self.overlap < 1:
            raise PixelwiseError(f"overlap={self.overlap} must be a fraction in [0, 1), e.g. 0.25 (MONAI's) or 0.5 "
                                 "(nnU-Net's).")
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise PixelwiseError(f"tile_batch={self.batch} must be a whole number >= 1.")


def window_starts(size: int, tile: int, overlap: float) -> list[int]:
    """The first pixel of each window along an axis of ``size`` pixels (see the module docstring)."""
    if not 1 <= tile <= size:
        raise ValueError(f"a tile of {tile} pixels does not fit an axis of {size}; use a tile between 1 and {size}.")
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap={overlap} must be a fraction in [0, 1).")
    step = tile if tile == size else max(1, int(tile * (1 - overlap)))
    starts = [0]
    while starts[-1] + tile < size:
        starts.append(min(starts[-1] + step, size - tile))
    return starts


def gaussian_weights(height: int, width: int, sigma_scale: float = 0.125, dtype=torch.float32,
                     device=None) -> torch.Tensor:
    """(height, width) Gaussian importance of a window's pixels (see the module docstring), floored at 1e-3."""
    axes = []
    for n in (height, width):
        d = torch.arange(n, dtype=torch.float64, device=device) - (n - 1) / 2  # distance from the centre
        axes.append(torch.exp(-(d ** 2) / (2 * (sigma_scale * n) ** 2)))
    weights = axes[0][:, None] * axes[1][None, :]  # (H, W)
    return weights.clamp(min=max(float(weights.min()), 1e-3)).to(dtype)


def sliding_window(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int | tuple[int, int],
                   overlap: float = 0.25, batch: int = 4, *, margin: tuple[int, int] = (0, 0), scale: int = 1,
                   blend: str = "gaussian", sigma_scale: float = 0.125, device=None) -> torch.Tensor:
    """``fn`` applied to ``x`` window by window, the predictions blended (see the module docstring).

    Args:
        fn: (B, C, th + m, tw + m) tiles -> (B, K, scale th, scale tw) predictions, m = sum(margin).
        x: (N, C, H, W) images, on any device (the result is accumulated there, in float32).
        tile: the window (th, tw) in pixels of ``x``, at most (H, W).
        overlap: the fraction of a window its neighbour shares, in [0, 1).
        batch: tiles per call of ``fn`` (the memory in flight).
        margin: (before, after) pixels of context around every tile that ``fn`` does not predict.
        scale: the output's pixels per input pixel.
        blend: "gaussian" or "constant" (a plain average).
        device: where ``fn`` runs (default: ``x``'s device); tiles go there and predictions come back.

    Returns:
        (N, K, scale H, scale W) float32.
    """
    n, _, h, w = x.shape
    th, tw = (tile, tile) if isinstance(tile, int) else tile
    if batch < 1 or scale < 1 or min(margin) < 0 or blend not in ("gaussian", "constant"):
        raise ValueError(f"batch={batch} and scale={scale} must be >= 1, margin={margin} >= 0, blend gaussian or "
                         "constant.")
    rows, cols = window_starts(h, th, overlap), window_starts(w, tw, overlap)
    windows = [(i, j) for i in rows for j in cols]
    before, after = margin
    if before or after:
        mode = "reflect" if max(before, after) < min(h, w) else "replicate"
        x = F.pad(x, (before, after, before, after), mode=mode)
    out_h, out_w = th * scale, tw * scale
    weights = (gaussian_weights(out_h, out_w, sigma_scale, device=x.device) if blend == "gaussian"
               else torch.ones(out_h, out_w, device=x.device))
    total = torch.zeros(h * scale, w * scale, device=x.device)  # the sum of the weights, the same for every image
    for i, j in windows:
        total[i * scale:i * scale + out_h, j * scale:j * scale + out_w] += weights
    out = None
    for k in range(n):
        for start in range(0, len(windows), batch):
            chunk = windows[start:start + batch]
            tiles = torch.stack([x[k, :, i:i + th + before + after, j:j + tw + before + after] for i, j in chunk])
            pred = fn(tiles if device is None else tiles.to(device))  # (B, K, out_h, out_w)
            if tuple(pred.shape[-2:]) != (out_h, out_w):
                raise ValueError(f"fn returned tiles of {tuple(pred.shape[-2:])}, not {(out_h, out_w)}; check "
                                 "margin and scale.")
            pred = pred.to(x.device, torch.float32)
            if out is None:
                out = torch.zeros(n, pred.shape[1], h * scale, w * scale, device=x.device)
            for (i, j), p in zip(chunk, pred):
                out[k, :, i * scale:i * scale + out_h, j * scale:j * scale + out_w] += weights * p
    return out.div_(total)

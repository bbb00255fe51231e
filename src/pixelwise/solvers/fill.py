"""A classical first guess for the missing pixels of inpainting, where iterative solvers start.

The naive reconstruction of inpainting (``A^T y``) leaves the missing pixels at 0. A denoiser trained on Gaussian
noise does not remove half the pixels set to black, so plug-and-play started there keeps their trace (measured on
two 240 x 240 photographs at 50% kept: 24-25 dB after 24 iterations, against 30.6-30.7 dB started from the fill
below). DPIR starts its demosaicing the same way, from a classical method's answer (Zhang et al. 2021, sec. 5.4).

The fill is normalised convolution (Knutsson & Westin 1993, "Normalized and differential convolution"): with
the 0/1 mask ``m`` and a Gaussian ``g_s``, a missing pixel gets ``(g_s * (m y)) / (g_s * m)``, the Gaussian-
weighted mean of the kept pixels near it, at the finest scale ``s`` (1, 2, 4, ... pixels) whose kept weight
``g_s * m`` is at least :data:`MIN_WEIGHT` of ``g_s * 1``. Kept pixels keep their measured values.
"""

from __future__ import annotations

import torch

from pixelwise.physics import Inpainting, LinearOperator, gaussian_kernel_1d
from pixelwise.physics.correlate import correlate_separable

MIN_WEIGHT = 0.05  # the least kept weight (a fraction of the Gaussian's mass) a filled pixel is averaged from
SCALES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)  # Gaussian sigmas in pixels, finest first


def _smooth(v: torch.Tensor, sigma: float) -> torch.Tensor:
    """``g_sigma * v`` for ``v`` of shape (N, C, H, W), zero outside the image (the kernel may be wider than it)."""
    g = gaussian_kernel_1d(sigma).to(v.dtype)
    r = g.numel() // 2
    return correlate_separable(v.contiguous(), g, g, (r, r, r, r))  # g is symmetric: correlation = convolution


def normalized_fill(y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The missing pixels of ``y`` (N, C, H, W; zero where ``mask`` is 0) filled by normalised convolution.

    ``mask`` is 0/1 and broadcasts to ``y``. The kept weight is measured as a fraction of the Gaussian's mass inside
    the image (so borders and small images are not penalised); the coarsest scale takes any kept weight at all. A
    pixel of an image with nothing kept is 0."""
    mask = torch.broadcast_to(mask.to(y.dtype), y.shape)
    out = torch.where(mask > 0, y, torch.zeros_like(y))
    todo = mask == 0
    for sigma in SCALES:
        if not bool(todo.any()):
            break
        weight = _smooth(mask, sigma)
        if sigma == SCALES[-1]:  # the coarsest scale: any kept weight at all
            ready = todo & (weight > 0)
        else:
            ready = todo & (weight >= MIN_WEIGHT * _smooth(torch.ones_like(mask), sigma))
        out = torch.where(ready, _smooth(mask * y, sigma) / torch.where(ready, weight, torch.ones_like(weight)), out)
        todo = todo & ~ready
    return out


def first_guess(op: LinearOperator, y: torch.Tensor) -> torch.Tensor:
    """Where an iterative solver with a learned prior starts: inpainting's :func:`normalized_fill`, otherwise the
    naive reconstruction ``op.naive(y)``."""
    if isinstance(op, Inpainting):
        kept = op.A_adjoint(y)  # y on the kept pixels, 0 elsewhere
        return normalized_fill(kept, op.A(torch.ones_like(kept)))
    return op.naive(y)

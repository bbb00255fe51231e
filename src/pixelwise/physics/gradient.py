"""The discrete image gradient (forward differences) and its adjoint, the negative divergence.

``D x = (x[i+1, j] - x[i, j], x[i, j+1] - x[i, j])`` stacked as ``(N, C, 2, H, W)``. Two boundaries:

- ``neumann`` (Chambolle 2004; Beck & Teboulle 2009): the difference across the last row/column is 0,
  the discretisation of total variation used by most TV codes, scikit-image included;
- ``periodic``: wraps around, so ``D^T D`` is circulant with DFT eigenvalues
  ``4 sin^2(pi k / H) + 4 sin^2(pi l / W)`` (used for Tikhonov with L = gradient by FFT).

``||D||^2 <= 8`` in both cases.
"""

from __future__ import annotations

import math

import torch

from pixelwise.errors import PixelwiseError
from pixelwise.physics.base import LinearOperator, check_image

GRADIENT_BOUNDARIES = ("neumann", "periodic")


def grad(x: torch.Tensor, boundary: str = "neumann") -> torch.Tensor:
    """Forward differences ``(N, C, H, W) -> (N, C, 2, H, W)``; adjoint :func:`grad_adjoint`."""
    if boundary == "periodic":
        return torch.stack([torch.roll(x, -1, dims=-2) - x, torch.roll(x, -1, dims=-1) - x], dim=2)
    if x.requires_grad and torch.is_grad_enabled():  # out= below does not record autograd
        g = x.new_zeros(x.shape[:2] + (2,) + x.shape[2:])  # (N, C, 2, H, W)
        g[:, :, 0, :-1] = x[..., 1:, :] - x[..., :-1, :]
        g[:, :, 1, :, :-1] = x[..., :, 1:] - x[..., :, :-1]
        return g
    g = x.new_empty(x.shape[:2] + (2,) + x.shape[2:])  # (N, C, 2, H, W)
    # the same differences written in place (no temporary, no zero fill of the whole output): ~2-4x faster
    torch.sub(x[..., 1:, :], x[..., :-1, :], out=g[:, :, 0, :-1])
    torch.sub(x[..., :, 1:], x[..., :, :-1], out=g[:, :, 1, :, :-1])
    g[:, :, 0, -1] = 0  # Neumann: no difference across the last row / column
    g[:, :, 1, :, -1] = 0
    return g


def grad_adjoint(g: torch.Tensor, boundary: str = "neumann") -> torch.Tensor:
    """``D^T g = -div g``: ``(N, C, 2, H, W) -> (N, C, H, W)``; adjoint of :func:`grad`."""
    gy, gx = g[:, :, 0], g[:, :, 1]
    if boundary == "periodic":
        return (torch.roll(gy, 1, dims=-2) - gy) + (torch.roll(gx, 1, dims=-1) - gx)
    out = torch.zeros_like(gy)
    # rows: D_y^T g = g[i-1] - g[i] with g[-1] = 0 and g[H-1] unused (it is 0 in the range of D_y)
    out[..., :-1, :] -= gy[..., :-1, :]
    out[..., 1:, :] += gy[..., :-1, :]
    out[..., :, :-1] -= gx[..., :, :-1]
    out[..., :, 1:] += gx[..., :, :-1]
    return out


def laplacian_multiplier(size, dtype=torch.float64) -> torch.Tensor:
    """DFT eigenvalues ``(H, W)`` of ``D^T D`` for the periodic gradient."""
    h, w = int(size[-2]), int(size[-1])
    ky = 4 * torch.sin(math.pi * torch.arange(h, dtype=torch.float64) / h) ** 2
    kx = 4 * torch.sin(math.pi * torch.arange(w, dtype=torch.float64) / w) ** 2
    return (ky[:, None] + kx[None, :]).to(dtype)


class Gradient(LinearOperator):
    """The image gradient as an operator ``(N, C, H, W) -> (N, C, 2, H, W)`` (for TV and Tikhonov)."""

    def __init__(self, boundary: str = "neumann"):
        super().__init__()
        if boundary not in GRADIENT_BOUNDARIES:
            raise PixelwiseError(
                f"unknown gradient boundary {boundary!r}; choose {' or '.join(GRADIENT_BOUNDARIES)}."
            )
        self.boundary = boundary

    def A(self, x):  # noqa: N802
        check_image(x, "Gradient")
        return grad(x, self.boundary)

    def A_adjoint(self, y):  # noqa: N802
        return grad_adjoint(y, self.boundary)

    def fourier_multiplier(self, size):
        return laplacian_multiplier(size) if self.boundary == "periodic" else None

"""Smoothness of a displacement field u = (u_x, u_y), (N, 2, H, W) in pixels, and its Jacobian determinant.

Derivatives are finite differences in pixels of the field's own grid; each energy is a mean over the positions
where its differences exist, so it does not grow with the image size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def diffusion(u: torch.Tensor) -> torch.Tensor:
    """Diffusion (membrane) energy (Fischer and Modersitzki 2002): mean of |grad u_x|^2 + |grad u_y|^2 with forward
    differences, (N,). A translation costs 0, a linear field u_x = alpha x costs alpha^2."""
    dx = u[..., :, 1:] - u[..., :, :-1]
    dy = u[..., 1:, :] - u[..., :-1, :]
    return dx.pow(2).sum(1).flatten(1).mean(1) + dy.pow(2).sum(1).flatten(1).mean(1)


def bending(u: torch.Tensor) -> torch.Tensor:
    """Bending energy of a thin plate (Rueckert et al. 1999): mean of u_xx^2 + 2 u_xy^2 + u_yy^2 summed over both
    components, with central second differences, (N,). Every affine field costs 0; u_x = beta x^2 costs 4 beta^2."""
    uxx = u[..., :, 2:] - 2 * u[..., :, 1:-1] + u[..., :, :-2]
    uyy = u[..., 2:, :] - 2 * u[..., 1:-1, :] + u[..., :-2, :]
    uxy = (u[..., 1:, 1:] - u[..., 1:, :-1] - u[..., :-1, 1:] + u[..., :-1, :-1])
    return sum(t.pow(2).sum(1).flatten(1).mean(1) * k for t, k in ((uxx, 1), (uyy, 1), (uxy, 2)))


REGULARISERS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"diffusion": diffusion, "bending": bending}


def jacobian_determinant(u: torch.Tensor, matrix: torch.Tensor | None = None) -> torch.Tensor:
    """det(A + grad u) at every pixel, (N, H, W): the local area change of T(p) = A p + t + u(p) (``matrix`` A,
    default I), with central differences (one-sided at the edges). Values <= 0 mark folding (the map is not
    one-to-one there)."""
    gx = torch.gradient(u, dim=3)[0]  # d/dx of (u_x, u_y): (N, 2, H, W)
    gy = torch.gradient(u, dim=2)[0]  # d/dy
    a = torch.eye(2, dtype=u.dtype).expand(u.shape[0], 2, 2) if matrix is None else matrix.to(u.dtype)
    a = a[:, :, :, None, None]
    return (a[:, 0, 0] + gx[:, 0]) * (a[:, 1, 1] + gy[:, 1]) - (a[:, 0, 1] + gy[:, 0]) * (a[:, 1, 0] + gx[:, 1])

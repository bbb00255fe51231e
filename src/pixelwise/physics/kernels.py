"""Blur kernels: Gaussian, box and linear motion, each summing to 1, and the test for a separable kernel.

The Gaussian and box kernels are outer products of their 1-D factors (:func:`gaussian_kernel_1d`,
:func:`box_kernel_1d`); :func:`rank_one_factors` finds such factors in any kernel from its singular values
(Szeliski, *Computer Vision: Algorithms and Applications*, 2nd ed. 2022, Sec. 3.2.1 'Separable filtering'),
which :class:`pixelwise.physics.blur.Blur` uses to run two 1-D passes instead of one 2-D pass.
"""

from __future__ import annotations

import math

import torch

from pixelwise.errors import PixelwiseError


def gaussian_kernel_1d(sigma: float, size: int | None = None) -> torch.Tensor:
    """Samples of ``exp(-t^2 / (2 sigma^2))`` at ``size`` points centred on 0, summing to 1; size defaults to
    2 ceil(3 sigma) + 1. One factor of :func:`gaussian_kernel`; ``Blur.separable(g, g)`` blurs with both."""
    if not sigma > 0:
        raise PixelwiseError(f"Gaussian kernel sigma {sigma} must be > 0.")
    size = int(size) if size is not None else 2 * math.ceil(3 * sigma) + 1
    if size < 1:
        raise PixelwiseError(f"kernel size {size} must be >= 1.")
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    return g / g.sum()


def gaussian_kernel(sigma: float, size: int | None = None) -> torch.Tensor:
    """Isotropic Gaussian ``exp(-r^2 / (2 sigma^2))`` summing to 1; size defaults to 2 ceil(3 sigma) + 1.

    The outer product ``g g^T`` of :func:`gaussian_kernel_1d`, hence rank one (``Blur.separable(g, g)`` keeps
    the factors themselves)."""
    g = gaussian_kernel_1d(sigma, size)
    return torch.outer(g, g)


def box_kernel_1d(size: int) -> torch.Tensor:
    """Uniform ``size``-tap average ``1 / size``; one factor of :func:`box_kernel`."""
    if int(size) != size or size < 1:
        raise PixelwiseError(f"box kernel size {size} must be a whole number >= 1.")
    return torch.full((int(size),), 1.0 / size, dtype=torch.float64)


def box_kernel(size: int) -> torch.Tensor:
    """Uniform ``size x size`` kernel (the box blur), normalised to sum 1: the outer product ``b b^T`` of
    :func:`box_kernel_1d`."""
    b = box_kernel_1d(size)
    return torch.outer(b, b)


def motion_kernel(length: float, angle: float = 0.0, size: int | None = None) -> torch.Tensor:
    """Linear motion blur: a line segment of ``length`` pixels at ``angle`` degrees (counter-clockwise from
    the horizontal), drawn by bilinear splatting of points spaced 0.1 px, normalised to sum 1."""
    if not length > 0:
        raise PixelwiseError(f"motion length {length} must be > 0 pixels.")
    size = int(size) if size is not None else 2 * math.ceil(length / 2) + 1
    c = (size - 1) / 2
    n = max(2, int(math.ceil(length * 10)) + 1)
    t = torch.linspace(-length / 2, length / 2, n, dtype=torch.float64)
    theta = math.radians(angle)
    rows = c - t * math.sin(theta)  # image rows grow downwards
    cols = c + t * math.cos(theta)
    k = torch.zeros(size, size, dtype=torch.float64)
    r0, c0 = rows.floor(), cols.floor()
    fr, fc = rows - r0, cols - c0
    for dr, dc, w in (
        (0, 0, (1 - fr) * (1 - fc)),
        (1, 0, fr * (1 - fc)),
        (0, 1, (1 - fr) * fc),
        (1, 1, fr * fc),
    ):
        r, q = (r0 + dr).long(), (c0 + dc).long()
        ok = (r >= 0) & (r < size) & (q >= 0) & (q < size)
        k.index_put_((r[ok], q[ok]), w[ok], accumulate=True)
    if k.sum() <= 0:
        raise PixelwiseError(
            f"motion kernel of length {length} does not fit in size {size}; use a larger size."
        )
    return k / k.sum()


# a kernel is rank one when its second singular value is at most this times max(kh, kw) times the first. The
# SVD leaves s2 <= ~4 eps s1 on exact outer products (Gaussians up to 121 x 121, boxes, random factors) and a
# motion line tilted by 0.001 degrees has s2 = 2e-5 s1: only true outer products pass, and their two passes
# equal the 2-D convolution to float64 round-off
RANK_ONE_RTOL = 10 * torch.finfo(torch.float64).eps


def rank_one_factors(kernel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(u, v)`` (float64, (kh,) and (kw,)) with ``kernel = u v^T`` if the kernel is rank one, else None.

    Rank one means ``s2 <= RANK_ONE_RTOL max(kh, kw) s1`` for the singular values ``s1 >= s2`` of the
    float64 kernel; the factors are then the first singular pair scaled by ``sqrt(s1)``, signed so that the
    largest entry of ``u`` is positive (Szeliski 2022, Sec. 3.2.1: a kernel is separable iff only its
    first singular value is non-zero).
    """
    kernel = torch.as_tensor(kernel, dtype=torch.float64)
    left, s, right = torch.linalg.svd(kernel)  # (kh, kh), (min(kh, kw),), (kw, kw)
    if len(s) > 1 and s[1] > RANK_ONE_RTOL * max(kernel.shape) * s[0]:
        return None
    u, v = left[:, 0] * s[0].sqrt(), right[0] * s[0].sqrt()
    if u[u.abs().argmax()] < 0:
        u, v = -u, -v
    return u, v

"""Conjugate gradients, and least squares by CG on the normal equations.

Hestenes & Stiefel (1952), "Methods of conjugate gradients for solving linear systems", J. Res. NBS
49(6). For a symmetric positive (semi-)definite ``M``, CG minimises ``1/2 <x, M x> - <b, x>``, i.e.
solves ``M x = b``, in at most n steps in exact arithmetic. Least squares ``min ||A x - y||^2`` is the
normal equation ``A^T A x = A^T y`` (CGNE/CGLS); on noisy data the iteration count itself regularises
(semi-convergence): stop early.

All tensors of a batch are treated as one vector (the inner product sums over everything).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pixelwise.physics.base import LinearOperator, flush_denormals, inner

Callback = Callable[[int, torch.Tensor], object]


def conjugate_gradient(
    apply: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    x0: torch.Tensor | None = None,
    iterations: int = 100,
    tol: float = 1e-6,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Solve ``M x = b`` for symmetric positive (semi-)definite ``M = apply``.

    Stops after ``iterations`` or when ``||b - M x|| <= tol ||b||``. ``callback(k, x)`` runs after each
    iteration; returning True stops the loop.
    """
    _check_iterations(iterations, tol)
    x = torch.zeros_like(b) if x0 is None else x0.clone()
    r = b - apply(x) if x0 is not None else b.clone()  # residual r_0 = b - M x_0
    p = r.clone()
    rs = float(inner(r, r))
    b_norm = float(b.norm()) or 1.0
    with flush_denormals():  # see pixelwise.physics.base.flush_denormals
        for k in range(1, iterations + 1):
            if rs**0.5 <= tol * b_norm:
                break
            mp = apply(p)
            curvature = float(inner(p, mp))
            if curvature <= 0:  # M p = 0: p lies in the null space, nothing more to gain
                break
            alpha = rs / curvature  # step length, HS eq. (3:1a)
            x = x + alpha * p
            r = r - alpha * mp  # r_{k+1} = r_k - alpha M p_k
            rs_new = float(inner(r, r))
            p = r + (rs_new / rs) * p  # new conjugate direction, beta = |r_{k+1}|^2 / |r_k|^2
            rs = rs_new
            if callback is not None and callback(k, x):
                break
    return x


def least_squares_cg(
    op: LinearOperator,
    y: torch.Tensor,
    iterations: int = 30,
    tol: float = 1e-6,
    damping: float = 0.0,
    x0: torch.Tensor | None = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """``argmin ||A x - y||^2 + damping ||x||^2`` by CG on ``(A^T A + damping I) x = A^T y``.

    Starts from ``x0`` or, by default, from the adjoint ``A^T y`` scaled to best fit the data
    (``x0 = c A^T y`` with ``c = |A^T y|^2 / |A A^T y|^2``; for MRI and inpainting, the zero-filled image).
    """
    if damping < 0:
        raise ValueError(f"damping {damping} must be >= 0.")
    rhs = op.A_adjoint(y)
    if x0 is None:
        x0 = _scaled_adjoint(op, rhs)

    def apply(v):
        return op.normal(v) + damping * v if damping else op.normal(v)

    return conjugate_gradient(apply, rhs, x0, iterations, tol, callback)


def _scaled_adjoint(op: LinearOperator, rhs: torch.Tensor) -> torch.Tensor:
    """``c A^T y`` with the c that minimises ``||A (c A^T y) - y||``: a start in the right units."""
    a_rhs = op.A(rhs)
    denom = float(inner(a_rhs, a_rhs))
    return rhs * (float(inner(rhs, rhs)) / denom) if denom > 0 else rhs


def _check_iterations(iterations: int, tol: float) -> None:
    if int(iterations) != iterations or iterations < 0:
        raise ValueError(f"iterations {iterations} must be a whole number >= 0.")
    if not tol >= 0:
        raise ValueError(f"tolerance {tol} must be >= 0.")

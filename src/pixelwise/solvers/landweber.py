"""Landweber iteration (gradient descent on 1/2 ||A x - y||^2).

Landweber (1951), "An iteration formula for Fredholm integral equations of the first kind", Amer. J.
Math. 73:

    x_{k+1} = x_k - eta A^T (A x_k - y),   0 < eta < 2 / ||A||^2.                     (L1)

Like CG on noisy data it semi-converges: the iteration count is the regulariser. :func:`gradient_step`
is the single step (L1), shared with the proximal-gradient loop and with unrolled networks.
"""

from __future__ import annotations

import torch

from pixelwise.physics.base import LinearOperator
from pixelwise.solvers.cg import Callback, _check_iterations
from pixelwise.solvers.stopping import relative_change


def gradient_step(op: LinearOperator, x: torch.Tensor, y: torch.Tensor, step: float) -> torch.Tensor:
    """One step (L1): ``x - step * A^T (A x - y)``."""
    return x - step * op.A_adjoint(op.A(x) - y)


def default_step(
    op: LinearOperator, shape, generator: torch.Generator | None = None, dtype=torch.float64
) -> float:
    """``1 / ||A||^2`` (||A|| by power iteration): safely inside the convergence range of (L1)."""
    norm = op.norm((1,) + tuple(shape[1:]), iterations=30, generator=generator, dtype=dtype)
    if not norm > 0:
        raise ValueError("the operator is zero; there is nothing to reconstruct from.")
    return 1.0 / norm**2


def landweber(
    op: LinearOperator,
    y: torch.Tensor,
    iterations: int = 50,
    step: float | None = None,
    tol: float = 0.0,
    x0: torch.Tensor | None = None,
    callback: Callback | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Iterate (L1) from ``x0`` (default: the naive reconstruction) with step ``1 / ||A||^2`` by default.

    Stops after ``iterations`` or when the relative change falls below ``tol``.
    """
    _check_iterations(iterations, tol)
    x = (op.naive(y) if x0 is None else x0).clone()
    if step is None:
        step = default_step(op, x.shape, generator, x.dtype)
    if not step > 0:
        raise ValueError(f"step {step} must be > 0 (and below 2 / ||A||^2 to converge).")
    for k in range(1, iterations + 1):
        x_next = gradient_step(op, x, y, step)  # (L1)
        change = relative_change(x_next, x)
        x = x_next
        if callback is not None and callback(k, x):
            break
        if change < tol:
            break
    return x

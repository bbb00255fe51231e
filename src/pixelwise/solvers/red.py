"""Regularisation by denoising (RED): Romano, Elad & Milanfar (2017), "The little engine that could:
regularization by denoising (RED)", SIAM J. Imaging Sci. 10(4).

RED turns a denoiser ``D`` into an explicit regulariser, ``rho(x) = 1/2 x^T (x - D(x))``, whose gradient is the
denoiser's residual ``x - D(x)`` when D is locally homogeneous with a symmetric Jacobian (the paper's conditions).
Here, with the denoiser at a fixed level ``sigma_d`` and the noise std ``sigma_n`` (image units),

    E(x) = ||A x - y||^2 / (2 sigma_n^2) + lam / (2 sigma_d^2) x^T (x - D(x, sigma_d)),                  (R1)

(the paper's weight is ``lam / sigma_d^2``; dividing by sigma_d^2 makes lam comparable across denoiser levels and
with DPIR's, :mod:`pixelwise.solvers.pnp`). Setting the gradient to zero gives the paper's fixed-point iteration
(section 5.2):

    x_{k+1} = (A^T A + alpha I)^{-1} (A^T y + alpha D(x_k, sigma_d)),   alpha = lam sigma_n^2 / sigma_d^2,  (R2)

one denoiser call and one data step (Q1) per iteration. The gradient form ``x - mu (A^T (A x - y) / sigma_n^2 +
lam / sigma_d^2 (x - D(x)))`` has the same fixed points but needs many more iterations.
"""

from __future__ import annotations

import torch

from pixelwise.physics import LinearOperator
from pixelwise.solvers.cg import Callback
from pixelwise.solvers.data_step import data_step
from pixelwise.solvers.fill import first_guess
from pixelwise.solvers.pnp import SIGMA_FLOOR, Denoiser
from pixelwise.solvers.stopping import relative_change

RED_LAMBDA = 0.2  # Romano et al.'s deblurring setting (their weight 0.02 with sigma_d = 3.25 grey levels) is ~0.21


def red(op: LinearOperator, y: torch.Tensor, denoiser: Denoiser, sigma_n: float, lam: float = RED_LAMBDA,
        sigma_d: float = 5 / 255, iterations: int = 30, tol: float = 1e-4, x0: torch.Tensor | None = None,
        callback: Callback | None = None) -> torch.Tensor:
    """Iterate (R2) from ``x0`` (default: :func:`~pixelwise.solvers.fill.first_guess`, the naive reconstruction
    or inpainting's fill) for ``iterations`` or until the relative change falls below ``tol``; ``sigma_n`` is
    floored at 1/255 (a noise-free measurement keeps a little weight on the prior).
    ``callback(k, x_k)`` runs after each iteration (True stops)."""
    if not lam > 0 or not sigma_d > 0:
        raise ValueError(f"lambda {lam} and the denoiser level sigma_d {sigma_d} must be > 0.")
    if int(iterations) != iterations or iterations < 1:
        raise ValueError(f"iterations {iterations} must be a whole number >= 1.")
    alpha = lam * max(sigma_n, SIGMA_FLOOR) ** 2 / sigma_d**2
    x = (first_guess(op, y) if x0 is None else x0).clone()
    for k in range(1, iterations + 1):
        x_next = data_step(op, y, denoiser(x, sigma_d), alpha)  # (R2)
        change = relative_change(x_next, x)
        x = x_next
        if callback is not None and callback(k, x):
            break
        if change < tol:
            break
    return x

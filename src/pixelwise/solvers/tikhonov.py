"""Tikhonov regularisation: ``argmin ||A x - y||^2 + lam ||L x||^2`` with L = identity or the gradient.

The minimiser solves the normal equation (Tikhonov 1963; e.g. Hansen, "Discrete Inverse Problems", 2010)

    (A^T A + lam L^T L) x = A^T y.                                                     (T1)

When ``A^T A`` is circulant (circular blur, denoising, MRI with a real image) and L is the identity or
the periodic gradient, both sides are diagonal in the 2-D DFT and (T1) is solved exactly:

    x = F^{-1}[ F(A^T y) / (|K|^2 + lam |D|^2) ],                                       (T2)

with ``|K|^2`` the operator's ``fourier_multiplier`` and ``|D|^2 = 4 sin^2(pi k/H) + 4 sin^2(pi l/W)``
(or 1 for L = I). Otherwise (T1) is solved by conjugate gradients.
"""

from __future__ import annotations

import torch

from pixelwise.physics.base import LinearOperator
from pixelwise.physics.gradient import grad, grad_adjoint, laplacian_multiplier
from pixelwise.solvers.cg import Callback, conjugate_gradient

REGULARISERS = ("identity", "gradient")


def tikhonov(
    op: LinearOperator,
    y: torch.Tensor,
    lam: float,
    regulariser: str = "gradient",
    iterations: int = 100,
    tol: float = 1e-6,
    method: str = "auto",
    x0: torch.Tensor | None = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Solve (T1). ``method``: "fft" (exact, circulant A only), "cg", or "auto" (FFT when possible).

    The gradient regulariser is periodic in both paths, so the FFT and CG answers agree.
    """
    if not lam >= 0:
        raise ValueError(f"lambda {lam} must be >= 0.")
    if regulariser not in REGULARISERS:
        raise ValueError(f"unknown regulariser {regulariser!r}; choose one of {', '.join(REGULARISERS)}.")
    if method not in ("auto", "fft", "cg"):
        raise ValueError(f"unknown method {method!r}; choose auto, fft or cg.")
    rhs = op.A_adjoint(y)  # A^T y, (N, C, H, W)
    multiplier = op.fourier_multiplier(rhs.shape) if method != "cg" else None
    if method == "fft" and multiplier is None:
        raise ValueError(f"{type(op).__name__} is not circulant here; use method='cg'.")
    if multiplier is not None:
        h, w = rhs.shape[-2:]
        penalty = (
            laplacian_multiplier((h, w))
            if regulariser == "gradient"
            else torch.ones(h, w, dtype=torch.float64)
        )
        denom = (multiplier + lam * penalty)[:, : w // 2 + 1]  # real-FFT half spectrum, (H, W//2+1)
        if bool((denom <= 1e-12).any()):
            raise ValueError(
                "the Tikhonov system is singular (a frequency is neither measured nor penalised); "
                "use lambda > 0 or L = identity."
            )
        x = torch.fft.irfft2(torch.fft.rfft2(rhs) / denom.to(rhs.dtype), s=(h, w))  # (T2)
        if callback is not None:
            callback(1, x)
        return x

    def apply(v):  # (A^T A + lam L^T L) v, the left side of (T1)
        if regulariser == "identity":
            return op.normal(v) + lam * v
        return op.normal(v) + lam * grad_adjoint(grad(v, "periodic"), "periodic")

    return conjugate_gradient(apply, rhs, x0 if x0 is not None else op.naive(y), iterations, tol, callback)

"""The proximal map of the data term, the step every splitting method takes (HQS, ADMM, RED's fixed point):

    x = argmin_x ||A x - y||^2 + alpha ||x - z||^2 = (A^T A + alpha I)^{-1} (A^T y + alpha z),   alpha > 0.   (Q1)

Solved exactly where it is cheap: in the 2-D DFT when ``A^T A`` is circulant (denoising, circular blur, MRI of a
real image; Zhang et al. 2021, eq. 10, for blur), element-wise when it is diagonal (inpainting:
``x = (m y + alpha z) / (m + alpha)``), and otherwise by conjugate gradients warm-started at ``z`` (zero or valid
blur boundaries, down-sampling, CT), whose iterations are capped by ``cg_iterations``.
"""

from __future__ import annotations

import torch

from pixelwise.physics import Inpainting, LinearOperator
from pixelwise.solvers.cg import conjugate_gradient


def data_step(op: LinearOperator, y: torch.Tensor, z: torch.Tensor, alpha: float, cg_iterations: int = 30,
              tol: float = 1e-6) -> torch.Tensor:
    """(Q1) for ``z`` of shape (N, C, H, W); ``alpha`` must be > 0."""
    if not alpha > 0:
        raise ValueError(f"alpha {alpha} must be > 0 (the weight of ||x - z||^2).")
    rhs = op.A_adjoint(y) + alpha * z  # A^T y + alpha z
    if isinstance(op, Inpainting):  # A^T A = diag(m)
        m = op.A(torch.ones_like(z))
        return rhs / (m + alpha)
    multiplier = op.fourier_multiplier(z.shape)
    if multiplier is not None:  # A^T A = F^H diag(K) F, K real and even
        h, w = z.shape[-2:]
        denom = (multiplier + alpha)[:, : w // 2 + 1].to(z.dtype)  # real-FFT half spectrum, (H, W//2+1)
        return torch.fft.irfft2(torch.fft.rfft2(rhs) / denom, s=(h, w))
    return conjugate_gradient(lambda v: op.normal(v) + alpha * v, rhs, z, cg_iterations, tol)

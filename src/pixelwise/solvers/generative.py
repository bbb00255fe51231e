"""Compressed sensing with a generative model (CSGM): Bora, Jalal, Price & Dimakis (2017), "Compressed sensing
using generative models", ICML.

The image is sought in the range of a trained generator G (a VAE's decoder, a GAN's generator) by optimising its
latent code:

    z* = argmin_z ||A G(z) - y||^2 + lam ||z||^2,   x = G(z*)                                       (B1)

by Adam from ``restarts`` random codes z ~ N(0, I) (the problem is not convex); the restart with the smallest
measurement error ``||A G(z) - y||^2`` is kept, as in the paper. The restarts run as one batch (their losses are
independent, so one backward pass serves them all).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pixelwise.physics import LinearOperator
from pixelwise.solvers.cg import Callback

Generator = Callable[[torch.Tensor], torch.Tensor]  # z (R, d) -> images (R, C, H, W) in [0, 1]
CSGM_LAMBDA = 0.1  # Bora et al.'s weight of ||z||^2 for the MNIST VAE
CSGM_LR = 0.05


def csgm(op: LinearOperator, y: torch.Tensor, generator: Generator, latent_dim: int, lam: float = CSGM_LAMBDA,
         iterations: int = 300, restarts: int = 5, lr: float = CSGM_LR, seed: torch.Generator | None = None,
         callback: Callback | None = None) -> torch.Tensor:
    """(B1) for one measurement ``y`` (1, ...); returns ``G(z*)`` (1, C, H, W) as float64. ``callback(k, x)`` sees
    the best restart's image after each Adam step (True stops)."""
    if not lam >= 0:
        raise ValueError(f"lambda {lam} must be >= 0 (Bora et al. use 0.1).")
    if int(restarts) != restarts or restarts < 1 or int(iterations) != iterations or iterations < 1:
        raise ValueError(f"restarts={restarts} and iterations={iterations} must be whole numbers >= 1.")
    y = y.to(torch.float32).expand(restarts, *y.shape[1:])  # (R, ...): one copy per restart
    z = torch.randn(restarts, latent_dim, generator=seed).requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    for k in range(1, iterations + 1):
        x = generator(z)
        misfit = (op.A(x) - y).pow(2).flatten(1).sum(1)  # (R,) ||A G(z) - y||^2 per restart
        loss = (misfit + lam * z.pow(2).sum(1)).sum()  # (B1), summed over the independent restarts
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if callback is not None and callback(k, x.detach()[misfit.argmin()][None].double()):
            break
    with torch.no_grad():
        x = generator(z)
        best = (op.A(x) - y).pow(2).flatten(1).sum(1).argmin()
    return x[best][None].to(torch.float64)

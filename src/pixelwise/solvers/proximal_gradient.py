"""Proximal gradient (ISTA / FISTA) with a pluggable proximal step or denoiser (plug-and-play).

For ``min_x 1/2 ||A x - y||^2 + g(x)`` (Combettes & Wajs 2005; Beck & Teboulle 2009, "A fast iterative
shrinkage-thresholding algorithm for linear inverse problems", SIAM J. Imaging Sci. 2(1)):

    x_k = prox_{eta g}(z_k - eta A^T (A z_k - y))                                       (P1)
    t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2                                               (P2)
    z_{k+1} = x_k + ((t_k - 1) / t_{k+1}) (x_k - x_{k-1})      (FISTA; z = x for ISTA)   (P3)

with ``eta <= 1 / ||A||^2``. ``prox(v, eta)`` is any callable; :func:`tv_prox` gives TV (FISTA-TV, the
MFISTA setting of Beck & Teboulle 2009 without the monotone step), :func:`box_prox` a projection, and
:func:`denoiser_prox` wraps any denoiser ``D(v)`` as the prox: plug-and-play (Venkatakrishnan, Bouman &
Wohlberg 2013). The loop is the one an unrolled network learns (next issue): (P1) with a learned prox.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from pixelwise.physics.base import LinearOperator
from pixelwise.solvers.cg import Callback, _check_iterations
from pixelwise.solvers.landweber import default_step, gradient_step
from pixelwise.solvers.stopping import relative_change
from pixelwise.solvers.tv import tv_denoise

Prox = Callable[[torch.Tensor, float], torch.Tensor]


def proximal_gradient(
    op: LinearOperator,
    y: torch.Tensor,
    prox: Prox,
    iterations: int = 100,
    step: float | None = None,
    accelerate: bool = True,
    tol: float = 1e-5,
    x0: torch.Tensor | None = None,
    callback: Callback | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Iterate (P1)-(P3) from ``x0`` (default: the naive reconstruction); ``step`` defaults to 1/||A||^2."""
    _check_iterations(iterations, tol)
    x = (op.naive(y) if x0 is None else x0).clone()
    if step is None:
        step = default_step(op, x.shape, generator, x.dtype)
    if not step > 0:
        raise ValueError(f"step {step} must be > 0 (and at most 1 / ||A||^2).")
    z, t = x.clone(), 1.0
    for k in range(1, iterations + 1):
        x_next = prox(gradient_step(op, z, y, step), step)  # (P1)
        if accelerate:
            t_next = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0  # (P2)
            z = x_next + ((t - 1.0) / t_next) * (x_next - x)  # (P3)
            t = t_next
        else:
            z = x_next
        change = relative_change(x_next, x)
        x = x_next
        if callback is not None and callback(k, x):
            break
        if change < tol:
            break
    return x


def tv_prox(
    lam: float, iterations: int = 20, tol: float = 1e-4, clip: tuple[float, float] | None = None
) -> Prox:
    """``prox_{eta lam TV}`` by FGP (:func:`pixelwise.solvers.tv.tv_denoise`), optionally followed by a clip.

    (Clipping after the TV prox is the usual inexact treatment of a box constraint.)
    """
    if not lam >= 0:
        raise ValueError(f"lambda {lam} must be >= 0.")

    def prox(v: torch.Tensor, step: float) -> torch.Tensor:
        out = tv_denoise(v, lam * step, iterations=iterations, tol=tol)
        return out.clamp(*clip) if clip is not None else out

    return prox


def box_prox(low: float = 0.0, high: float = 1.0) -> Prox:
    """Projection onto ``[low, high]`` (the prox of the box indicator, whatever the step)."""
    if not low < high:
        raise ValueError(f"box [{low}, {high}] is empty; low must be below high.")
    return lambda v, step: v.clamp(low, high)


def denoiser_prox(denoiser: Callable[[torch.Tensor], torch.Tensor]) -> Prox:
    """Plug-and-play: use ``denoiser(v)`` in place of the proximal step (the step size is ignored)."""
    return lambda v, step: denoiser(v)

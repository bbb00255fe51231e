"""Isotropic total variation: ``argmin 1/2 ||A x - y||^2 + lam TV(x)``, ``TV(x) = sum_ij |(D x)_ij|_2``.

Two algorithms, both with the Neumann forward-difference gradient ``D`` of
:mod:`pixelwise.physics.gradient` (the discretisation of scikit-image's ``denoise_tv_chambolle``):

- :func:`tv_denoise` (A = I): the fast gradient projection (FGP) of Beck & Teboulle (2009), "Fast
  gradient-based algorithms for constrained total variation image denoising and deblurring problems",
  IEEE TIP 18(11): FISTA on the dual problem

      min_{|p_ij| <= 1} || y - lam D^T p ||^2,   x = y - lam D^T p.                   (TV1)

- :func:`tv_pdhg` (any A): the primal-dual hybrid gradient of Chambolle & Pock (2011), "A first-order
  primal-dual algorithm for convex problems with applications to imaging", JMIV 40, Algorithm 1 with
  ``K = (A, D)``, ``F(u, v) = 1/2 ||u - y||^2 + lam ||v||_{2,1}``, ``G = 0``:

      p <- (p + sigma (A xbar - y)) / (1 + sigma)           prox of sigma F1*         (TV2)
      q <- proj_{|q_ij| <= lam}(q + sigma D xbar)           prox of sigma F2*         (TV3)
      x+ <- x - tau (A^T p + D^T q)                         prox of tau G = identity  (TV4)
      xbar <- 2 x+ - x                                       theta = 1                 (TV5)

  with ``sigma tau ||K||^2 < 1``. A is rescaled to unit norm first (and lam with it), which keeps the
  two blocks of K balanced; the minimiser is unchanged. ``step_ratio = tau / sigma`` (1 by default) trades
  the primal step against the dual one; a primal step larger than the dual one converges several times
  faster on the sparse-view CT and undersampled MRI phantoms of the learned-reconstruction benchmark
  (``step_ratio=100``: converged in about 300 to 1000 iterations where 1 needs thousands).

Diagonal preconditioning (``precondition=True``; Pock & Chambolle 2011, "Diagonal preconditioning for first order
primal-dual algorithms in convex optimization", ICCV, Lemma 2 with alpha = 1): per-entry steps in place of the
scalars, from the absolute row and column sums of K,

    sigma_p = 1 / (|A| 1),   sigma_q = 1 / 2,   tau = 1 / (|A|^T 1 + 4)                 (TV6)

(a row of the Neumann D holds one +1 and one -1; a pixel sits in at most four rows of D), which guarantee
``||Sigma^(1/2) K T^(1/2)|| <= 1`` without a norm estimate and without rescaling A; ``step_ratio`` multiplies tau
and divides sigma by its square root. For an operator with nonnegative entries (``A.nonnegative``: the Radon
transform) ``|A| 1 = A 1`` costs one product each way. On sparse-view CT, where the rays through the middle of the
image are long and those through its corners short, these steps converge several times faster than the scalar
ones (``benchmarks/solve_lambda.py``).

Both stop when the relative change of the iterate falls below ``tol``: ``||x_k - x_{k-1}|| / ||y||``
for FGP, ``||x_k - x_{k-1}|| / ||x_k||`` for PDHG.

Warm starts (a path of weights, :mod:`pixelwise.solvers.lambda_path`): PDHG can start from the primal and dual
iterates of a solve at a nearby weight (:class:`PDHGState`). The dual of the gradient block is kept divided by
the weight, since at the solution it is the weight times a field of unit vectors where the gradient is not zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from pixelwise.physics.base import LinearOperator, flush_denormals
from pixelwise.physics.gradient import grad, grad_adjoint
from pixelwise.solvers.cg import Callback, _check_iterations
from pixelwise.solvers.stopping import relative_change


def _magnitude(p: torch.Tensor) -> torch.Tensor:
    """Per-pixel length of the gradient field ``(N, C, 2, H, W) -> (N, C, H, W)``.

    Written out as hypot: ``torch.linalg.vector_norm(p, dim=2)`` reduces over a middle axis of length 2
    and is about 80 times slower on CPU."""
    return torch.hypot(p[:, :, 0], p[:, :, 1])


def tv_norm(x: torch.Tensor) -> torch.Tensor:
    """Isotropic TV of ``(N, C, H, W)``, summed over everything (a 0-d tensor)."""
    return _magnitude(grad(x)).sum()


def _project(p: torch.Tensor, radius: float) -> torch.Tensor:
    """Project each pixel's gradient vector ``p[:, :, :, i, j]`` onto the disc of ``radius``."""
    scale = (_magnitude(p) / radius).clamp(min=1.0)  # (N, C, H, W)
    return p / scale[:, :, None]


def tv_denoise(
    y: torch.Tensor, lam: float, iterations: int = 200, tol: float = 1e-4, callback: Callback | None = None
) -> torch.Tensor:
    """``argmin_x 1/2 ||x - y||^2 + lam TV(x)`` by FGP (Beck & Teboulle 2009, Algorithm FGP), (TV1).

    ``lam`` is in the units of ``y``. Each image and channel of the batch is denoised independently
    (the stopping test uses the whole batch). Returns ``y`` unchanged for ``lam = 0``.

    The dual field is kept as two ``(N, C, H, W)`` tensors (row and column differences) and the
    FISTA extrapolations use ``torch.lerp`` and the linearity of ``D^T``, so that one iteration costs one
    gradient, one divergence and a dozen fused element-wise passes (this is what makes it fast on a CPU).
    """
    _check_iterations(iterations, tol)
    if not lam >= 0:
        raise ValueError(f"lambda {lam} must be >= 0.")
    if lam == 0:
        return y.clone()
    zeros = torch.zeros_like(y)
    p_r, p_c = zeros.clone(), zeros.clone()  # dual p = (rows, columns); last row / column stay 0
    q_r, q_c = zeros.clone(), zeros.clone()  # extrapolated dual point
    g_r, g_c = zeros.clone(), zeros.clone()  # buffers for D x (their last row / column stay 0)
    dt_p = zeros.clone()  # D^T p
    dt_q = zeros.clone()  # D^T q
    t = 1.0
    step = 1.0 / (8.0 * lam)  # the dual gradient 2 lam D x is 16 lam^2-Lipschitz: step 2 lam / (16 lam^2)
    x = y.clone()
    y_norm = max(float(y.norm()), 1e-12)
    for k in range(1, iterations + 1):
        x_q = torch.add(y, dt_q, alpha=-lam)  # primal point of the extrapolated dual, x = y - lam D^T q
        _grad_into(x_q, g_r, g_c)  # D x_q
        p_next_r = torch.add(q_r, g_r, alpha=step)  # gradient step on the dual of (TV1)
        p_next_c = torch.add(q_c, g_c, alpha=step)
        scale = torch.hypot(p_next_r, p_next_c).clamp_(min=1.0)  # projection onto |p_ij| <= 1
        p_next_r.div_(scale)
        p_next_c.div_(scale)
        dt_next = _grad_adjoint_of(p_next_r, p_next_c)
        t_next = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0  # FISTA momentum
        w = 1.0 + (t - 1.0) / t_next  # q = p_next + ((t - 1) / t_next)(p_next - p) = lerp(p, p_next, w)
        q_r, q_c = torch.lerp(p_r, p_next_r, w), torch.lerp(p_c, p_next_c, w)
        dt_q = torch.lerp(dt_p, dt_next, w)  # D^T q by linearity, no second divergence
        change = lam * float(torch.dist(dt_next, dt_p))  # ||x_k - x_{k-1}|| with x = y - lam D^T p
        p_r, p_c, dt_p, t = p_next_r, p_next_c, dt_next, t_next
        if callback is not None:
            x = torch.add(y, dt_p, alpha=-lam)
            if callback(k, x):
                break
        if change < tol * y_norm:
            break
    return torch.add(y, dt_p, alpha=-lam)


def _grad_into(x: torch.Tensor, g_r: torch.Tensor, g_c: torch.Tensor) -> None:
    """Neumann forward differences of ``x`` written into ``g_r`` / ``g_c`` (last row / column untouched)."""
    torch.sub(x[..., 1:, :], x[..., :-1, :], out=g_r[..., :-1, :])
    torch.sub(x[..., :, 1:], x[..., :, :-1], out=g_c[..., :, :-1])


def _grad_adjoint_of(p_r: torch.Tensor, p_c: torch.Tensor) -> torch.Tensor:
    """``D^T p = -div p`` for a field whose last row (rows part) and last column (columns part) are 0."""
    out = torch.empty_like(p_r)
    out[..., 0, :] = -p_r[..., 0, :]
    torch.sub(p_r[..., :-1, :], p_r[..., 1:, :], out=out[..., 1:, :])  # p[i-1] - p[i]
    out[..., :, 1:] += p_c[..., :, :-1] - p_c[..., :, 1:]
    out[..., :, 0] -= p_c[..., :, 0]
    return out


@dataclass
class PDHGState:
    """Where a :func:`tv_pdhg` solve ended, to start another from: the image, the dual of the data block (in the
    units of ``y / ||A||``) and the dual of the gradient block divided by the rescaled weight."""

    x: torch.Tensor  # (N, C, H, W)
    p: torch.Tensor  # like y
    q_unit: torch.Tensor  # (N, C, 2, H, W), |q_unit_ij| <= 1


def tv_pdhg(
    op: LinearOperator,
    y: torch.Tensor,
    lam: float,
    iterations: int = 300,
    tol: float = 1e-4,
    x0: torch.Tensor | None = None,
    op_norm: float | None = None,
    callback: Callback | None = None,
    generator: torch.Generator | None = None,
    step_ratio: float = 1.0,
    state: PDHGState | None = None,
    return_state: bool = False,
    precondition: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, PDHGState]:
    """``argmin_x 1/2 ||A x - y||^2 + lam TV(x)`` by Chambolle-Pock, (TV2)-(TV5).

    ``op_norm`` (``||A||``) is estimated by power iteration when not given. Starts from ``state`` (a warm start:
    the iterates of a solve at another weight), else from ``x0`` or the operator's naive reconstruction.
    ``step_ratio`` is ``tau / sigma`` (see the module notes). With ``return_state`` returns ``(x, state)``.
    ``precondition``: the diagonal steps (TV6), for operators with nonnegative entries only (``op_norm`` is then
    not used, and a warm ``state`` must come from a preconditioned solve too).
    """
    _check_iterations(iterations, tol)
    if not lam >= 0:
        raise ValueError(f"lambda {lam} must be >= 0.")
    if not step_ratio > 0:
        raise ValueError(f"step_ratio {step_ratio} must be > 0 (tau / sigma; 1 is the symmetric choice).")
    x = (state.x if state is not None else op.naive(y) if x0 is None else x0).clone()
    if precondition:
        a, (tau, sigma, sigma_q) = 1.0, _diagonal_steps(op, x, y, step_ratio)
    else:
        a = _unit_scale(op, x, op_norm, generator)
        # rescale: 1/2||Ax - y||^2 + lam TV = a^2 (1/2||(A/a)x - y/a||^2 + lam/a^2 TV) with a = ||A||
        k_norm = math.sqrt(1.0 + 8.0)  # ||(A/a, D)|| <= sqrt(1 + ||D||^2), ||D||^2 <= 8
        tau = 0.99 * math.sqrt(step_ratio) / k_norm  # tau sigma < 1/||K||^2
        sigma = sigma_q = 0.99 / (math.sqrt(step_ratio) * k_norm)
    y_s, lam_s = y / a, lam / (a * a)
    p = torch.zeros_like(y) if state is None else state.p.clone()  # dual of the data block
    q = x.new_zeros(x.shape[:2] + (2,) + x.shape[2:])  # dual of the gradient block, (N, C, 2, H, W)
    if state is not None:
        q = state.q_unit * lam_s  # the dual at the new weight: the same unit field, rescaled
    x_bar = x.clone()
    with flush_denormals():  # repeated blurring drives high frequencies into slow denormal floats
        for k in range(1, iterations + 1):
            p = (p + sigma * (op.A(x_bar) / a - y_s)) / (1.0 + sigma)  # (TV2)
            q = _project(q + sigma_q * grad(x_bar), lam_s) if lam_s > 0 else q  # (TV3)
            x_next = x - tau * (op.A_adjoint(p) / a + grad_adjoint(q))  # (TV4)
            x_bar = 2.0 * x_next - x  # (TV5)
            change = relative_change(x_next, x)
            x = x_next
            if callback is not None and callback(k, x):
                break
            if change < tol:
                break
    if return_state:
        return x, PDHGState(x, p, q / lam_s if lam_s > 0 else q)
    return x


def _unit_scale(op: LinearOperator, x: torch.Tensor, op_norm: float | None, generator) -> float:
    """``||A||`` (given, or by power iteration), refused when 0."""
    if op_norm is None:
        op_norm = op.norm(x.shape[-3:] if x.dim() == 3 else (1,) + tuple(x.shape[1:]), iterations=30,
                          generator=generator, dtype=x.dtype)
    if not op_norm > 0:
        raise ValueError("the operator is zero; there is nothing to reconstruct from.")
    return float(op_norm)


def _diagonal_steps(op: LinearOperator, x: torch.Tensor, y: torch.Tensor, step_ratio: float):
    """``(tau, sigma_p, sigma_q)`` of (TV6): tau like x, sigma_p like y (0 on rows of A that are all zero: those
    duals never move), sigma_q a number."""
    if not op.nonnegative:
        raise ValueError(f"diagonal preconditioning needs an operator with nonnegative entries; "
                         f"{type(op).__name__} does not say it has them (use precondition=False).")
    rows = op.A(torch.ones_like(x))  # |A| 1 = A 1
    cols = op.A_adjoint(torch.ones_like(y))  # |A|^T 1 = A^T 1
    if not float(rows.max()) > 0:
        raise ValueError("the operator is zero; there is nothing to reconstruct from.")
    root = math.sqrt(step_ratio)
    tau = root / (cols + 4.0)
    sigma = torch.where(rows > 0, 1.0 / (root * rows.clamp(min=torch.finfo(rows.dtype).tiny)), 0.0)
    return tau, sigma, 0.5 / root

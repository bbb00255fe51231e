"""Plug-and-play priors: a trained denoiser in place of the proximal map of a regulariser.

Venkatakrishnan, Bouman & Wohlberg (2013), "Plug-and-play priors for model based reconstruction", GlobalSIP,
observed that in a splitting method for ``min_x f(x) + g(x)`` the regulariser g enters only through
``prox_g``, a denoising step, and replaced it by any denoiser ``D(v, sigma)`` (sigma: the noise level it removes).
With ``f(x) = ||A x - y||^2 / (2 sigma_n^2)`` (Gaussian noise of std sigma_n) three loops here:

- ``hqs`` (half-quadratic splitting, the schedule of Zhang, Li, Zuo, Zhang, Van Gool & Timofte 2021,
  "Plug-and-play image restoration with deep denoiser prior", TPAMI, "DPIR"): for k = 1..K,

      x_k = argmin_x ||A x - y||^2 + alpha_k ||x - z_{k-1}||^2       (the data step (Q1))            (N1)
      z_k = D(x_k, sigma_k)                                                                           (N2)

  with denoiser levels sigma_k falling evenly in log scale from ``sigma_start`` (49/255) to ``sigma_end``
  (the noise level) and ``alpha_k = lam sigma_n^2 / sigma_k^2`` (lam = 0.23 in DPIR): strong denoising first,
  data fidelity at the end. DPIR's lam suits its denoiser, which is told sigma_k (a ``restore train --noise-map``
  network is: measured on twelve photographs, its searched lam was 0.27 for Gaussian deblurring); a blind
  denoiser ignores the schedule, and where the first data steps amplify noise over a broad band (Gaussian
  deblurring) it needs a larger lam (measured on two 240 x 240 photographs, blind DnCNN: 21 dB at 0.23, 28 dB at
  4): search it.
- ``admm`` (Venkatakrishnan et al. 2013), the same schedule with the scaled dual u (rescaled by
  alpha_{k-1} / alpha_k when the weight changes, as the continuation of Chan, Wang & Elgendy 2017, "Plug-and-
  play ADMM for image restoration: fixed-point convergence and applications", IEEE TCI, does):

      x_k = argmin_x ||A x - y||^2 + alpha_k ||x - (z_{k-1} - u_{k-1})||^2                           (N3)
      z_k = D(x_k + u_{k-1}, sigma_k),   u_k = u_{k-1} + x_k - z_k                                    (N4)

- ``pgd`` (plug-and-play proximal gradient): ``z_k = D(z_{k-1} - eta A^T (A z_{k-1} - y), sigma_k)`` with
  ``eta = 1 / ||A||^2`` and the same levels (no data step to solve, more iterations).                 (N5)

A denoiser trained at one noise level serves all sigma_k by scaling its input (Xu, Sun, Liu, Wohlberg &
Kamilov 2020, "Boosting the performance of plug-and-play priors via denoiser scaling"): see
:func:`scaled_denoiser`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from pixelwise.physics import LinearOperator
from pixelwise.solvers.cg import Callback
from pixelwise.solvers.data_step import data_step
from pixelwise.solvers.fill import first_guess
from pixelwise.solvers.landweber import default_step, gradient_step

Denoiser = Callable[[torch.Tensor, float], torch.Tensor]  # D(v, sigma): v (N, C, H, W), sigma in image units
ALGORITHMS = ("hqs", "admm", "pgd")
SIGMA_START = 49 / 255  # DPIR's first denoiser level
SIGMA_FLOOR = 1 / 255  # the last level when the measurement is (nearly) noise-free
DPIR_LAMBDA = 0.23  # DPIR's weight of the prior (deblurring and super-resolution)


def sigma_schedule(start: float, end: float, iterations: int) -> list[float]:
    """``iterations`` denoiser levels evenly spaced in log scale from ``start`` to ``end`` (DPIR)."""
    if not 0 < end <= start:
        raise ValueError(f"the denoiser levels need 0 < end ({end}) <= start ({start}).")
    if iterations == 1:
        return [end]
    ratio = math.log(end / start) / (iterations - 1)
    return [start * math.exp(k * ratio) for k in range(iterations)]


def scaled_denoiser(net: Callable[..., torch.Tensor], trained: tuple[float, float], told: bool = False) -> Denoiser:
    """``D(v, sigma)`` from a network trained at noise levels ``trained = (low, high)`` (one level:
    ``low == high``; a blind net or one told the level: its range), in image units.

    ``net(v)``, or with ``told`` ``net(v, level)`` (a network with a noise-level map, FFDNet / DRUNet, which
    DPIR's schedule of levels is made for). Inside the range the net is used as it is, told ``sigma``; outside
    it, the input is scaled by ``s`` so that its noise falls at the nearest end of the range,
    ``D(v, sigma) = net(s v) / s`` with ``s = end / sigma`` (Xu et al. 2020: ``s v`` carries noise of std
    ``s sigma``), and a told net is told that end. The net runs in float32 without gradients."""
    low, high = float(trained[0]), float(trained[1])
    if not 0 <= low <= high or high == 0:
        raise ValueError(f"the trained noise levels ({low}, {high}) must satisfy 0 <= low <= high, high > 0.")

    @torch.no_grad()
    def denoise(v: torch.Tensor, sigma: float) -> torch.Tensor:
        if not sigma > 0:
            raise ValueError(f"the denoiser's noise level {sigma} must be > 0.")
        level = min(max(sigma, low), high)
        s = level / sigma
        out = net((s * v).float(), level) if told else net((s * v).float())
        return (out / s).to(v.dtype)

    return denoise


def _weights(sigma_n: float, lam: float, levels: list[float]) -> list[float]:
    """``alpha_k = lam sigma_n^2 / sigma_k^2`` (DPIR), with sigma_n floored at :data:`SIGMA_FLOOR`."""
    noise = max(sigma_n, SIGMA_FLOOR)
    return [lam * noise**2 / s**2 for s in levels]


def pnp(op: LinearOperator, y: torch.Tensor, denoiser: Denoiser, sigma_n: float, lam: float = DPIR_LAMBDA,
        iterations: int = 8, algorithm: str = "hqs", sigma_start: float = SIGMA_START, sigma_end: float | None = None,
        x0: torch.Tensor | None = None, callback: Callback | None = None,
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Plug-and-play restoration of ``y`` (noise std ``sigma_n``, image units) by (N1)-(N2), (N3)-(N4) or (N5).

    ``sigma_end`` defaults to ``max(sigma_n, 1/255)``; starts from ``x0`` (default:
    :func:`~pixelwise.solvers.fill.first_guess`, the naive reconstruction or inpainting's fill).
    Returns the last denoised iterate z_K. ``callback(k, z_k)`` runs after each iteration (True stops)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown plug-and-play algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}.")
    if not lam > 0:
        raise ValueError(f"lambda {lam} must be > 0 (DPIR uses 0.23).")
    if int(iterations) != iterations or iterations < 1:
        raise ValueError(f"iterations {iterations} must be a whole number >= 1.")
    levels = sigma_schedule(sigma_start, max(sigma_n, SIGMA_FLOOR) if sigma_end is None else sigma_end, iterations)
    alphas = _weights(sigma_n, lam, levels)
    z = (first_guess(op, y) if x0 is None else x0).clone()
    u = torch.zeros_like(z)
    step = default_step(op, z.shape, generator, z.dtype) if algorithm == "pgd" else None
    for k, (sigma_k, alpha_k) in enumerate(zip(levels, alphas), start=1):
        if algorithm == "hqs":
            x = data_step(op, y, z, alpha_k)  # (N1)
            z = denoiser(x, sigma_k)  # (N2)
        elif algorithm == "admm":
            x = data_step(op, y, z - u, alpha_k)  # (N3)
            z = denoiser(x + u, sigma_k)  # (N4)
            u = u + x - z
            if k < iterations:
                u = u * (alpha_k / alphas[k])  # the scaled dual of the next weight
        else:
            z = denoiser(gradient_step(op, z, y, step), sigma_k)  # (N5)
        if callback is not None and callback(k, z):
            break
    return z

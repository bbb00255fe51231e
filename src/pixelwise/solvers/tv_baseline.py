"""Total variation solved to convergence, as the classical baseline beside a learned reconstruction.

``argmin_x 1/2 ||A x - y||^2 + lam TV(x)`` by FGP for denoising (Beck and Teboulle 2009) and Chambolle-Pock
otherwise (Chambolle and Pock 2011), run until the relative change of the iterate falls below a tolerance, with
measurements of one operator solved as one batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pixelwise.physics import Identity, LinearOperator, Radon
from pixelwise.solvers.tv import tv_denoise, tv_pdhg

# Chambolle-Pock's tau / sigma (the minimiser is the same; see pixelwise.solvers.tv): 100 reached a relative
# change of 1e-6 2 to 6 times sooner than 1 on 64 x 64 CT (30 views), MRI (4x), deblurring and x3
# super-resolution; inpainting (half the pixels) took about twice as long as with 1
TV_STEP_RATIO = 100.0
# Default tolerances on the relative change of the iterate, by solver. FGP (denoising, change relative to
# ||y||): 1e-4 and 1e-6 gave the same PSNR to 0.002 dB on a 321 x 481 photograph at sigma 25. Chambolle-Pock
# (change relative to ||x||, a slow tail), four 64 x 64 phantoms at the searched lambda: CT with 30 views stopped
# at 1e-6 after 3580 iterations with 53.51 dB, at 1e-7 after 5026 with 53.77 dB, and 20000 iterations gave
# 53.81 dB; MRI at 4x gave 38.61 dB at either tolerance (487 and 1058 iterations).
TV_TOL = {"fgp": 1e-4, "pdhg": 1e-7}


def tv_solver(op: LinearOperator) -> str:
    """"fgp" (denoising) or "pdhg" (every other operator)."""
    return "fgp" if isinstance(op, Identity) else "pdhg"


def tv_operators(ops: Sequence[LinearOperator]) -> dict[int, LinearOperator]:
    """``id(op) -> the operator TV iterates with``: for CT the explicit sparse matrix (``Radon(sparse=True)``,
    the same map, several times faster) when it holds at most about 8 million entries, else ``op`` itself."""
    out: dict[int, LinearOperator] = {}
    for op in ops:
        if id(op) not in out:
            small = isinstance(op, Radon) and op.angles.numel() * op.detectors * op.samples <= 2_000_000
            out[id(op)] = Radon(op.size, op.angles, op.detectors, sparse=True) if small else op
    return out


def tv_baseline(op: LinearOperator, y: torch.Tensor, lam: float, iterations: int, tol: float | None = None
                ) -> tuple[torch.Tensor, int]:
    """TV of one measurement (batch) to convergence: below ``tol`` (None: :data:`TV_TOL` of the solver) or after
    ``iterations``. Returns the image and the iterations run (equal to ``iterations``: stopped by the cap)."""
    used = [0]

    def count(k: int, _x: torch.Tensor) -> None:
        used[0] = k

    solver = tv_solver(op)
    tol = TV_TOL[solver] if tol is None else tol
    if solver == "fgp":
        x = tv_denoise(y, lam, iterations, tol, callback=count)
    else:
        x = tv_pdhg(op, y, lam, iterations, tol, callback=count, generator=torch.Generator().manual_seed(0),
                    step_ratio=TV_STEP_RATIO)
    return x, used[0]


def tv_reconstructions(measurements: Sequence[tuple[torch.Tensor, LinearOperator]], lam: float, iterations: int,
                       tol: float | None = None) -> tuple[list[torch.Tensor], list[int]]:
    """:func:`tv_baseline` of each ``(y, op)``. Measurements with the same operator object and shape are solved
    as one batch (one operator call serves them all), so they stop together, when the relative change of the
    batch falls below ``tol``. Returns the images and the iterations each ran."""
    groups: dict[tuple, list[int]] = {}
    for i, (y, op) in enumerate(measurements):
        groups.setdefault((id(op), tuple(y.shape[1:])), []).append(i)
    images: list = [None] * len(measurements)
    used = [0] * len(measurements)
    for members in groups.values():
        op = measurements[members[0]][1]
        x, k = tv_baseline(op, torch.cat([measurements[i][0] for i in members]).double(), lam, iterations, tol)
        for j, i in enumerate(members):
            images[i], used[i] = x[j:j + 1], k
    return images, used

"""The classical reconstruction methods by name, their default weights and iteration counts, and one call that
runs any of them: what ``solve`` offers and what ``restore`` compares its networks with.

Default weights are heuristics found on the bundled photographs (see tests/test_solvers.py; use a search for a
better one): TV-type methods lambda = factor * sigma (linear in the noise level, as the TV weight scales),
Tikhonov with the gradient penalty lambda = factor * sigma^2 (a ratio of noise to signal variance); sigma in
measurement units, floored at 0.005 so that noise-free problems keep a little regularisation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pixelwise.errors import PixelwiseError
from pixelwise.physics import Identity, LinearOperator
from pixelwise.solvers.cg import least_squares_cg
from pixelwise.solvers.proximal_gradient import proximal_gradient, tv_prox
from pixelwise.solvers.tikhonov import tikhonov
from pixelwise.solvers.tv import tv_denoise, tv_pdhg

METHOD_NAMES = ("adjoint", "cg", "tikhonov", "tv", "pgd")
DEFAULT_ITERATIONS = {"adjoint": 0, "cg": 10, "tikhonov": 50, "tv": 200, "pgd": 50}
TV_FACTOR = {"denoise": 1.0, "blur": 0.3, "downsample": 0.3, "inpaint": 3.0, "mri": 3.0, "ct": 3.0}
TIKHONOV_FACTOR = {"denoise": 30.0, "blur": 100.0, "downsample": 100.0, "inpaint": 100.0, "mri": 100.0, "ct": 10.0}


def default_lambda(operator: str, method: str, sigma: float) -> float | None:
    """The default weight of ``method`` for the named ``operator`` at noise ``sigma`` (measurement units);
    None for the methods without one (adjoint, cg)."""
    if method in ("adjoint", "cg"):
        return None
    if method == "tikhonov":
        return TIKHONOV_FACTOR[operator] * max(sigma, 0.005) ** 2
    return TV_FACTOR[operator] * max(sigma, 0.005)


def reconstruct(op: LinearOperator, y: torch.Tensor, method: str, lam: float | None, iterations: int,
                callback: Callable | None = None) -> torch.Tensor:
    """One reconstruction by ``method`` (see :data:`METHOD_NAMES`); ``adjoint`` is the operator's naive inverse
    (A^T y, zero-filled, bicubic or FBP)."""
    if method == "adjoint":
        return op.naive(y)
    if method == "cg":
        return least_squares_cg(op, y, iterations=iterations, callback=callback)
    if method == "tikhonov":
        return tikhonov(op, y, lam, "gradient", iterations=iterations, callback=callback)
    if method == "tv":
        if isinstance(op, Identity):
            return tv_denoise(y, lam, iterations=iterations, callback=callback)
        return tv_pdhg(op, y, lam, iterations=iterations, callback=callback)
    if method == "pgd":
        return proximal_gradient(op, y, tv_prox(lam, clip=(0.0, 1.0)), iterations=iterations, callback=callback)
    raise PixelwiseError(f"unknown method {method!r}; choose one of {', '.join(METHOD_NAMES)}.")

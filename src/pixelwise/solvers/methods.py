"""The classical reconstruction methods by name, their default weights and iteration counts, and one call that
runs any of them: what ``solve`` offers and what ``restore`` compares its networks with.

Default weights are heuristics found on the bundled photographs (see tests/test_solvers.py; use a search for a
better one): TV-type methods lambda = factor * sigma (linear in the noise level, as the TV weight scales),
Tikhonov with the gradient penalty lambda = factor * sigma^2 (a ratio of noise to signal variance), l1-wavelet
lambda = factor * sigma (a soft threshold in the units of the noise); sigma in measurement units, floored at 0.005
so that noise-free problems keep a little regularisation.

TV (``tv``) is Chambolle-Pock with tau / sigma = :data:`~pixelwise.solvers.tv_baseline.TV_STEP_RATIO` (FGP for
denoising; for CT the diagonally preconditioned steps with :data:`PRECONDITIONED_STEP_RATIO`), stopped at a
relative change of :data:`TV_SOLVE_TOL` or after the iterations given, from the naive reconstruction, with the
sparse CT matrix where it fits (:func:`~pixelwise.solvers.tv_baseline.tv_operators`).
:func:`path_solver` is the same solver started along a path of weights, for :mod:`~.lambda_path` searches.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from pixelwise.errors import PixelwiseError
from pixelwise.physics import Identity, LinearOperator
from pixelwise.solvers.cg import least_squares_cg
from pixelwise.solvers.proximal_gradient import proximal_gradient, tv_prox
from pixelwise.solvers.tikhonov import tikhonov
from pixelwise.solvers.tv import PDHGState, tv_denoise, tv_pdhg
from pixelwise.solvers.tv_baseline import TV_STEP_RATIO
from pixelwise.solvers.wavelet import DEFAULT_WAVELET, l1_wavelet

METHOD_NAMES = ("adjoint", "cg", "tikhonov", "tv", "pgd", "wavelet")
DEFAULT_ITERATIONS = {"adjoint": 0, "cg": 10, "tikhonov": 50, "tv": 200, "pgd": 50, "wavelet": 100}
# CT's TV weight: 3 sigma left TV under-regularised: on two photographs at 128 and 192 pixels with 30, 60 and 120
# views (noise 2 grey levels, 2026-12-06) the searched weight was 2.5 to 32 times it (median 5.6), and 15 sigma
# gave +1.2 to +3.2 dB over 3 sigma in all twelve cases (Shepp-Logan at 128: +5.7 to +14.9 dB). The best weight
# grows with the image side N and falls with the views V (camera at 256 x 256, 60 views: searched 1.25 = 160 sigma),
# which one factor cannot follow: use --lambda auto for CT (13 s at 256 x 256)
TV_FACTOR = {"denoise": 1.0, "blur": 0.3, "downsample": 0.3, "inpaint": 3.0, "mri": 3.0, "ct": 15.0}
TIKHONOV_FACTOR = {"denoise": 30.0, "blur": 100.0, "downsample": 100.0, "inpaint": 100.0, "mri": 100.0, "ct": 10.0}
WAVELET_FACTOR = {"denoise": 1.5, "blur": 0.3, "downsample": 0.3, "inpaint": 1.0, "mri": 1.0, "ct": 3.0}
TV_SOLVE_TOL = 1e-5  # the final TV solve (Chambolle-Pock): relative change of the iterate
# tau / sigma of the diagonally preconditioned Chambolle-Pock (operators with nonnegative entries: CT). On 60-view
# CT of a photograph (lambda near its searched value) 0.03 to 0.1 reached the converged PSNR in 100 to 200
# iterations (128 x 128 and 256 x 256), 1 in about twice as many; the scalar steps with TV_STEP_RATIO had not
# reached it after 400 (256 x 256: 26.7 dB after 400 against 27.5)
PRECONDITIONED_STEP_RATIO = 0.05


def default_lambda(operator: str, method: str, sigma: float) -> float | None:
    """The default weight of ``method`` for the named ``operator`` at noise ``sigma`` (measurement units);
    None for the methods without one (adjoint, cg)."""
    if method in ("adjoint", "cg"):
        return None
    if method == "tikhonov":
        return TIKHONOV_FACTOR[operator] * max(sigma, 0.005) ** 2
    if method == "wavelet":
        return WAVELET_FACTOR[operator] * max(sigma, 0.005)
    return TV_FACTOR[operator] * max(sigma, 0.005)


def reconstruct(op: LinearOperator, y: torch.Tensor, method: str, lam: float | None, iterations: int,
                callback: Callable | None = None, wavelet: str = DEFAULT_WAVELET, levels: int | None = None,
                op_norm: float | None = None) -> torch.Tensor:
    """One reconstruction by ``method`` (see :data:`METHOD_NAMES`); ``adjoint`` is the operator's naive inverse
    (A^T y, zero-filled, bicubic or FBP). ``wavelet`` and ``levels`` are the l1-wavelet method's transform (levels:
    default by the image size); ``op_norm`` is ``||A||`` when known (TV)."""
    if method not in METHOD_NAMES:
        raise PixelwiseError(f"unknown method {method!r}; choose one of {', '.join(METHOD_NAMES)}.")
    solve = path_solver(op, y, method, iterations, callback=callback, wavelet=wavelet, levels=levels,
                        op_norm=op_norm)
    return solve(lam, None)[0]


def path_solver(op: LinearOperator, y: torch.Tensor, method: str, iterations: int, tol: float | None = None,
                callback: Callable | None = None, wavelet: str = DEFAULT_WAVELET, levels: int | None = None,
                op_norm: float | None = None) -> Callable[[float, object | None], tuple[torch.Tensor, object]]:
    """``solve(lam, start) -> (image, state)``: ``method`` at weight ``lam``, from ``start`` (the state another
    solve returned: a warm start; None: from the naive reconstruction). ``tol`` overrides the stopping tolerance
    of the iterative methods (None: each method's own).

    Only what cannot bias a comparison of weights is carried over: the converged CG solutions of ``cg`` and
    ``tikhonov``, and the dual iterates of ``tv``, whose image starts from the naive reconstruction every time;
    ``pgd`` and ``wavelet`` start from it too. A solve stopped by its iteration cap depends on its start: an image
    warm-started from a neighbouring weight's (inpainting: its holes already filled) scores far better than the
    final solve from the naive reconstruction will, and a search would pick a weight that only looks good warm
    (measured: 50% inpainting of a photograph, searched 2.9e-4 with 28.6 dB warm, 14.6 dB from the start)."""
    if method == "adjoint":
        return lambda lam, start: (op.naive(y), None)
    if method == "cg":
        return lambda lam, start: (least_squares_cg(op, y, iterations=iterations, x0=start, callback=callback),) * 2
    if method == "tikhonov":
        return lambda lam, start: (tikhonov(op, y, lam, "gradient", iterations=iterations, tol=tol or 1e-6,
                                            x0=start, callback=callback),) * 2
    if method == "pgd":
        return lambda lam, start: (proximal_gradient(op, y, tv_prox(lam, clip=(0.0, 1.0)), iterations=iterations,
                                                     tol=tol or 1e-5, callback=callback), None)
    if method == "wavelet":
        return lambda lam, start: (l1_wavelet(op, y, lam, wavelet, levels, iterations, tol or 1e-5,
                                              callback=callback), None)
    if isinstance(op, Identity):  # TV denoising by FGP (its dual is not carried over)
        return lambda lam, start: (tv_denoise(y, lam, iterations=iterations, tol=tol or 1e-4, callback=callback),
                                   None)
    precondition = op.nonnegative  # CT: the diagonal steps, no norm needed
    if op_norm is None and not precondition:
        op_norm = op.norm((1,) + tuple(op.naive(y).shape[1:]), iterations=30,
                          generator=torch.Generator().manual_seed(0), dtype=y.dtype)
    ratio = PRECONDITIONED_STEP_RATIO if precondition else TV_STEP_RATIO
    naive = functools.cache(lambda: op.naive(y))  # computed once, on the first warm start

    def tv(lam: float, start) -> tuple[torch.Tensor, object]:
        if start is not None:  # the duals of the neighbouring weight, the image from the naive reconstruction
            start = PDHGState(naive(), start.p, start.q_unit)
        return tv_pdhg(op, y, lam, iterations, tol or TV_SOLVE_TOL, op_norm=op_norm, callback=callback,
                       step_ratio=ratio, state=start, return_state=True, precondition=precondition)

    return tv

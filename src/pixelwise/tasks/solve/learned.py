"""The learned-prior methods of ``pixelwise solve``: plug-and-play (:func:`pixelwise.solvers.pnp.pnp`), RED
(:func:`pixelwise.solvers.red.red`), CSGM (:func:`pixelwise.solvers.generative.csgm`) and diffusion posterior
sampling (:func:`pixelwise.solvers.dps.dps`), each with its weight and iteration count by default."""

from __future__ import annotations

from collections.abc import Callable

import torch

from pixelwise.physics import LinearOperator
from pixelwise.solvers.dps import DPS_STEP, dps
from pixelwise.solvers.generative import CSGM_LAMBDA, csgm
from pixelwise.solvers.pnp import DPIR_LAMBDA, pnp
from pixelwise.solvers.red import RED_LAMBDA, red
from pixelwise.tasks.solve.priors import PRIOR_OF, Prior

LEARNED_METHODS = tuple(PRIOR_OF)
# the weight of each: DPIR's lambda (Zhang et al. 2021), RED's (Romano et al. 2017, here relative to the denoiser's
# level), Bora et al.'s ||z||^2 weight, and the DPS step zeta' (Chung et al. 2023)
LEARNED_LAMBDA = {"pnp": DPIR_LAMBDA, "red": RED_LAMBDA, "csgm": CSGM_LAMBDA, "dps": DPS_STEP}
# iterations: plug-and-play's denoiser levels (DPIR: 8 for deblurring, 24 and more for super-resolution), RED's
# fixed-point steps, CSGM's Adam steps per restart; DPS runs every step of its DDPM (None)
LEARNED_ITERATIONS = {"pnp": 24, "red": 30, "csgm": 300, "dps": None}
PNP_DEBLUR_ITERATIONS = 8  # DPIR's levels for deblurring (its 24 are for super-resolution)
# plug-and-play's loop and denoiser levels when ``--lambda auto`` searches them with its weight (those the user did not
# fix): DPIR runs 8 levels for deblurring and 24 for super-resolution. Measured with the told U-Net on four 240 x 240
# photographs (four of pnp_priors.py's twelve test ones, 2026-12-06, each at its best of three weights), the gain over
# TV moved by up to 3 dB between loops: Gaussian deblurring 8 levels ADMM +1.4 (24: +0.4 HQS, searched). 40 levels
# were searched too until, on pnp_priors.py's validation photograph (ihc, 240 x 240, 2026-12-06), they scored best for
# none of its six operators (8 won five, 24 MRI, 40 0.03 dB behind there and 0.13 to 2.2 dB elsewhere); they
# cost more than 8 and 24 together, so the menu without them searches in about half the time
PNP_SEARCHED_ALGORITHMS = ("hqs", "admm")
PNP_SEARCHED_ITERATIONS = (8, 24)
PNP_ALGORITHM = "hqs"  # the loop when neither given nor searched (DPIR's)
RED_SIGMA = 5 / 255  # RED's denoiser level (Romano et al. use 3.25 to 5 grey levels)
SEARCHED = ("pnp", "red")  # the learned methods whose weight --lambda auto searches (deterministic ones)


def reconstruct_learned(op: LinearOperator, y: torch.Tensor, method: str, prior: Prior, lam: float,
                        iterations: int | None, sigma_n: float, settings: dict, seed: int,
                        callback: Callable | None = None) -> torch.Tensor:
    """One reconstruction of ``y`` (noise std ``sigma_n`` in measurement units) by a learned-prior ``method``
    with ``prior``; ``settings``: ``pnp_algorithm``, ``restarts`` and the image ``shape`` (1, C, H, W). Random
    draws (CSGM's codes, DPS's noise) come from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    with torch.enable_grad():  # CSGM and DPS differentiate through their networks
        if method == "pnp":
            return pnp(op, y, prior.call, sigma_n, lam, iterations, settings["pnp_algorithm"], callback=callback,
                       generator=generator)
        if method == "red":
            return red(op, y, prior.call, sigma_n, lam, RED_SIGMA, iterations, callback=callback)
        if method == "csgm":
            return csgm(op, y, prior.call, prior.latent_dim, lam, iterations, settings["restarts"], seed=generator,
                        callback=callback)
        return dps(op, y, prior.call, prior.schedule, tuple(settings["shape"]), lam, generator, callback,
                   prior.info.get("clip_x0", 1.0))


def iterations_of(method: str, prior: Prior, given: int | None, operator: str | None = None) -> int:
    """The iterations a learned method runs: ``given``, else its default (DPS: the T steps of its DDPM; PnP: DPIR's
    8 levels for deblurring, ``operator`` "blur", and 24 otherwise)."""
    if method == "dps":
        return prior.schedule.T
    if given is not None:
        return given
    return PNP_DEBLUR_ITERATIONS if method == "pnp" and operator == "blur" else LEARNED_ITERATIONS[method]

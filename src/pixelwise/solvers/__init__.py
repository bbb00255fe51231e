"""Classical reconstruction: plain functions with visible loops, one file per algorithm (layer 1).

Every solver takes the operator, the measurement and its hyper-parameters, accepts ``callback(k, x)``
(return True to stop), and stops by iteration count or tolerance.
"""

from pixelwise.solvers.cg import conjugate_gradient, least_squares_cg
from pixelwise.solvers.lambda_search import GridSearch, LambdaChoice, choose_lambda, log_grid, search_lambda
from pixelwise.solvers.landweber import default_step, gradient_step, landweber
from pixelwise.solvers.methods import DEFAULT_ITERATIONS, METHOD_NAMES, default_lambda, reconstruct
from pixelwise.solvers.proximal_gradient import box_prox, denoiser_prox, proximal_gradient, tv_prox
from pixelwise.solvers.tikhonov import tikhonov
from pixelwise.solvers.tv import tv_denoise, tv_norm, tv_pdhg
from pixelwise.solvers.tv_baseline import TV_STEP_RATIO, TV_TOL, tv_baseline, tv_operators, tv_reconstructions

__all__ = [
    "DEFAULT_ITERATIONS",
    "METHOD_NAMES",
    "TV_STEP_RATIO",
    "TV_TOL",
    "default_lambda",
    "reconstruct",
    "tv_baseline",
    "tv_operators",
    "tv_reconstructions",
    "GridSearch",
    "LambdaChoice",
    "box_prox",
    "choose_lambda",
    "conjugate_gradient",
    "default_step",
    "denoiser_prox",
    "gradient_step",
    "landweber",
    "least_squares_cg",
    "log_grid",
    "proximal_gradient",
    "search_lambda",
    "tikhonov",
    "tv_denoise",
    "tv_norm",
    "tv_pdhg",
    "tv_prox",
]

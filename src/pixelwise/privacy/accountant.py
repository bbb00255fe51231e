"""The privacy of DP-SGD: Renyi differential privacy of the sampled Gaussian mechanism, and its (epsilon, delta).

One DP-SGD step (Abadi et al., "Deep Learning with Differential Privacy", CCS 2016) includes each training
example independently with probability q (Poisson sampling), clips each example's gradient to norm C, sums, and
adds N(0, sigma^2 C^2 I): the sampled Gaussian mechanism with noise multiplier sigma.

Its Renyi DP of order alpha (Mironov, Talwar and Zhang, "Renyi Differential Privacy of the Sampled Gaussian
Mechanism", 2019, Sec. 3.3) is eps(alpha) = log(A_alpha) / (alpha - 1) with

    A_alpha = E_{z ~ N(0, sigma^2)} [ (1 - q + q exp((2 z - 1) / (2 sigma^2)))^alpha ],

the alpha-th moment of the likelihood ratio of mu = (1 - q) N(0, sigma^2) + q N(1, sigma^2) to N(0, sigma^2).
For a whole number alpha the binomial expansion is exact:

    A_alpha = sum_{k=0}^{alpha} C(alpha, k) (1 - q)^(alpha - k) q^k exp((k^2 - k) / (2 sigma^2));

for a fractional alpha this module integrates the expectation numerically (the trapezoid rule on a fine grid,
in log space, which is accurate to many digits for this smooth, Gaussian-tailed integrand). RDP adds up over
steps, and T steps of order alpha give (epsilon, delta)-DP with (Balle et al., "Hypothesis Testing
Interpretations and Renyi Differential Privacy", AISTATS 2020, Theorem 21)

    epsilon = T eps(alpha) + log((alpha - 1) / alpha) - (log delta + log alpha) / (alpha - 1),

minimised over the orders. The orders are those of Opacus's RDP accountant, with which these figures agree
(``tests/test_privacy.py`` checks them against Opacus, installed as a test oracle). The analysis assumes
Poisson sampling: batches drawn with :func:`pixelwise.train.privacy.poisson_batches`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.special import gammaln, logsumexp

from pixelwise.errors import PixelwiseError

# the RDP orders alpha (those of Opacus's RDPAccountant): 1.1, 1.2, ..., 10.9, then 12, 13, ..., 63
ORDERS: tuple[float, ...] = tuple([1 + x / 10.0 for x in range(1, 100)] + [float(a) for a in range(12, 64)])
MIN_NOISE = 0.05  # below this DP-SGD's noise is negligible: searches stop here
MAX_NOISE = 1000.0  # noise multipliers searched by noise_for_epsilon: beyond this the gradients are noise alone


def _log_a_whole(q: float, sigma: float, alpha: int) -> float:
    """log A_alpha by the binomial expansion (whole ``alpha`` >= 1)."""
    k = np.arange(alpha + 1, dtype=np.float64)
    log_binomial = gammaln(alpha + 1) - gammaln(k + 1) - gammaln(alpha - k + 1)
    terms = log_binomial + k * math.log(q) + (alpha - k) * math.log1p(-q) + (k * k - k) / (2 * sigma**2)
    return float(logsumexp(terms))


def _log_a_integral(q: float, sigma: float, alpha: float) -> float:
    """log A_alpha by the trapezoid rule over z (any ``alpha`` > 1).

    The integrand is the N(0, sigma^2) density times (1 - q + q e^t)^alpha, t = (2z - 1) / (2 sigma^2); its mass
    lies between about z = 0 (where the 1 - q term dominates) and z = alpha (where the q e^t term does), with
    Gaussian tails of width sigma; the step resolves both sigma and the transition's width sigma^2 / sqrt(alpha)."""
    lo, hi = -14.0 * sigma, max(alpha, 1.0) + 14.0 * sigma
    h = min(sigma, sigma * sigma / math.sqrt(alpha)) / 12.0
    n = int(min(max((hi - lo) / h, 2000), 4_000_000))
    z = np.linspace(lo, hi, n + 1)
    t = (2 * z - 1) / (2 * sigma**2)
    log_mix = np.logaddexp(math.log1p(-q), math.log(q) + t)  # log(1 - q + q e^t)
    log_f = -z * z / (2 * sigma**2) - math.log(sigma * math.sqrt(2 * math.pi)) + alpha * log_mix
    weights = np.full(n + 1, math.log(z[1] - z[0]))
    weights[[0, -1]] -= math.log(2)  # the trapezoid rule's half weights at the ends
    return float(logsumexp(log_f + weights))


def rdp(q: float, sigma: float, orders: Sequence[float] = ORDERS) -> np.ndarray:
    """Renyi DP eps(alpha) of one step of the sampled Gaussian mechanism at each order (see the module docstring).

    ``q``: the sampling rate in [0, 1]; ``sigma``: the noise multiplier (noise std / clipping norm) >= 0."""
    if not 0 <= q <= 1:
        raise PixelwiseError(f"the sampling rate q={q} must lie in [0, 1].")
    orders = np.asarray(orders, dtype=np.float64)
    if q == 0:
        return np.zeros_like(orders)
    if sigma <= 0:
        return np.full_like(orders, np.inf)
    if q == 1:  # the Gaussian mechanism itself: alpha / (2 sigma^2)
        return orders / (2 * sigma**2)
    out = []
    for alpha in orders:
        whole = float(alpha).is_integer()
        log_a = _log_a_whole(q, sigma, int(alpha)) if whole else _log_a_integral(q, sigma, float(alpha))
        out.append(log_a / (alpha - 1))
    return np.asarray(out)


def epsilon(q: float, sigma: float, steps: int, delta: float, orders: Sequence[float] = ORDERS
            ) -> tuple[float, float]:
    """``(epsilon, best order)`` after ``steps`` steps at sampling rate ``q`` and noise multiplier ``sigma``,
    for ``delta`` (Balle et al. 2020's conversion, minimised over ``orders``); (inf, nan) without noise."""
    if not 0 < delta < 1:
        raise PixelwiseError(f"delta={delta} must lie in (0, 1), e.g. 1e-5.")
    if steps == 0 or q == 0:
        return 0.0, float("nan")
    alphas = np.asarray(orders, dtype=np.float64)
    total = steps * rdp(q, sigma, alphas)
    eps = total + np.log((alphas - 1) / alphas) - (math.log(delta) + np.log(alphas)) / (alphas - 1)
    if not np.isfinite(eps).any():
        return math.inf, float("nan")
    best = int(np.nanargmin(eps))
    return max(float(eps[best]), 0.0), float(alphas[best])


def noise_for_epsilon(target: float, q: float, steps: int, delta: float, orders: Sequence[float] = ORDERS,
                      rtol: float = 1e-4) -> float:
    """The smallest noise multiplier (to relative precision ``rtol``) whose :func:`epsilon` after ``steps`` steps
    at rate ``q`` is at most ``target``; bisection on log sigma, since epsilon falls as sigma grows. A target that
    even ``MAX_NOISE`` cannot reach is refused in one sentence."""
    if not (target > 0 and math.isfinite(target)):
        raise PixelwiseError(f"the privacy target epsilon={target} must be a finite number > 0, e.g. 8.")
    if epsilon(q, MAX_NOISE, steps, delta, orders)[0] > target:
        raise PixelwiseError(f"epsilon={target} cannot be reached in {steps} steps at sampling rate {q:.4g} with "
                             f"delta={delta:g}, even with noise {MAX_NOISE:g}; raise the target epsilon or delta, or "
                             "train fewer epochs or with a smaller batch.")
    lo, hi = MAX_NOISE / 2, MAX_NOISE  # bracket [lo, hi] with epsilon(lo) > target >= epsilon(hi), halving down
    while epsilon(q, lo, steps, delta, orders)[0] <= target:
        if lo < MIN_NOISE:
            return hi
        lo, hi = lo / 2, lo
    while hi / lo > 1 + rtol:
        mid = math.sqrt(lo * hi)
        if epsilon(q, mid, steps, delta, orders)[0] <= target:
            hi = mid
        else:
            lo = mid
    return hi

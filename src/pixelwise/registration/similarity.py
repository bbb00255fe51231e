"""Similarity measures between a fixed image a and a (warped) moving image b, differentiable in torch.

Every measure takes two (N, C, H, W) tensors and returns (N,): one value per pair, over all channels and pixels
(n = C H W values per pair). Lower is better for SSD and SAD, higher for NCC, local NCC and NMI; :func:`loss`
turns any of them into a quantity to minimise, the sum over the pairs (so that N registrations in one batch
are N independent problems: Adam's steps are per parameter).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

EPS = 1e-8


def _pairs(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if a.dim() != 4 or b.dim() != 4:
        raise ValueError(f"similarity measures take (N, C, H, W) images, got {tuple(a.shape)} and {tuple(b.shape)}.")
    a, b = torch.broadcast_tensors(a, b)
    return a.flatten(1), b.flatten(1)  # (N, n)


def ssd(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Sum of squared differences per value: SSD(a, b) = (1/n) sum_i (a_i - b_i)^2 (0 for equal images)."""
    x, y = _pairs(a, b)
    return (x - y).pow(2).mean(1)


def sad(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Sum of absolute differences per value: SAD(a, b) = (1/n) sum_i |a_i - b_i| (robust to outliers)."""
    x, y = _pairs(a, b)
    return (x - y).abs().mean(1)


def ncc(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Normalised cross-correlation, Pearson's r of the values:
    NCC(a, b) = sum_i (a_i - mean a)(b_i - mean b) / sqrt(sum_i (a_i - mean a)^2 sum_i (b_i - mean b)^2 + eps),
    in [-1, 1]; 1 for b = alpha a + beta with alpha > 0 (invariant to gain and offset), -1 for alpha < 0."""
    x, y = _pairs(a, b)
    x, y = x - x.mean(1, keepdim=True), y - y.mean(1, keepdim=True)
    return (x * y).sum(1) / torch.sqrt(x.pow(2).sum(1) * y.pow(2).sum(1) + EPS)


def local_ncc(a: torch.Tensor, b: torch.Tensor, window: int = 9) -> torch.Tensor:
    """Local NCC: the NCC of each w x w window (box, centred; cropped at the borders), averaged over pixels and
    channels: LNCC = mean_x cov_w(a, b)(x) / sqrt(var_w(a)(x) var_w(b)(x) + eps), with
    cov_w(a, b) = mean_w(a b) - mean_w(a) mean_w(b). Insensitive to slowly varying gain and offset (the
    similarity of Avants et al. 2008, unsquared, so that inverted contrast scores -1)."""
    if a.dim() != 4 or b.dim() != 4:
        raise ValueError(f"local_ncc takes (N, C, H, W) images, got {tuple(a.shape)} and {tuple(b.shape)}.")
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window={window} must be an odd whole number >= 1, e.g. 9.")
    a, b = torch.broadcast_tensors(a, b)

    def mean(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(t, window, stride=1, padding=window // 2, count_include_pad=False)

    ma, mb = mean(a), mean(b)
    cov = mean(a * b) - ma * mb
    va, vb = (mean(a * a) - ma * ma).clamp(min=0), (mean(b * b) - mb * mb).clamp(min=0)
    return (cov / torch.sqrt(va * vb + EPS)).flatten(1).mean(1)


def bspline(t: torch.Tensor, order: int) -> torch.Tensor:
    """The centred B-spline of order 1 (the triangle max(0, 1 - |t|)) or 3 (2/3 - t^2 + |t|^3 / 2 for |t| < 1,
    (2 - |t|)^3 / 6 for 1 <= |t| < 2, else 0); each sums to 1 over the integers (a partition of unity)."""
    a = t.abs()
    if order == 1:
        return (1 - a).clamp(min=0)
    if order == 3:
        return torch.where(a < 1, 2 / 3 - a * a + a.pow(3) / 2, (2 - a).clamp(min=0).pow(3) / 6)
    raise ValueError(f"B-spline order {order} is not 1 or 3.")


def parzen_bins(x: torch.Tensor, bins: int, order: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Parzen windows of values x (N, n) in [0, 1] over ``bins`` bins of centres c_k = k / (bins - 1) (0 and 1 at
    the centres of the first and last bins): the (N, n, order + 1) bins each value touches and its weights
    beta((bins - 1) x - k) there (Mattes et al. 2003 use order 3); indices are shifted by the padding
    (order + 1) // 2, so the histogram has bins + 2 pad bins."""
    pad = (order + 1) // 2
    pos = x * (bins - 1)  # the value in bin units: bin k's centre is at k
    first = torch.floor(pos).long() - (order - 1) // 2  # (N, n), the lowest bin touched
    offsets = torch.arange(order + 1, device=x.device)
    index = first[..., None] + offsets  # (N, n, order + 1)
    weight = bspline(pos[..., None] - index.to(pos.dtype), order)
    return index + pad, weight, bins + 2 * pad


def _unit_range(x: torch.Tensor) -> torch.Tensor:
    """Each pair's values scaled to [0, 1] by its own minimum and maximum (taken as constants: no gradient)."""
    low, high = x.detach().min(1, keepdim=True).values, x.detach().max(1, keepdim=True).values
    return (x - low) / (high - low).clamp(min=1e-12)


def joint_histogram(a: torch.Tensor, b: torch.Tensor, bins: int = 32, order: int = 3) -> torch.Tensor:
    """(N, B, B) joint probability p(k, l) = (1/n) sum_i beta(a_i - k) beta(b_i - l) of B-spline Parzen windows
    (:func:`parzen_bins`; B = bins plus the padding), each image scaled to [0, 1] by its own range. Differentiable
    in both images through the window weights; each value adds exactly 1 to the histogram."""
    x, y = _pairs(a, b)
    ia, wa, size = parzen_bins(_unit_range(x), bins, order)
    ib, wb, _ = parzen_bins(_unit_range(y), bins, order)
    index = (ia[..., :, None] * size + ib[..., None, :]).flatten(1)  # (N, n (order+1)^2)
    weight = (wa[..., :, None] * wb[..., None, :]).flatten(1)
    joint = torch.zeros(x.shape[0], size * size, dtype=x.dtype, device=x.device).scatter_add(1, index, weight)
    return joint.view(-1, size, size) / x.shape[1]


def entropy(p: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """H(p) = -sum p log p over ``dims`` (0 log 0 = 0)."""
    return -(p * torch.log(p.clamp(min=1e-30))).sum(dims)


def nmi(a: torch.Tensor, b: torch.Tensor, bins: int = 32, order: int = 3) -> torch.Tensor:
    """Normalised mutual information (Studholme, Hill and Hawkes 1999): NMI = (H(A) + H(B)) / H(A, B), in [1, 2];
    1 for independent intensities, 2 when each determines the other (with a hard histogram). Entropies of the
    B-spline Parzen-window joint histogram (:func:`joint_histogram`), differentiable in both images. Unlike NCC it
    needs no linear relation between the intensities (multi-modal registration)."""
    p = joint_histogram(a, b, bins, order)
    h_ab = entropy(p, (1, 2))
    h_a, h_b = entropy(p.sum(2), (1,)), entropy(p.sum(1), (1,))
    return (h_a + h_b) / h_ab.clamp(min=1e-12)


# name -> (measure, +1 if higher is better, -1 if lower is better)
MEASURES: dict[str, tuple[Callable[..., torch.Tensor], int]] = {
    "ssd": (ssd, -1), "sad": (sad, -1), "ncc": (ncc, 1), "lncc": (local_ncc, 1), "nmi": (nmi, 1),
}


def measure(name: str) -> Callable[..., torch.Tensor]:
    """The similarity measure called ``name`` (one of :data:`MEASURES`)."""
    try:
        return MEASURES[name][0]
    except KeyError:
        raise ValueError(f"similarity {name!r} is not known; use one of {', '.join(MEASURES)}.") from None


def loss(name: str, a: torch.Tensor, b: torch.Tensor, **options) -> torch.Tensor:
    """(N,) per-pair losses to minimise: the measure for SSD and SAD, minus it for NCC, local NCC and NMI."""
    fn, sign = MEASURES[name] if name in MEASURES else (measure(name), 1)
    return -sign * fn(a, b, **options)

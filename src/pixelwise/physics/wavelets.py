"""Orthogonal wavelet transforms (Haar and Daubechies), multi-level and 2-D, as a linear operator.

Filters. Daubechies' wavelet with ``p`` vanishing moments ("db p", length 2p; db1 is Haar) has the low-pass
filter ``m0(xi) = ((1 + e^{-i xi}) / 2)^p L(xi)`` with ``|L(xi)|^2 = P(sin^2(xi / 2))`` and

    P(y) = sum_{k=0}^{p-1} C(p - 1 + k, k) y^k                                            (W1)

(Daubechies 1988, "Orthonormal bases of compactly supported wavelets", CPAM 41; "Ten Lectures on Wavelets",
1992, ch. 6). Each root ``y_k`` of P gives the pair ``z, 1/z`` of ``z^2 - (2 - 4 y_k) z + 1 = 0``
(``y = (2 - z - 1/z) / 4`` on the unit circle); keeping the root inside the unit circle (the extremal-phase
choice) the analysis low-pass filter is the coefficients, in increasing powers of z, of

    h(z) ~ (1 + z)^p prod_k (z - z_k),   normalised to sum_j h_j = sqrt(2),               (W2)

and the high-pass filter is ``g_j = (-1)^{j+1} h_{L-1-j}`` (the quadrature mirror). These are PyWavelets'
``dec_lo`` and ``dec_hi`` (checked in the tests).

One level along an axis of even length n, with periodic extension (PyWavelets' "periodization" mode):

    a_k = sum_j h_j x_{(2k + L/2 - j) mod n},   d_k = sum_j g_j x_{(2k + L/2 - j) mod n}     (W3)

for k = 0..n/2 - 1: an orthogonal map of R^n (its adjoint is its inverse). A 2-D level applies (W3) along the
columns and then along the rows; ``levels`` levels repeat it on the approximation block. The coefficients are
laid out as PyWavelets' ``coeffs_to_array`` does: the coarsest approximation at the top left, then for each
level (coarse to fine) the detail along the columns at the top right, along the rows at the bottom left, and
along both at the bottom right.

Sizes. An image whose sides are not multiples of ``2^levels`` is first zero-padded at the bottom and right to
the next multiple, so that A maps (N, C, H, W) to (N, C, H', W'), ``A^T A = I`` always (A is an isometry), and
``A A^T = I`` when nothing is padded (A is then orthogonal). The deepest useful level follows PyWavelets'
``dwt_max_level``: ``floor(log2(min(H, W) / (L - 1)))``; deeper levels are refused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from pixelwise.errors import PixelwiseError
from pixelwise.physics.base import LinearOperator, check_image

MAX_ORDER = 10  # db1 ... db10; the polynomial roots of (W1) stay accurate to ~1e-12 this far
WAVELET_NAMES = ("haar",) + tuple(f"db{p}" for p in range(1, MAX_ORDER + 1))


def daubechies_filter(order: int) -> torch.Tensor:
    """The analysis low-pass filter of db``order`` (length 2 ``order``, float64), by (W1)-(W2)."""
    if isinstance(order, bool) or int(order) != order or not 1 <= order <= MAX_ORDER:
        raise PixelwiseError(f"Daubechies order {order} must be a whole number in 1..{MAX_ORDER} (db1 is Haar).")
    p = int(order)
    poly = [math.comb(p - 1 + k, k) for k in range(p)]  # P(y) of (W1), increasing powers
    y_roots = np.roots(poly[::-1]) if p > 1 else np.array([])  # np.roots wants decreasing powers
    factors = np.array([1.0 + 0j])
    for y in y_roots:
        z = np.roots([1.0, -(2.0 - 4.0 * y), 1.0])  # the pair z, 1/z of this root
        factors = np.convolve(factors, [-z[np.argmin(np.abs(z))], 1.0])  # (z - z_k), increasing powers
    for _ in range(p):
        factors = np.convolve(factors, [1.0, 1.0])  # (1 + z)^p
    h = factors.real
    return torch.from_numpy(h * (math.sqrt(2.0) / h.sum()))  # (W2)


def wavelet_filters(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(h, g)``: the analysis low- and high-pass filters of ``name`` ("haar", "db1" ... "db10")."""
    if name not in WAVELET_NAMES:
        raise PixelwiseError(f"wavelet {name!r} is not known; use one of {', '.join(WAVELET_NAMES)}.")
    h = daubechies_filter(1 if name == "haar" else int(name[2:]))
    n = h.numel()
    signs = torch.tensor([(-1.0) ** (j + 1) for j in range(n)], dtype=torch.float64)
    return h, signs * h.flip(0)  # g_j = (-1)^{j+1} h_{L-1-j}


def max_level(size: Sequence[int], name: str) -> int:
    """The deepest level of ``name`` for an image of ``size`` (H, W): PyWavelets' ``dwt_max_level`` rule,
    ``floor(log2(min(H, W) / (L - 1)))`` (Haar: ``floor(log2(min(H, W)))``), at least 0."""
    taps = wavelet_filters(name)[0].numel()
    side = min(int(size[-2]), int(size[-1]))
    return max(0, int(math.floor(math.log2(side / max(taps - 1, 1))))) if side >= 1 else 0


class Wavelet(LinearOperator):
    """The multi-level 2-D orthogonal wavelet transform, (W3) per level: ``(N, C, H, W) -> (N, C, H', W')``
    coefficients.

    Without ``size``, H and W must be multiples of ``2^levels`` and ``H' = H``, ``W' = W``: A is orthogonal and
    ``A_adjoint`` is the inverse transform. With ``size = (H, W)`` the operator is built for images of that size:
    they are zero-padded to ``H'``, ``W'`` (the next multiples of ``2^levels``) and ``A_adjoint`` synthesises and
    crops back (``A^T A = I``; see the module notes). ``normal`` is the identity. :meth:`detail_mask` marks the
    coefficients an l1 prior penalises (all but the coarsest approximation)."""

    def __init__(self, wavelet: str = "db4", levels: int = 3, size: Sequence[int] | None = None, noise=None):
        super().__init__(noise)
        self.h, self.g = wavelet_filters(wavelet)
        if isinstance(levels, bool) or int(levels) != levels or levels < 1:
            raise PixelwiseError(f"wavelet levels={levels} must be a whole number >= 1.")
        self.name, self.levels = wavelet, int(levels)
        self.size = None if size is None else (int(size[-2]), int(size[-1]))
        if self.size is not None:
            self.padded_size(self.size)  # refuses a level too deep now
        self._weights: dict = {}

    def padded_size(self, size: Sequence[int]) -> tuple[int, int]:
        """(H', W'): ``size`` rounded up to multiples of ``2^levels``; refuses a level too deep for ``size``."""
        h, w = int(size[-2]), int(size[-1])
        deepest = max_level((h, w), self.name)
        if self.levels > deepest:
            raise PixelwiseError(f"{self.levels} levels of {self.name} are too deep for a {h}x{w} image (at most "
                                 f"{deepest}: floor(log2(min side / (filter length - 1)))); use fewer levels.")
        step = 2**self.levels
        return -(-h // step) * step, -(-w // step) * step

    def _filters(self, x: torch.Tensor) -> torch.Tensor:
        """(2, 1, 1, L): the reversed filters (conv2d correlates), cast to x's dtype and device once."""
        key = (x.dtype, x.device)
        if key not in self._weights:
            self._weights[key] = torch.stack([self.h.flip(0), self.g.flip(0)])[:, None, None, :].to(x)
        return self._weights[key]

    def _wrap(self, n: int, device) -> torch.Tensor:
        """Indices of the periodic extension that (W3) reads: x[(m - (L/2 - 1)) mod n], m = 0..n + L - 3."""
        taps = self.h.numel()
        return (torch.arange(n + taps - 2, device=device) - (taps // 2 - 1)) % n

    def _analysis(self, x: torch.Tensor) -> torch.Tensor:
        """(W3) along the last axis of (B, R, n): [a | d], (B, R, n)."""
        b, r, n = x.shape
        padded = x[..., self._wrap(n, x.device)]  # (B, R, n + L - 2)
        out = F.conv2d(padded[:, None], self._filters(x), stride=(1, 2))  # (B, 2, R, n / 2)
        return torch.cat([out[:, 0], out[:, 1]], dim=-1)  # (B, R, n)

    def _synthesis(self, c: torch.Tensor) -> torch.Tensor:
        """The adjoint (= inverse) of :meth:`_analysis`: [a | d] (B, R, n) -> (B, R, n)."""
        b, r, n = c.shape
        halves = torch.stack([c[..., : n // 2], c[..., n // 2:]], dim=1)  # (B, 2, R, n / 2)
        spread = F.conv_transpose2d(halves, self._filters(c), stride=(1, 2))  # (B, 1, R, n + L - 2)
        out = c.new_zeros(b, r, n)
        return out.index_add(-1, self._wrap(n, c.device), spread[:, 0])

    def _level(self, x: torch.Tensor, inverse: bool) -> torch.Tensor:
        """One 2-D level (or its inverse) of (B, h, w): along the columns' axis (the last), then the rows'."""
        step = self._synthesis if inverse else self._analysis
        x = step(x)  # along the last axis
        return step(x.transpose(-1, -2)).transpose(-1, -2)  # along the second-last axis

    def _coefficient_size(self, h: int, w: int) -> tuple[int, int]:
        """(H', W') for an image of h x w, refusing one this operator was not built for."""
        if self.size is not None and (h, w) != self.size:
            raise PixelwiseError(f"this wavelet transform was built for {self.size[0]}x{self.size[1]} images, got "
                                 f"{h}x{w}; build one with size=({h}, {w}).")
        hp, wp = self.padded_size((h, w))
        if self.size is None and (hp, wp) != (h, w):
            raise PixelwiseError(f"{self.levels} levels need sides that are multiples of {2**self.levels}, the image "
                                 f"is {h}x{w}; build the transform with size=({h}, {w}) to zero-pad it.")
        return hp, wp

    def A(self, x: torch.Tensor) -> torch.Tensor:  # noqa: N802
        check_image(x, "Wavelet")
        n, c, h, w = x.shape
        hp, wp = self._coefficient_size(h, w)
        out = F.pad(x, (0, wp - w, 0, hp - h)).reshape(n * c, hp, wp)  # (B, H', W'), zero padding
        for level in range(self.levels):
            bh, bw = hp >> level, wp >> level
            block = self._level(out[:, :bh, :bw], inverse=False)
            out = out.clone() if level == 0 else out
            out[:, :bh, :bw] = block
        return out.reshape(n, c, hp, wp)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:  # noqa: N802
        """The inverse transform of coefficients ``y`` (N, C, H', W'), cropped to the operator's ``size``."""
        check_image(y, "Wavelet")
        n, c, hp, wp = y.shape
        step = 2**self.levels
        expected = self.padded_size(self.size) if self.size is not None else None
        if hp % step or wp % step or (expected is not None and (hp, wp) != expected):
            raise PixelwiseError(f"wavelet coefficients of {hp}x{wp} do not come from this transform ({self.levels} "
                                 f"levels{'' if expected is None else f' of a {self.size[0]}x{self.size[1]} image'}); "
                                 "pass what Wavelet.A returned.")
        out = y.reshape(n * c, hp, wp).clone()
        for level in reversed(range(self.levels)):
            bh, bw = hp >> level, wp >> level
            out[:, :bh, :bw] = self._level(out[:, :bh, :bw], inverse=True)
        h, w = self.size if self.size is not None else (hp, wp)
        return out.reshape(n, c, hp, wp)[..., :h, :w]

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def fourier_multiplier(self, size):
        return torch.ones(tuple(size[-2:]), dtype=torch.float64)  # A^T A = I

    def detail_mask(self, size: Sequence[int]) -> torch.Tensor:
        """(H', W') float64: 1 on the detail coefficients of an image of ``size``, 0 on the coarsest
        approximation block (which an l1 prior leaves free)."""
        hp, wp = self.padded_size(size)
        mask = torch.ones(hp, wp, dtype=torch.float64)
        mask[: hp >> self.levels, : wp >> self.levels] = 0.0
        return mask

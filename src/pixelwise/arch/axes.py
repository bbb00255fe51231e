"""How one spatial axis of a layer maps input indices to output indices.

Every layer that keeps a spatial layout (convolution, pooling, transposed convolution, padding,
cropping, interpolation, pointwise layers) acts on each spatial axis separately. An *axis map*
describes that action and answers three questions:

- ``rf(prev)``: the receptive field after the layer (Araujo et al. 2019; see :mod:`pixelwise.arch.layers`);
- ``deps(n_in, n_out)``: the boolean (n_out, n_in) matrix "output o depends on input i", computed by
  index arithmetic alone (no autograd), used for the exact support of a single pixel;
- ``out_size(n_in)``: the output length, to cross-check the recorded shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from pixelwise.arch.layers import AxisRF, conv_rf, transposed_conv_rf
from pixelwise.errors import PixelwiseError


def _source_index(j: int, n: int, mode: str) -> int | None:
    """Index of the real input pixel behind padded coordinate ``j`` (None for zero / constant padding)."""
    if 0 <= j < n:
        return j
    if mode in ("zeros", "constant"):
        return None
    if mode == "replicate":
        return min(max(j, 0), n - 1)
    if mode == "circular":
        return j % n
    if mode == "reflect":
        if n == 1:
            return 0
        period = 2 * (n - 1)
        j = j % period
        return j if j < n else period - j
    raise PixelwiseError(f"padding mode {mode!r} is not known; use zeros, reflect, replicate or circular.")


@dataclass(frozen=True)
class ConvAxis:
    """Convolution or pooling window: output o reads padded inputs o S - P_before + t D, t = 0 .. K-1."""

    kernel: int
    stride: int = 1
    pad_before: int = 0
    pad_after: int = 0
    dilation: int = 1
    pad_mode: str = "zeros"

    def rf(self, prev: AxisRF) -> AxisRF:
        return conv_rf(prev, self.kernel, self.stride, self.pad_before, self.dilation)

    def out_size(self, n: int) -> int:
        span = self.dilation * (self.kernel - 1) + 1
        return (n + self.pad_before + self.pad_after - span) // self.stride + 1

    def deps(self, n_in: int, n_out: int) -> np.ndarray:
        a = np.zeros((n_out, n_in), dtype=bool)
        if self.pad_mode == "zeros":  # the common case, vectorised: taps outside the input read zeros
            o = np.arange(n_out)
            for t in range(self.kernel):
                i = o * self.stride - self.pad_before + t * self.dilation
                inside = (i >= 0) & (i < n_in)
                a[o[inside], i[inside]] = True
            return a
        for o in range(n_out):
            for t in range(self.kernel):
                i = _source_index(o * self.stride - self.pad_before + t * self.dilation, n_in, self.pad_mode)
                if i is not None:
                    a[o, i] = True
        return a


@dataclass(frozen=True)
class TransposedConvAxis:
    """Transposed convolution: input i adds a copy of the kernel at outputs i S - P + t D, t = 0 .. K-1."""

    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    output_padding: int = 0

    def rf(self, prev: AxisRF) -> AxisRF:
        return transposed_conv_rf(prev, self.kernel, self.stride, self.padding, self.dilation)

    def out_size(self, n: int) -> int:
        span = self.dilation * (self.kernel - 1) + 1
        return (n - 1) * self.stride - 2 * self.padding + span + self.output_padding

    def deps(self, n_in: int, n_out: int) -> np.ndarray:
        a = np.zeros((n_out, n_in), dtype=bool)
        i = np.arange(n_in)
        for t in range(self.kernel):
            o = i * self.stride - self.padding + t * self.dilation
            inside = (o >= 0) & (o < n_out)
            a[o[inside], i[inside]] = True
        return a


@dataclass(frozen=True)
class PadAxis:
    """Padding (``F.pad``; negative amounts crop): output o is input o - before."""

    before: int
    after: int
    mode: str = "constant"

    def rf(self, prev: AxisRF) -> AxisRF:
        return AxisRF(prev.size, prev.jump, prev.left - self.before * prev.jump)

    def out_size(self, n: int) -> int:
        return n + self.before + self.after

    def deps(self, n_in: int, n_out: int) -> np.ndarray:
        a = np.zeros((n_out, n_in), dtype=bool)
        for o in range(n_out):
            i = _source_index(o - self.before, n_in, self.mode)
            if i is not None:
                a[o, i] = True
        return a


@dataclass(frozen=True)
class SliceAxis:
    """Indexing with a slice: output o is input start + o step."""

    start: int
    step: int = 1

    def rf(self, prev: AxisRF) -> AxisRF:
        return AxisRF(prev.size, prev.jump * self.step, prev.left + self.start * prev.jump)

    def out_size(self, n: int) -> int:  # not used for checks: the stop is not kept
        return -1

    def deps(self, n_in: int, n_out: int) -> np.ndarray:
        a = np.zeros((n_out, n_in), dtype=bool)
        for o in range(n_out):
            a[o, self.start + o * self.step] = True
        return a


@dataclass(frozen=True)
class InterpolateAxis:
    """Resampling as ``F.interpolate`` does it along one axis (modes nearest, nearest-exact, linear).

    ``scale`` is the scale factor the caller passed (None when a size was given); PyTorch then uses input
    pixels per output pixel c = 1 / scale, or n_in / n_out. Bilinear (align_corners=False) reads
    src = (o + 1/2) c - 1/2 (clamped at 0) and its two neighbours floor(src) and floor(src) + 1, with the
    neighbour of weight exactly zero left out. Index arithmetic is done in float64, like PyTorch's on
    float64 tensors.
    """

    mode: str
    align_corners: bool = False
    scale: float | None = None
    n_in: int = 0
    n_out: int = 0

    def _c(self, n_in: int, n_out: int) -> float:
        if self.align_corners:
            return (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        return 1.0 / self.scale if self.scale else n_in / n_out

    def rf(self, prev: AxisRF) -> AxisRF:
        c = Fraction(self._c(self.n_in, self.n_out)).limit_denominator(10**6)
        j = prev.jump
        if self.mode == "nearest":  # floor(o c) in (o c - 1, o c]
            return AxisRF(prev.size + j, j * c, prev.left - j)
        if self.mode == "nearest-exact":  # floor((o + 1/2) c) in ((o + 1/2) c - 1, (o + 1/2) c]
            return AxisRF(prev.size + j, j * c, prev.left + j * (c / 2 - 1))
        if self.align_corners:  # neighbours of o c: within [o c - 1, o c + 1]
            return AxisRF(prev.size + 2 * j, j * c, prev.left - j)
        # neighbours of (o + 1/2) c - 1/2: within [(o + 1/2) c - 3/2, (o + 1/2) c + 1/2]
        return AxisRF(prev.size + 2 * j, j * c, prev.left + j * (c / 2 - Fraction(3, 2)))

    def out_size(self, n: int) -> int:
        return self.n_out

    def deps(self, n_in: int, n_out: int) -> np.ndarray:
        a = np.zeros((n_out, n_in), dtype=bool)
        c = self._c(n_in, n_out)
        for o in range(n_out):
            if self.mode == "nearest":
                a[o, min(int(np.floor(o * c)), n_in - 1)] = True
                continue
            if self.mode == "nearest-exact":
                a[o, min(int(np.floor((o + 0.5) * c)), n_in - 1)] = True
                continue
            src = o * c if self.align_corners else max((o + 0.5) * c - 0.5, 0.0)
            i0 = int(src)
            i1 = i0 + 1 if i0 < n_in - 1 else i0
            lam = src - i0
            if lam != 1.0:
                a[o, i0] = True
            if lam != 0.0:
                a[o, i1] = True
        return a


@dataclass(frozen=True)
class IdentityAxis:
    """Pointwise along the axis (activations, normalisation, channel concatenation)."""

    def rf(self, prev: AxisRF) -> AxisRF:
        return prev

    def out_size(self, n: int) -> int:
        return n

    def deps(self, n_in: int, n_out: int) -> np.ndarray:
        return np.eye(n_out, n_in, dtype=bool)

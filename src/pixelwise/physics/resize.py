"""Down-sampling operators: r x r average pooling, and bicubic resizing in MATLAB's ``imresize`` convention.

MATLAB's ``imresize`` (the convention behind the bicubic PSNRs published for Set5/Set14 since SRCNN)
is separable: along each axis, output sample ``i`` (1-based) sits at input coordinate

    u = i / s + 0.5 * (1 - 1 / s)                                              (R1)

for scale ``s = out / in``; its value is a weighted sum of input samples ``j`` with weights
``h(u - j)`` normalised to sum to one. The kernel is Keys' cubic convolution with ``a = -0.5``

    h(t) = 1.5|t|^3 - 2.5|t|^2 + 1               for |t| <= 1
           -0.5|t|^3 + 2.5|t|^2 - 4|t| + 2        for 1 < |t| <= 2                (R2)

(Keys 1981, "Cubic convolution interpolation for digital image processing"). When shrinking
(``s < 1``) the kernel is stretched to ``s * h(s t)`` (width ``4 / s``): this is the anti-aliasing.
Samples beyond the border are mirrored (``... 2 1 | 1 2 ... n | n n-1 ...``). Because the map is a
fixed matrix ``W`` per axis, ``A x = W_h x W_w^T`` and its exact adjoint is ``W_h^T y W_w``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from pixelwise.errors import PixelwiseError
from pixelwise.physics.base import LinearOperator, check_image


def cubic(t: torch.Tensor) -> torch.Tensor:
    """Keys' cubic kernel with a = -0.5, equation (R2)."""
    a = t.abs()
    a2, a3 = a * a, a * a * a
    inner = (1.5 * a3 - 2.5 * a2 + 1.0) * (a <= 1)
    outer = (-0.5 * a3 + 2.5 * a2 - 4.0 * a + 2.0) * ((a > 1) & (a <= 2))
    return inner + outer


def resize_matrix(
    in_len: int, out_len: int, scale: float | None = None, antialias: bool = True
) -> torch.Tensor:
    """The ``(out_len, in_len)`` float64 matrix of MATLAB ``imresize`` (bicubic) along one axis.

    ``scale`` defaults to ``out_len / in_len``; MATLAB uses the scale the user asked for (e.g. 1/3)
    even when the lengths are rounded, so pass it when you have it.
    """
    if in_len < 1 or out_len < 1:
        raise PixelwiseError(f"cannot resize length {in_len} to {out_len}; both must be >= 1.")
    s = float(scale) if scale is not None else out_len / in_len
    width = 4.0
    stretch = 1.0
    if s < 1 and antialias:
        width = 4.0 / s  # the stretched kernel s * h(s t) reaches |t| <= 2 / s
        stretch = s
    i = torch.arange(1, out_len + 1, dtype=torch.float64)
    u = i / s + 0.5 * (1 - 1 / s)  # (R1), 1-based input coordinate of each output sample
    left = torch.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    j = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]  # (out, taps) 1-based indices
    w = stretch * cubic(stretch * (u[:, None] - j))  # (out, taps)
    w = w / w.sum(dim=1, keepdim=True)
    # mirror the indices into 1..in_len: period 2 * in_len, sequence 1..n, n..1
    k = torch.remainder(j - 1, 2 * in_len).long()  # 0-based position in the period
    k = torch.where(k < in_len, k, 2 * in_len - 1 - k)
    mat = torch.zeros(out_len, in_len, dtype=torch.float64)
    mat.scatter_add_(1, k, w)
    return mat


def imresize(
    x: torch.Tensor, scale: float | None = None, size: tuple[int, int] | None = None
) -> torch.Tensor:
    """Bicubic resize of ``(N, C, H, W)`` like MATLAB ``imresize(x, scale)`` (no rounding or clipping).

    Give either ``scale`` (output ``ceil(scale * H) x ceil(scale * W)``) or ``size``.
    """
    check_image(x, "imresize")
    h, w = x.shape[-2:]
    if size is None:
        if scale is None or not scale > 0:
            raise PixelwiseError(f"imresize needs a scale > 0 or an output size, got scale={scale}.")
        size = (math.ceil(scale * h - 1e-9), math.ceil(scale * w - 1e-9))
    sh = scale if scale is not None else size[0] / h
    sw = scale if scale is not None else size[1] / w
    mh = resize_matrix(h, size[0], sh).to(device=x.device, dtype=x.dtype)
    mw = resize_matrix(w, size[1], sw).to(device=x.device, dtype=x.dtype)
    return mh @ x @ mw.T  # (N, C, H', W')


class AveragePool(LinearOperator):
    """r x r average pooling with stride r: ``(N, C, H, W) -> (N, C, H/r, W/r)``; H and W multiples of r.

    Adjoint: each low-resolution value spread over its r x r block divided by r^2. Since
    ``A A^T = I / r^2``, the pseudo-inverse is nearest-neighbour up-sampling ``r^2 A^T``.
    The naive reconstruction is bicubic up-sampling (MATLAB convention).
    """

    def __init__(self, factor: int, noise=None):
        super().__init__(noise)
        if int(factor) != factor or factor < 1:
            raise PixelwiseError(f"down-sampling factor {factor} must be a whole number >= 1.")
        self.factor = int(factor)

    def _check(self, x):
        check_image(x, "AveragePool")
        h, w = x.shape[-2:]
        r = self.factor
        if h % r or w % r:
            raise PixelwiseError(
                f"image {h}x{w} is not a multiple of the factor {r}; crop it to "
                f"{h - h % r}x{w - w % r} first."
            )

    def A(self, x):  # noqa: N802
        self._check(x)
        return F.avg_pool2d(x, self.factor)

    def A_adjoint(self, y):  # noqa: N802
        r = self.factor
        return y.repeat_interleave(r, dim=-2).repeat_interleave(r, dim=-1) / (r * r)

    def A_dagger(self, y):  # noqa: N802
        return self.A_adjoint(y) * (self.factor**2)

    def naive(self, y):
        return imresize(y, scale=self.factor)

    def norm(self, shape, iterations=100, tol=1e-6, generator=None, dtype=torch.float64):
        return 1.0 / self.factor  # A A^T = I / r^2


class BicubicDownsample(LinearOperator):
    """Bicubic down-sampling as MATLAB ``imresize(x, 1/factor)``: ``(N,C,H,W) -> (N,C,ceil(H/r),ceil(W/r))``.

    The per-axis matrices (module docstring) are built once per length and cached. When H or W is not
    a multiple of r, pass ``input_size=(H, W)`` so that ``A_adjoint`` knows which size to return (it
    assumes ``r * h`` otherwise). The naive reconstruction is bicubic up-sampling to the input size.
    """

    def __init__(self, factor: int, input_size: tuple[int, int] | None = None, noise=None):
        super().__init__(noise)
        if int(factor) != factor or factor < 1:
            raise PixelwiseError(f"down-sampling factor {factor} must be a whole number >= 1.")
        self.factor = int(factor)
        self.input_size = tuple(input_size) if input_size is not None else None
        self._cache: dict[tuple, torch.Tensor] = {}  # (size, dtype, device) -> matrix

    def _matrix(self, n: int, like: torch.Tensor) -> torch.Tensor:
        key = (n, like.dtype, like.device)
        if key not in self._cache:
            self._cache[key] = resize_matrix(n, math.ceil(n / self.factor), 1.0 / self.factor).to(
                device=like.device, dtype=like.dtype
            )
        return self._cache[key]

    def _input_size(self, y) -> tuple[int, int]:
        h, w = y.shape[-2:]
        if self.input_size is None:
            return h * self.factor, w * self.factor
        big_h, big_w = self.input_size
        if (math.ceil(big_h / self.factor), math.ceil(big_w / self.factor)) != (h, w):
            raise PixelwiseError(
                f"measurement {h}x{w} does not come from a {big_h}x{big_w} image at factor "
                f"{self.factor}; build the operator with the right input_size."
            )
        return big_h, big_w

    def A(self, x):  # noqa: N802
        check_image(x, "BicubicDownsample")
        h, w = x.shape[-2:]
        if self.input_size is not None and (h, w) != self.input_size:
            raise PixelwiseError(f"image {h}x{w} does not match the operator's input_size {self.input_size}.")
        return self._matrix(h, x) @ x @ self._matrix(w, x).T  # (N, C, h, w)

    def A_adjoint(self, y):  # noqa: N802
        h, w = self._input_size(y)
        return self._matrix(h, y).T @ y @ self._matrix(w, y)  # (N, C, H, W)

    def naive(self, y):
        return imresize(y, size=self._input_size(y))

"""Blur: convolution with a kernel, with circular, zero ('same') or valid boundary.

``A x = k * x`` is a true convolution (the kernel is flipped relative to ``conv2d``'s correlation), the
same kernel on every channel, kernel centre at index ``(kh // 2, kw // 2)``.

- ``circular``: periodic boundary; ``A`` is diagonal in the 2-D DFT, ``A = F^H diag(K) F`` with
  ``K = DFT(k)`` (kernel padded to the image and rolled so that its centre is at the origin), hence
  ``A^T = F^H diag(conj K) F`` and ``A^T A = F^H diag(|K|^2) F`` (exact FFT solution paths in
  :mod:`pixelwise.solvers.tikhonov`). ``A`` and ``A^T`` are computed that way, except for a small rank-one
  kernel (kh + kw <= 64), where the periodically padded image and two 1-D passes are faster.
- ``zero``: zero padding, output the size of the input ('same' convolution).
- ``valid``: only the outputs whose window lies inside the image, ``(H - kh + 1, W - kw + 1)``.
  The adjoints of the last two are transposed convolutions (cropped for ``zero``).

A rank-one kernel ``k = u v^T`` (Gaussian, box) is separable: for the zero and valid boundaries ``A`` is a
horizontal 1-D convolution with ``v`` and a vertical one with ``u`` (the two commute once the image is
padded), kh + kw products per pixel instead of kh kw, and ``A^T`` the two adjoint 1-D passes, 'full'
correlations with ``v`` and ``u`` (Szeliski, *Computer Vision: Algorithms and Applications*, 2nd ed. 2022,
Sec. 3.2.1 'Separable filtering').

The kernel makers live in :mod:`pixelwise.physics.kernels` and the depthwise correlations that run the 1-D
and 2-D passes in :mod:`pixelwise.physics.correlate`; the kernel makers stay importable from here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pixelwise.errors import PixelwiseError
from pixelwise.physics.base import LinearOperator, check_image
from pixelwise.physics.correlate import LANES, correlate_planes, correlate_separable
from pixelwise.physics.kernels import (
    RANK_ONE_RTOL,
    box_kernel,
    box_kernel_1d,
    gaussian_kernel,
    gaussian_kernel_1d,
    motion_kernel,
    rank_one_factors,
)

BOUNDARIES = ("circular", "zero", "valid")

__all__ = [
    "BOUNDARIES", "RANK_ONE_RTOL", "Blur", "box_kernel", "box_kernel_1d", "gaussian_kernel", "gaussian_kernel_1d",
    "motion_kernel", "rank_one_factors",
]


class Blur(LinearOperator):
    """Convolution with ``kernel`` (kh, kw) on each channel: ``(N, C, H, W) -> (N, C, H', W')``.

    ``H' = H`` for circular and zero boundaries, ``H - kh + 1`` for valid. The naive reconstruction
    is the blurred image itself (edge-padded back to the input size for valid).

    A kernel that is rank one to float64 round-off is found at construction (SVD) and, for the zero and
    valid boundaries, applied as two 1-D passes with its factors (``factors``, where those are faster);
    :meth:`separable` takes the factors themselves.
    """

    def __init__(self, kernel: torch.Tensor, boundary: str = "circular", noise=None):
        super().__init__(noise)
        if boundary not in BOUNDARIES:
            raise PixelwiseError(f"unknown boundary {boundary!r}; choose one of {', '.join(BOUNDARIES)}.")
        self.boundary = boundary
        self.kernel = kernel

    @classmethod
    def separable(cls, u: torch.Tensor, v: torch.Tensor, boundary: str = "circular", noise=None) -> Blur:
        """The blur with the rank-one kernel ``u v^T``: ``u`` (kh,) runs down the columns, ``v`` (kw,) along
        the rows. The zero and valid boundaries use these factors as given (not the SVD's), e.g.
        ``Blur.separable(g, g, "zero")`` with ``g = gaussian_kernel_1d(sigma)``."""
        u, v = torch.as_tensor(u, dtype=torch.float64), torch.as_tensor(v, dtype=torch.float64)
        if u.dim() != 1 or v.dim() != 1 or len(u) < 1 or len(v) < 1:
            raise PixelwiseError(
                f"separable blur factors must be two 1-D tensors, got shapes {tuple(u.shape)} and {tuple(v.shape)}."
            )
        op = cls(torch.outer(u, v), boundary, noise)
        op._use_factors(u, v)
        return op

    @property
    def kernel(self) -> torch.Tensor:
        """The (kh, kw) float64 kernel; assigning a new one validates it (treat the tensor itself as read-only)."""
        return self._kernel

    @kernel.setter
    def kernel(self, kernel: torch.Tensor) -> None:
        kernel = torch.as_tensor(kernel, dtype=torch.float64)
        if kernel.dim() != 2 or min(kernel.shape) < 1:
            raise PixelwiseError(
                f"blur kernel must be a 2-D (kh, kw) tensor, got shape {tuple(kernel.shape)}."
            )
        if not torch.isfinite(kernel).all():
            raise PixelwiseError("blur kernel has NaN or infinite entries.")
        self._kernel = kernel
        self._otf_cache: dict = {}  # (H, W, dtype) -> half spectrum
        self._use_factors(*(rank_one_factors(kernel) or (None, None)))

    @property
    def factors(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(u, v)`` with ``kernel = u v^T`` for the two 1-D passes of the zero and valid boundaries, else None
        (a kernel that is not rank one, or a single row or column: one pass either way). The passes run on
        kernels of 64 entries or more, and on any rank-one kernel when there are fewer than 16 planes (N*C)."""
        return self._factors

    def _use_factors(self, u: torch.Tensor | None, v: torch.Tensor | None) -> None:
        kh, kw = self._kernel.shape
        self._factors = (u, v) if u is not None and min(kh, kw) > 1 else None
        self._weight_cache: dict = {}  # (dtype, device) -> the kernel's forms for conv2d

    # --- helpers ------------------------------------------------------------------------------
    def _check(self, x, who="Blur"):
        check_image(x, who)
        kh, kw = self.kernel.shape
        h, w = x.shape[-2:]
        if self.boundary != "valid" and (kh > h or kw > w):
            raise PixelwiseError(
                f"blur kernel {kh}x{kw} is larger than the image {h}x{w}; use a smaller kernel."
            )

    def _weights(self, x) -> dict[str, torch.Tensor]:
        """The kernel as conv2d takes it, in ``x``'s dtype and device, made once per dtype and device:
        ``flipped`` for A (conv2d correlates; A is a true convolution) and ``kernel`` itself for A^T; with
        factors, also ``u`` (kh,) and ``v`` (kw,), and both ``_flipped``."""
        key = (x.dtype, x.device)
        if key not in self._weight_cache:
            forms = {"flipped": self.kernel.flip(0, 1), "kernel": self.kernel}
            if self._factors is not None:
                u, v = self._factors
                forms |= {"u": u, "v": v, "u_flipped": u.flip(0), "v_flipped": v.flip(0)}
            self._weight_cache[key] = {
                name: t.to(dtype=x.dtype, device=x.device).contiguous() for name, t in forms.items()
            }
        return self._weight_cache[key]

    def otf(self, size, dtype=torch.float64) -> torch.Tensor:
        """``K = DFT(k)`` on an ``(H, W)`` grid as a real-FFT half spectrum ``(H, W // 2 + 1)`` (complex)."""
        h, w = int(size[-2]), int(size[-1])
        key = (h, w, dtype)
        if key not in self._otf_cache:
            kh, kw = self.kernel.shape
            pad = torch.zeros(h, w, dtype=torch.float64)
            pad[:kh, :kw] = self.kernel
            pad = torch.roll(pad, shifts=(-(kh // 2), -(kw // 2)), dims=(0, 1))  # centre to the origin
            real = dtype if dtype in (torch.float32, torch.float64) else torch.float64
            self._otf_cache[key] = torch.fft.rfft2(pad.to(real))
        return self._otf_cache[key]

    # --- the operator -------------------------------------------------------------------------
    def A(self, x):  # noqa: N802
        self._check(x)
        kh, kw = self.kernel.shape
        if self.boundary == "circular":
            if self._circular_in_space():  # the periodic extension, then the two 1-D passes
                weights = self._weights(x)
                x = F.pad(x, self._padding(), mode="circular")  # (N, C, H + kh - 1, W + kw - 1)
                return correlate_separable(x, weights["u_flipped"], weights["v_flipped"], (0, 0, 0, 0))
            k = self.otf(x.shape, x.dtype)
            return torch.fft.irfft2(torch.fft.rfft2(x) * k, s=x.shape[-2:])
        if self.boundary == "valid" and (x.shape[-2] < kh or x.shape[-1] < kw):
            raise PixelwiseError(
                f"valid blur needs an image at least as large as the kernel {kh}x{kw}, "
                f"got {tuple(x.shape[-2:])}."
            )
        left, right, top, bottom = self._padding()
        weights = self._weights(x)
        if not self._separable(x):
            return correlate_planes(x, weights["flipped"], (left, right, top, bottom))  # (N, C, H', W')
        # flip(k) = flip(u) flip(v)^T
        return correlate_separable(x, weights["u_flipped"], weights["v_flipped"], (left, right, top, bottom))

    def A_adjoint(self, y):  # noqa: N802
        check_image(y, "Blur.A_adjoint")
        kh, kw = self.kernel.shape
        # the transposed convolution with the flipped kernel: a 'full' correlation with the kernel itself, of
        # which the zero boundary keeps the rows and columns its padding made (A's padding mirrored)
        left, right, top, bottom = self._padding()
        pad = (kw - 1 - left, kw - 1 - right, kh - 1 - top, kh - 1 - bottom)
        if self.boundary == "circular":
            if self._circular_in_space():  # the periodic correlation with k: A's wrap-around mirrored
                self._check(y, "Blur.A_adjoint")
                weights = self._weights(y)
                return correlate_separable(F.pad(y, pad, mode="circular"), weights["u"], weights["v"], (0, 0, 0, 0))
            k = self.otf(y.shape, y.dtype)
            return torch.fft.irfft2(torch.fft.rfft2(y) * k.conj(), s=y.shape[-2:])
        weights = self._weights(y)
        if self._separable(y):  # k = u v^T
            return correlate_separable(y, weights["u"], weights["v"], pad)  # (N, C, H, W)
        n, c, h, w = y.shape
        if self.boundary == "valid" and n * c >= LANES:
            # torch's CPU depthwise conv_transpose2d is fast only with a register of planes (~70x slower on one
            # 512x512 image); with one, it spares the padded copy of y
            x = F.conv_transpose2d(y.reshape(1, n * c, h, w), weights["flipped"].expand(n * c, 1, kh, kw),
                                   groups=n * c)  # (1, N*C, H + kh - 1, W + kw - 1)
            return x.view(n, c, h + kh - 1, w + kw - 1)
        return correlate_planes(y, weights["kernel"], pad)  # (N, C, H, W)

    def _separable(self, x) -> bool:
        """Whether A and A^T on ``x`` take the two 1-D passes: for a rank-one kernel of at least
        ``_SEPARABLE_TAPS`` entries, or of any size on fewer than ``LANES`` planes (where the 2-D path copies
        the image into strips)."""
        if self._factors is None:
            return False
        kh, kw = self.kernel.shape
        return kh * kw >= _SEPARABLE_TAPS or x.shape[0] * x.shape[1] < LANES

    def _circular_in_space(self) -> bool:
        """Whether the circular A and A^T take the periodic padding and the two 1-D passes instead of the FFT:
        for a rank-one kernel with kh + kw <= ``_CIRCULAR_SPATIAL_TAPS`` (the FFT's cost does not grow with the
        kernel, the passes' does)."""
        return self._factors is not None and sum(self.kernel.shape) <= _CIRCULAR_SPATIAL_TAPS

    def _padding(self) -> tuple[int, int, int, int]:
        """The zeros (left, right, top, bottom) around the image for A: the kernel centre (kh // 2, kw // 2) over
        each pixel for the zero boundary, none for valid."""
        if self.boundary == "valid":
            return 0, 0, 0, 0
        kh, kw = self.kernel.shape
        ch, cw = kh // 2, kw // 2
        return kw - 1 - cw, cw, kh - 1 - ch, ch

    def fourier_multiplier(self, size):
        if self.boundary != "circular":
            return None
        h, w = int(size[-2]), int(size[-1])
        kh, kw = self.kernel.shape
        pad = torch.zeros(h, w, dtype=torch.float64)
        pad[:kh, :kw] = self.kernel
        pad = torch.roll(pad, shifts=(-(kh // 2), -(kw // 2)), dims=(0, 1))
        return torch.fft.fft2(pad).abs() ** 2  # (H, W) eigenvalues of A^T A

    def naive(self, y):
        if self.boundary != "valid":
            return y
        kh, kw = self.kernel.shape
        ch, cw = kh // 2, kw // 2
        return F.pad(
            y, (kw - 1 - cw, cw, kh - 1 - ch, ch), mode="replicate"
        )  # y[i] is centred on x[i + kh-1-ch]


# kernel entries from which the two 1-D passes beat the 2-D pass on LANES planes or more (Blur._separable;
# float32, one thread, 16 x 256 x 256: about even at 7 x 7, faster from 9 x 9, ~1.8x at 13 x 13); on fewer planes,
# where the 2-D path copies the image into strips, they were faster from 3 x 3 on (1 x 512 x 512)
_SEPARABLE_TAPS = 64


# the largest kh + kw for which a circular rank-one blur runs in space rather than through the FFT (Gaussians,
# float32, 2 threads, on 1 x 512 x 512 and 16 x 256 x 256: the passes 2.0-4.7x faster at 7 x 7, 1.7-2.0x at
# 13 x 13, 1.2-1.5x at 25 x 25, the FFT 1.3-1.6x faster at 49 x 49; both agree to 6e-7)
_CIRCULAR_SPATIAL_TAPS = 64

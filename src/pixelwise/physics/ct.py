"""CT: the parallel-beam Radon transform at a set of angles, its exact adjoint, and filtered back-projection.

Discretisation (a ray-driven "rotate and sum"). For angle ``theta`` and detector bin ``j`` the line
integral is approximated by unit-spaced samples ``t_k`` along the ray,

    p(theta, s_j) = sum_k f(c + s_j e(theta) + t_k d(theta)),                      (C1)

with ``e = (-sin, cos)`` the detector direction and ``d = (cos, sin)`` the ray direction in
(row, column) coordinates about the image centre ``c = ((H-1)/2, (W-1)/2)``, and ``f`` read by
bilinear interpolation with zeros outside the image. (C1) is a sparse matrix ``R`` whose rows hold the
bilinear weights (:func:`radon_matrix` builds it explicitly for small images; the tests compare).
``A x = R x`` is computed by ``grid_sample`` (bilinear, zeros outside, ``align_corners=True``) on the
grid of sample points of each view, then a sum along each ray. ``A^T y = R^T y`` is the transposed
interpolation: every ray value is splatted back onto the four pixels around each of its samples with
the same bilinear weights, which is exactly the input-gradient kernel of ``grid_sample``
(``aten.grid_sampler_2d_backward``). So back-projection is the exact adjoint, not an approximation.
With ``sparse=True`` both products use the explicit matrix instead (CSR, built on first use): the same map
to rounding, several times faster for small images (64 x 64 with 30 views: about 7 times), for solvers that
apply A and A^T thousands of times; it holds about ``4 views detectors samples`` entries.

Conventions, compared with ``skimage.transform.radon(image, theta)`` in the tests: angles in degrees,
sinogram axes here ``(N, C, views, detectors)`` (skimage returns ``(detectors, views)`` for one image);
with ``circle=True`` and an odd square image the two agree to interpolation error (the rotation centre
of skimage is ``n // 2``, which differs from ``(n - 1) / 2`` by half a pixel for even ``n``). By
default the detector spans the image diagonal (skimage's ``circle=False`` pads the image instead).

Filtered back-projection (Kak & Slaney 1988, "Principles of Computerized Tomographic Imaging", ch. 3):

    f ~ (pi / n_views) R^T (h * p),   h[0] = 1/4, h[n] = -1 / (pi n)^2 (n odd), 0 (n even),  (C2)

the band-limited ramp filter (Ram-Lak) applied along the detector axis by zero-padded FFT.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from pixelwise.errors import PixelwiseError
from pixelwise.physics.base import LinearOperator, check_image


def views(n: int, degrees: float = 180.0) -> torch.Tensor:
    """``n`` equally spaced angles in degrees over ``[0, degrees)`` (sparse-view CT uses small ``n``)."""
    if int(n) != n or n < 1:
        raise PixelwiseError(f"number of views {n} must be a whole number >= 1.")
    return torch.arange(int(n), dtype=torch.float64) * (degrees / n)


class Radon(LinearOperator):
    """Parallel-beam Radon transform ``(N, C, H, W) -> (N, C, views, detectors)``, equation (C1).

    ``angles``: degrees (a sequence or tensor), e.g. :func:`views`. ``detectors`` defaults to
    ``ceil(sqrt(H^2 + W^2))`` (every ray through the image is measured) or ``min(H, W)`` with
    ``circle=True`` (only the inscribed disc, like skimage's ``circle=True``). The naive reconstruction
    is filtered back-projection :meth:`fbp`.
    """

    def __init__(
        self,
        size: Sequence[int],
        angles: Sequence[float] | torch.Tensor,
        detectors: int | None = None,
        circle: bool = False,
        noise=None,
        chunk: int = 4_000_000,
        cache_floats: int = 16_000_000,
        sparse: bool = False,
    ):
        super().__init__(noise)
        if len(size) != 2 or min(size) < 1:
            raise PixelwiseError(f"Radon size must be (H, W) with H, W >= 1, got {tuple(size)}.")
        self.size = (int(size[0]), int(size[1]))
        self.angles = torch.as_tensor(angles, dtype=torch.float64).flatten()
        if self.angles.numel() < 1:
            raise PixelwiseError("Radon needs at least one angle.")
        h, w = self.size
        if detectors is None:
            detectors = min(h, w) if circle else int(math.ceil(math.hypot(h, w)))
        if int(detectors) < 1:
            raise PixelwiseError(f"detectors {detectors} must be >= 1.")
        self.detectors = int(detectors)
        if h < 2 or w < 2:
            raise PixelwiseError(f"Radon needs an image of at least 2x2 pixels, got {h}x{w}.")
        self.samples = int(math.ceil(math.hypot(h, w)))  # samples along each ray, unit spacing
        self.chunk = int(chunk)  # samples per grid_sample call (memory bound)
        self.cache_floats = int(cache_floats)  # keep the sample grids when they fit in this many floats
        self._grid_cache: dict = {}
        self._cached_floats = 0
        self.sparse = bool(sparse)  # products with the explicit matrix (R, R^T) per dtype, built on first use
        self._matrices: dict = {}

    # --- geometry ------------------------------------------------------------------------------
    def _grid(self, sl: slice, dtype) -> torch.Tensor:
        """grid_sample coordinates ``(1, V*D, T, 2)`` of the samples of (C1) for the views in ``sl``."""
        key = (sl.start, sl.stop, dtype)
        if key in self._grid_cache:
            return self._grid_cache[key]
        h, w = self.size
        theta = torch.deg2rad(self.angles[sl])  # (V,)
        cos, sin = torch.cos(theta), torch.sin(theta)
        # affine map from normalised output coordinates (x over the T ray samples, y over the D detectors)
        # to normalised input coordinates (align_corners=True: -1 and 1 are the centres of the edge pixels)
        mat = torch.zeros(theta.numel(), 2, 3, dtype=torch.float64)
        mat[:, 0, 0] = (self.samples - 1) * sin / max(w - 1, 1)  # column <- t sin
        mat[:, 0, 1] = (self.detectors - 1) * cos / max(w - 1, 1)  # column <- s cos
        mat[:, 1, 0] = (self.samples - 1) * cos / max(h - 1, 1)  # row <- t cos
        mat[:, 1, 1] = -(self.detectors - 1) * sin / max(h - 1, 1)  # row <- -s sin
        grid = F.affine_grid(
            mat.to(dtype), [theta.numel(), 1, self.detectors, self.samples], align_corners=True
        )
        grid = grid.reshape(1, -1, self.samples, 2)  # (1, V*D, T, 2): views stacked along the height
        self._cached_floats += grid.numel()
        if self._cached_floats <= self.cache_floats:
            self._grid_cache[key] = grid
        return grid

    def _matrix(self, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """``(R, R^T)`` of (C1) as CSR tensors of ``dtype`` (:func:`radon_matrix`), built once."""
        if dtype not in self._matrices:
            r = radon_matrix(self.size, self.angles, self.detectors).to(dtype)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "sparse CSR support is in beta": products and autograd work
                self._matrices[dtype] = (r.to_sparse_csr(), r.t().coalesce().to_sparse_csr())
        return self._matrices[dtype]

    def _chunks(self, batch: int):
        per_view = self.detectors * self.samples * max(1, batch)
        step = max(1, self.chunk // per_view)
        for start in range(0, self.angles.numel(), step):
            yield slice(start, min(start + step, self.angles.numel()))

    # --- the operator -------------------------------------------------------------------------
    def A(self, x):  # noqa: N802
        check_image(x, "Radon")
        if tuple(x.shape[-2:]) != self.size:
            raise PixelwiseError(
                f"image {tuple(x.shape[-2:])} does not match the Radon size {self.size}; "
                "build the operator for this size."
            )
        n, c = x.shape[:2]
        if self.sparse:
            flat = x.reshape(n * c, -1).t()  # (H*W, N*C)
            return (self._matrix(x.dtype)[0] @ flat).t().reshape(n, c, self.angles.numel(), self.detectors)
        out = []
        for sl in self._chunks(n * c):
            grid = self._grid(sl, x.dtype).expand(n, -1, -1, -1)  # (N, V*D, T, 2)
            samples = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
            out.append(samples.sum(-1))  # (N, C, V*D): the sum along each ray, (C1)
        return torch.cat(out, dim=-1).view(n, c, self.angles.numel(), self.detectors)  # (N, C, V, D)

    def A_adjoint(self, y):  # noqa: N802
        if y.dim() != 4 or tuple(y.shape[-2:]) != (self.angles.numel(), self.detectors):
            raise PixelwiseError(
                f"sinogram must be (N, C, {self.angles.numel()}, {self.detectors}), "
                f"got shape {tuple(y.shape)}."
            )
        n, c = y.shape[:2]
        h, w = self.size
        if self.sparse:
            flat = y.reshape(n * c, -1).t()  # (V*D, N*C)
            return (self._matrix(y.dtype)[1] @ flat).t().reshape(n, c, h, w)
        shape_only = y.new_zeros(n, c, h, w)
        out = y.new_zeros(n, c, h, w)
        for sl in self._chunks(n * c):
            grid = self._grid(sl, y.dtype).expand(n, -1, -1, -1)
            v = sl.stop - sl.start
            # transpose of the ray sum: each sample of a ray receives the ray's value, (N, C, V*D, T)
            spread = y[:, :, sl, :].reshape(n, c, v * self.detectors, 1).expand(-1, -1, -1, self.samples)
            out += _transposed_bilinear(spread.contiguous(), shape_only, grid)
        return out

    def ramp_filter(self, y: torch.Tensor) -> torch.Tensor:
        """``h * p`` along the detector axis with the Ram-Lak kernel of (C2), zero-padded FFT convolution."""
        d = self.detectors
        size = 1 << int(math.ceil(math.log2(2 * d)))  # no wrap-around for a kernel of support 2d - 1
        n = torch.arange(size, dtype=torch.float64)
        n = torch.where(n <= size // 2, n, n - size)  # signed offsets, circularly arranged
        h = torch.zeros(size, dtype=torch.float64)
        odd = (n.long() % 2) == 1
        h[odd] = -1.0 / (math.pi * n[odd]) ** 2
        h[0] = 0.25
        spectrum = torch.fft.rfft(h).real.to(y.dtype)  # h is even, so its DFT is real
        q = torch.fft.irfft(torch.fft.rfft(y, n=size, dim=-1) * spectrum, n=size, dim=-1)
        return q[..., :d]

    def fbp(self, y: torch.Tensor) -> torch.Tensor:
        """Filtered back-projection, equation (C2); assumes the angles cover [0, 180) evenly."""
        return self.A_adjoint(self.ramp_filter(y)) * (math.pi / self.angles.numel())

    def naive(self, y):
        return self.fbp(y)


def _transposed_bilinear(grad: torch.Tensor, like: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """The adjoint of ``grid_sample(., grid)`` (bilinear, zeros, align_corners=True) applied to ``grad``."""
    try:
        return torch.ops.aten.grid_sampler_2d_backward(grad, like, grid, 0, 0, True, [True, False])[0]
    except (AttributeError, RuntimeError):  # pragma: no cover - older or newer torch without this op
        with torch.enable_grad():
            x = like.detach().requires_grad_(True)
            out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
            return torch.autograd.grad(out, x, grad)[0]


def radon_matrix(
    size: Sequence[int],
    angles: Sequence[float] | torch.Tensor,
    detectors: int | None = None,
    circle: bool = False,
) -> torch.Tensor:
    """The matrix ``R`` of (C1) as a sparse COO tensor ``(V*D, H*W)``, built explicitly from the bilinear
    weights (a readable reference for small images; :class:`Radon` computes the same products faster)."""
    op = Radon(size, angles, detectors, circle)
    h, w = op.size
    theta = torch.deg2rad(op.angles)[:, None, None]  # (V, 1, 1)
    s = (torch.arange(op.detectors, dtype=torch.float64) - (op.detectors - 1) / 2)[None, :, None]
    t = (torch.arange(op.samples, dtype=torch.float64) - (op.samples - 1) / 2)[None, None, :]
    rows = (h - 1) / 2 - s * torch.sin(theta) + t * torch.cos(theta)  # (V, D, T)
    cols = (w - 1) / 2 + s * torch.cos(theta) + t * torch.sin(theta)
    ray = torch.arange(op.angles.numel() * op.detectors).view(-1, op.detectors, 1).expand_as(rows)
    r0, c0 = torch.floor(rows), torch.floor(cols)
    fr, fc = rows - r0, cols - c0
    entries_r, entries_c, entries_w = [], [], []
    for dr, dc, wt in (
        (0, 0, (1 - fr) * (1 - fc)),
        (1, 0, fr * (1 - fc)),
        (0, 1, (1 - fr) * fc),
        (1, 1, fr * fc),
    ):
        r, c = r0.long() + dr, c0.long() + dc
        inside = (r >= 0) & (r < h) & (c >= 0) & (c < w) & (wt != 0)
        entries_r.append(ray[inside])
        entries_c.append((r * w + c)[inside])
        entries_w.append(wt[inside])
    index = torch.stack([torch.cat(entries_r), torch.cat(entries_c)])
    n_rays = op.angles.numel() * op.detectors
    return torch.sparse_coo_tensor(
        index, torch.cat(entries_w), (n_rays, h * w), check_invariants=True
    ).coalesce()

"""CT: the parallel-beam Radon transform at a set of angles, its exact adjoint, and filtered back-projection.

Discretisation (a ray-driven "rotate and sum"). For angle ``theta`` and detector bin ``j`` the line
integral is approximated by unit-spaced samples ``t_k`` along the ray,

    p(theta, s_j) = sum_k f(c + s_j e(theta) + t_k d(theta)),                      (C1)

with ``e = (-sin, cos)`` the detector direction and ``d = (cos, sin)`` the ray direction in
(row, column) coordinates about the image centre ``c = ((H-1)/2, (W-1)/2)``, and ``f`` read by
bilinear interpolation with zeros outside the image. (C1) is a sparse matrix ``R`` whose rows hold the
bilinear weights (:func:`radon_matrix` builds it explicitly for small images; the tests compare).
``A x = R x`` is computed by ``grid_sample`` (bilinear, zeros outside, ``align_corners=True``) on the
sample points, then a sum along each ray. Only the samples that can have a nonzero bilinear weight are
visited: along each ray, those inside the image widened by one pixel (the others read zeros and add
nothing), about half of the ``views x detectors x samples`` lattice. The visited samples of a ray are cut
into blocks of ``q`` consecutive samples (a ray is lengthened to whole blocks by samples outside the image),
so that the samples of all rays form one list: ``grid_sample`` on the list, a sum over each block, and a
sum of the blocks of each ray (``index_add``). ``A^T y = R^T y`` is the transposed interpolation: every
ray value is splatted back onto the four pixels around each of its samples with the same bilinear
weights, which is exactly the input-gradient kernel of ``grid_sample``
(``aten.grid_sampler_2d_backward``), on the same list. So back-projection is the exact adjoint, not an
approximation.
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

    nonnegative = True  # bilinear interpolation weights along each ray

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
        self.chunk = int(chunk)  # samples x batch x channels per grid_sample call (memory bound)
        self.cache_floats = int(cache_floats)  # keep the sample list when its coordinates fit in this many floats
        self._blocks()
        self._grid_cache: dict = {}
        self.sparse = bool(sparse)  # products with the explicit matrix (R, R^T) per dtype, built on first use
        self._matrices: dict = {}

    # --- geometry ------------------------------------------------------------------------------
    def _blocks(self) -> None:
        """The visited samples of (C1), cut into blocks of ``q`` along each ray (float64, at construction).

        A ray whose visited samples do not fill its last block is lengthened by samples before its first or
        after its last visited one, outside the image (weight 0) -- only where that side of the ray runs out of
        the image before the end of the sample lattice; otherwise (a few rays through the corners) the spare
        places are listed and sent far outside. Per block: its ray (``view * detectors + j``) and the normalised
        grid coordinates of its first sample, planar ``(2, B)``; per view: the step between samples (the ray
        direction): 20 bytes per block against 8 q for the float32 coordinates of its samples, which a large
        problem builds chunk by chunk rather than keeps.
        """
        h, w = self.size
        n_det, n_smp = self.detectors, self.samples
        theta = torch.deg2rad(self.angles)[:, None]  # (V, 1)
        cos, sin = torch.cos(theta), torch.sin(theta)
        s = (torch.arange(n_det, dtype=torch.float64) - (n_det - 1) / 2)[None, :]  # (1, D)
        centre = (n_smp - 1) / 2  # t_k = k - centre
        row0, col0 = (h - 1) / 2 - s * sin, (w - 1) / 2 + s * cos  # (V, D): the sample at t = 0
        # t where -1 < row0 + t cos < h and -1 < col0 + t sin < w (outside, all four weights are 0); a margin
        # of 0.01 pixel keeps samples whose rounded coordinates might still touch the image
        lo = torch.full_like(row0, -math.inf)
        hi = torch.full_like(row0, math.inf)
        margin = 0.01
        for base, slope, size in ((row0, cos.expand_as(row0), h), (col0, sin.expand_as(col0), w)):
            flat = slope.abs() < 1e-9  # the ray runs along this axis: inside for all t or for none
            safe = torch.where(flat, torch.ones_like(slope), slope)
            a, b = (-1 - margin - base) / safe, (size + margin - base) / safe
            inside = (base > -1 - margin) & (base < size + margin)
            never, always = torch.full_like(a, math.inf), torch.full_like(a, -math.inf)
            lo = torch.maximum(lo, torch.where(flat, torch.where(inside, always, never), torch.minimum(a, b)))
            hi = torch.minimum(hi, torch.where(flat, torch.where(inside, never, always), torch.maximum(a, b)))
        first, last = torch.ceil(lo + centre).flatten(), torch.floor(hi + centre).flatten()  # inside: first..last
        k0, k1 = first.clamp(0, n_smp), (last + 1).clamp(0, n_smp)  # visited lattice samples k0 <= k < k1
        length = (k1 - k0).clamp(min=0).long()  # (V*D,)
        q = max(4, round(n_smp / 24))  # block length: ~24 blocks on the longest ray
        per_ray = (length + q - 1) // q  # blocks of each ray (0 for rays that miss the image)
        spare = per_ray * q - length  # places of the last block past the visited samples
        before = first >= 0  # every sample before k0 is outside the image: lengthen the ray backwards
        after = last + 1 <= n_smp  # every sample from k1 on is outside: lengthen it forwards
        k_start = torch.where(before, k0 - spare, k0)  # (V*D,) the first sample of each ray's first block
        ray = torch.repeat_interleave(torch.arange(length.numel()), per_ray)  # (B,) ray of each block
        within = torch.arange(ray.numel()) - (torch.cumsum(per_ray, 0) - per_ray)[ray]  # block number on its ray
        t = (k_start[ray] + q * within) - centre  # t of the first sample of each block
        view = ray // n_det
        sx, sy = 2 / max(w - 1, 1), 2 / max(h - 1, 1)  # pixel -> normalised coordinates (align_corners=True)
        start = torch.stack([(col0.flatten()[ray] + t * sin[view, 0]) * sx - 1,
                             (row0.flatten()[ray] + t * cos[view, 0]) * sy - 1])  # (2, B): x, y
        # the rare rays inside the image beyond both ends of the lattice: their spare places, (block, place)
        last_block = (torch.cumsum(per_ray, 0) - 1)[~before & ~after & (spare > 0)]
        places = q - spare[~before & ~after & (spare > 0)]
        pairs = [(int(b), p) for b, first_spare in zip(last_block, places) for p in range(int(first_spare), q)]
        pad = -ray.numel() % 8  # whole groups of 8 blocks, so that a chunk splits evenly across threads
        n_rays = length.numel()
        self._q = q
        # padding blocks: the extra ray V*D (dropped), in the extra view V whose step is 0, far outside
        self._ray = torch.cat([ray, ray.new_full((pad,), n_rays)]).int()  # (B,)
        self._start = torch.cat([start, start.new_full((2, pad), -4.0)], 1)  # (2, B)
        self._step = F.pad(torch.stack([sin[:, 0] * sx, cos[:, 0] * sy]), (0, 1))  # (2, V + 1) per sample
        pairs = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2)
        self._spare_block, self._spare_place = pairs[:, 0].contiguous(), pairs[:, 1].contiguous()  # by block

    def _grid(self, b0: int, b1: int, dtype, device) -> torch.Tensor:
        """Planar coordinates ``(2, q, b1 - b0)`` (x, y; place in the block; block) of blocks ``b0:b1``. The whole
        list is built once and kept when it fits in ``cache_floats``, otherwise each chunk is built when used."""
        q, total = self._q, self._ray.numel()
        if total * q * 2 <= self.cache_floats:
            key = (dtype, device)
            if key not in self._grid_cache:
                self._grid_cache[key] = self._coordinates(0, total, dtype, device)
            return self._grid_cache[key][:, :, b0:b1]
        return self._coordinates(b0, b1, dtype, device)

    def _coordinates(self, b0: int, b1: int, dtype, device) -> torch.Tensor:
        place = torch.arange(self._q, dtype=dtype, device=device)[None, :, None]  # (1, q, 1)
        start = self._start[:, None, b0:b1].to(dtype=dtype, device=device)  # (2, 1, b)
        step = self._step[:, self._ray[b0:b1] // self.detectors].to(dtype=dtype, device=device)[:, None, :]
        grid = torch.empty(2, self._q, b1 - b0, dtype=dtype, device=device)
        torch.addcmul(start, place, step, out=grid)  # (2, q, b): start + i step, place-major
        blocks = self._spare_block
        i0, i1 = int(torch.searchsorted(blocks, b0)), int(torch.searchsorted(blocks, b1))
        if i1 > i0:  # spare places of the corner rays: far outside, weight 0
            grid[:, self._spare_place[i0:i1].to(device), (blocks[i0:i1] - b0).to(device)] = -4.0
        return grid

    def _matrix(self, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """``(R, R^T)`` of (C1) as CSR tensors of ``dtype`` (:func:`radon_matrix`), built once."""
        if dtype not in self._matrices:
            r = radon_matrix(self.size, self.angles, self.detectors).to(dtype)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "sparse CSR support is in beta": products and autograd work
                self._matrices[dtype] = (r.to_sparse_csr(), r.t().coalesce().to_sparse_csr())
        return self._matrices[dtype]

    def _chunks(self, planes: int):
        """Block ranges of at most ``chunk`` samples x planes each, in whole groups of 8 blocks."""
        total = self._ray.numel()
        per = max(8, self.chunk // (planes * self._q) // 8 * 8)
        for b0 in range(0, total, per):
            yield b0, min(b0 + per, total)

    def _fold(self, n: int) -> int:
        """grid_sample runs the images of a batch in parallel threads: a single image's blocks are split into
        this many equal parts (1, 2, 4 or 8; a chunk holds whole groups of 8 blocks) that form a batch."""
        if n > 1:
            return 1
        return 1 << (min(torch.get_num_threads(), 8).bit_length() - 1)

    @staticmethod
    def _sampler_grid(grid: torch.Tensor, parts: int) -> torch.Tensor:
        """Planar ``(2, q, b)`` as the grid_sample grid ``(parts, q, b / parts, 2)`` (a view, x and y planes)."""
        _, q, b = grid.shape
        return grid.view(2, q, parts, b // parts).permute(2, 1, 3, 0)

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
        fold = self._fold(n)
        rays = x.new_zeros(n * c, self.angles.numel() * self.detectors + 1)  # (N*C, V*D + the padding ray)
        for b0, b1 in self._chunks(n * c):
            grid = self._sampler_grid(self._grid(b0, b1, x.dtype, x.device), fold)  # (fold, q, b / fold, 2)
            if fold > 1:  # one image: its blocks split into `fold` parts as a batch, run in parallel
                out = F.grid_sample(x.expand(fold, -1, -1, -1), grid, mode="bilinear", padding_mode="zeros",
                                    align_corners=True)  # (fold, C, q, b / fold)
                sums = out.sum(2).transpose(0, 1).reshape(c, b1 - b0)  # (C, b)
            else:
                out = F.grid_sample(x, grid.expand(n, -1, -1, -1), mode="bilinear", padding_mode="zeros",
                                    align_corners=True)  # (N, C, q, b)
                sums = out.sum(2).view(n * c, b1 - b0)  # (N*C, b): the sum over each block
            ray = self._ray[b0:b1].to(device=x.device, dtype=torch.long)  # int64: index_add_ is ~30x slower on int32
            rays.index_add_(1, ray, sums)  # the sum along each ray, (C1)
        return rays[:, :-1].reshape(n, c, self.angles.numel(), self.detectors)  # (N, C, V, D)

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
        fold = self._fold(n)
        q = self._q
        flat = F.pad(y.reshape(n * c, -1), (0, 1))  # (N*C, V*D + 1): 0 for the padding ray
        like = y.new_zeros(1, c, h, w).expand(max(n, fold), -1, -1, -1)  # only its shape is used
        out = None
        for b0, b1 in self._chunks(n * c):
            grid = self._sampler_grid(self._grid(b0, b1, y.dtype, y.device), fold)
            # transpose of the ray and block sums: every sample of a block receives its ray's value
            value = flat.index_select(1, self._ray[b0:b1].to(y.device))  # (N*C, b)
            if fold > 1:
                value = value.view(c, fold, -1).transpose(0, 1)[:, :, None, :]  # (fold, C, 1, b / fold)
                spread = value.expand(-1, -1, q, -1).contiguous()  # (fold, C, q, b / fold)
                part = _transposed_bilinear(spread, like, grid).sum(0, keepdim=True)
            else:
                spread = value.view(n, c, 1, -1).expand(-1, -1, q, -1).contiguous()  # (N, C, q, b)
                part = _transposed_bilinear(spread, like, grid.expand(n, -1, -1, -1))
            out = part if out is None else out.add_(part)
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

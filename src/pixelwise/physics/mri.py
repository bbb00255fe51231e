"""Single-coil MRI: orthonormal 2-D FFT followed by a Cartesian line mask (fastMRI-style).

Complex numbers, honestly: the image ``x`` is real ``(N, C, H, W)``; k-space is complex and is stored
as two real numbers in a last axis, ``(N, C, H, W, 2)`` = (real, imaginary), as ``torch.view_as_real``
and fastMRI do. With the real inner product ``<a, b> = sum(a * b)`` on both sides,

    A x = M . F x,          A^T y = Re(F^H (M . y)),                               (M1)

where ``F`` is the orthonormal DFT (``norm="ortho"``, so ``F^H F = I``) and ``M`` the 0/1 mask. The
real part in ``A^T`` is what makes it the true adjoint for real images. k-space is kept in the
unshifted DFT order (DC at index 0); the mask is drawn in the centred order of fastMRI and shifted.

Because the image is real, ``A^T A = Re(F^H M F) = F^H diag((M(k) + M(-k)) / 2) F``: it is circulant,
and ``fourier_multiplier`` returns the symmetrised mask.
"""

from __future__ import annotations

import torch

from pixelwise.errors import PixelwiseError
from pixelwise.physics.base import LinearOperator, check_image

MASK_KINDS = ("random", "equispaced")


def cartesian_mask(
    width: int,
    acceleration: float,
    center_fraction: float,
    kind: str = "random",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A 1-D 0/1 float mask over ``width`` phase-encoding lines, in centred k-space order.

    ``round(width * center_fraction)`` central lines are always kept; the others are kept so that about
    ``width / acceleration`` lines are sampled in all: at random with probability
    ``(width / acc - n_low) / (width - n_low)`` ("random"), or on a regular grid of adjusted spacing
    ``acc (n_low - width) / (n_low acc - width)`` from a random offset ("equispaced"), following the
    fastMRI conventions (Zbontar et al. 2018, e.g. acceleration 4 with 8 % centre, 8 with 4 %).
    """
    if kind not in MASK_KINDS:
        raise PixelwiseError(f"unknown mask kind {kind!r}; choose one of {', '.join(MASK_KINDS)}.")
    if not acceleration >= 1:
        raise PixelwiseError(f"acceleration {acceleration} must be >= 1.")
    if not 0.0 <= center_fraction <= 1.0:
        raise PixelwiseError(f"centre fraction {center_fraction} must be in [0, 1].")
    target = width / acceleration
    if target < 1:
        raise PixelwiseError(f"acceleration {acceleration} leaves no lines of {width}; use at most {width}.")
    n_low = int(round(width * center_fraction))
    if n_low > target:
        raise PixelwiseError(
            f"centre fraction {center_fraction} keeps {n_low} lines, more than the "
            f"{target:.1f} that acceleration {acceleration} allows; lower one of them."
        )
    mask = torch.zeros(width, dtype=torch.float64)
    pad = (width - n_low + 1) // 2
    mask[pad : pad + n_low] = 1.0
    if n_low < width and target > n_low:
        if kind == "random":
            prob = (target - n_low) / (width - n_low)
            mask = torch.maximum(
                mask, (torch.rand(width, generator=generator, dtype=torch.float64) < prob).double()
            )
        else:
            step = acceleration * (n_low - width) / (n_low * acceleration - width) if n_low else acceleration
            offset = int(torch.randint(0, max(1, int(round(step))), (1,), generator=generator))
            lines = torch.arange(offset, width - 1e-9, step, dtype=torch.float64).round().long()
            mask[lines.clamp(max=width - 1)] = 1.0
    if not bool(mask.any()):
        raise PixelwiseError(
            f"the {kind} mask at acceleration {acceleration} drew no lines; lower the "
            "acceleration or raise the centre fraction."
        )
    return mask


class MRI(LinearOperator):
    """``(N, C, H, W)`` real image -> ``(N, C, H, W, 2)`` masked k-space, equation (M1).

    ``mask``: 0/1 tensor ``(W,)`` of lines (columns) in centred order, or ``(H, W)`` in centred order.
    The naive reconstruction is the zero-filled inverse FFT (= ``A^T y``, and the pseudo-inverse).
    """

    def __init__(self, mask: torch.Tensor, noise=None):
        super().__init__(noise)
        mask = torch.as_tensor(mask, dtype=torch.float64)
        if mask.dim() not in (1, 2) or not bool(((mask == 0) | (mask == 1)).all()):
            raise PixelwiseError("MRI mask must be a 0/1 tensor of shape (W,) or (H, W).")
        if not bool(mask.any()):
            raise PixelwiseError("MRI mask samples no k-space line; use a lower acceleration.")
        self.mask = mask

    @classmethod
    def cartesian(
        cls,
        size: tuple[int, int],
        acceleration: float = 4,
        center_fraction: float | None = None,
        kind: str = "random",
        generator: torch.Generator | None = None,
        noise=None,
    ) -> MRI:
        """Mask from :func:`cartesian_mask`; centre fraction defaults to 0.32 / acceleration (8 % at 4x)."""
        if center_fraction is None:
            center_fraction = 0.32 / acceleration
        return cls(cartesian_mask(int(size[-1]), acceleration, center_fraction, kind, generator), noise)

    def _shifted_mask(self, h: int, w: int) -> torch.Tensor:
        m = self.mask if self.mask.dim() == 2 else self.mask[None, :].expand(h, -1)
        if tuple(m.shape) != (h, w):
            raise PixelwiseError(
                f"MRI mask of shape {tuple(self.mask.shape)} does not match the image {h}x{w}; "
                "build the mask for the image's width (and height)."
            )
        return torch.fft.ifftshift(m, dim=(-2, -1))  # centred order -> DFT order (DC at index 0)

    def A(self, x):  # noqa: N802
        check_image(x, "MRI")
        if x.is_complex():
            raise PixelwiseError(
                "MRI expects a real image; the k-space it returns is (..., 2) real/imaginary."
            )
        m = self._shifted_mask(*x.shape[-2:]).to(device=x.device, dtype=x.dtype)
        k = torch.fft.fft2(x, norm="ortho") * m  # (N, C, H, W) complex
        return torch.view_as_real(k)  # (N, C, H, W, 2)

    def A_adjoint(self, y):  # noqa: N802
        if y.dim() != 5 or y.shape[-1] != 2:
            raise PixelwiseError(f"MRI k-space must be (N, C, H, W, 2), got shape {tuple(y.shape)}.")
        m = self._shifted_mask(*y.shape[-3:-1]).to(device=y.device, dtype=y.dtype)
        k = torch.view_as_complex(y.contiguous()) * m
        return torch.fft.ifft2(k, norm="ortho").real  # (N, C, H, W)

    def A_dagger(self, y):  # noqa: N802
        return self.A_adjoint(y)

    def fourier_multiplier(self, size):
        h, w = int(size[-2]), int(size[-1])
        m = self._shifted_mask(h, w)
        flipped = torch.roll(m.flip(0, 1), shifts=(1, 1), dims=(0, 1))  # M(-k mod N)
        return (m + flipped) / 2

    @property
    def acceleration(self) -> float:
        return float(self.mask.numel() / self.mask.sum())


def kspace_magnitude(y: torch.Tensor) -> torch.Tensor:
    """``log(1 + |k|)`` in centred order for display: ``(..., H, W, 2) -> (..., H, W)``."""
    mag = torch.linalg.vector_norm(y, dim=-1)
    return torch.log1p(torch.fft.fftshift(mag, dim=(-2, -1)))

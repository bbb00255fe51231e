"""l1-wavelet reconstruction by FISTA: the classical sparsity prior of compressed sensing.

    min_x 1/2 ||A x - y||^2 + lam ||M W x||_1                                             (S1)

with W an orthogonal wavelet transform (:class:`pixelwise.physics.Wavelet`) and M the 0/1 mask of its detail
coefficients (the coarsest approximation is not penalised). Because W is orthogonal, the proximal map of
``eta lam ||M W .||_1`` is exact (Daubechies, Defrise & De Mol 2004, "An iterative thresholding algorithm for
linear inverse problems with a sparsity constraint", CPAM 57):

    prox(v) = W^T S_{eta lam}(W v),   S_t(c) = sign(c) max(|c| - t, 0) on the details       (S2)

and FISTA (:func:`pixelwise.solvers.proximal_gradient`, (P1)-(P3), Beck & Teboulle 2009) solves (S1). This is
the sparsity model of compressed-sensing MRI (Lustig, Donoho & Pauly 2007, "Sparse MRI", MRM 58), beside TV.

Images whose sides are not multiples of ``2^levels`` are solved on the zero-padded domain: the unknown is an image
``u`` of the padded size, the data term sees its top-left ``H x W`` crop (``A C u``), and (S1) penalises the
wavelet details of the whole of ``u``, so that the padding is filled by the prior rather than by zeros.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from pixelwise.errors import PixelwiseError
from pixelwise.physics import LinearOperator, Wavelet, max_level
from pixelwise.solvers.cg import Callback
from pixelwise.solvers.proximal_gradient import Prox, proximal_gradient

DEFAULT_WAVELET = "db4"
MAX_AUTO_LEVELS = 4  # the automatic depth: at most 4 levels, fewer where the image is too small


def soft_threshold(c: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """``S_t(c) = sign(c) max(|c| - t, 0)``, the prox of ``t ||.||_1`` (S2)."""
    return torch.sign(c) * (c.abs() - t).clamp(min=0)


def wavelet_prox(transform: Wavelet, lam: float, size: Sequence[int]) -> Prox:
    """``prox_{eta lam ||M W .||_1}`` of (S2) for images of ``size`` (H, W) (multiples of ``2^levels``)."""
    if not lam >= 0:
        raise ValueError(f"lambda {lam} must be >= 0.")
    mask = transform.detail_mask(size)

    def prox(v: torch.Tensor, step: float) -> torch.Tensor:
        c = transform.A(v)
        m = mask.to(c.dtype)
        return transform.A_adjoint(c * (1 - m) + soft_threshold(c, step * lam) * m)  # (S2)

    return prox


def auto_levels(size: Sequence[int], wavelet: str = DEFAULT_WAVELET) -> int:
    """The default depth for an image of ``size``: ``min(4, deepest level of the wavelet)``; refuses images too
    small for even one level."""
    levels = min(MAX_AUTO_LEVELS, max_level(size, wavelet))
    if levels < 1:
        raise PixelwiseError(f"a {int(size[-2])}x{int(size[-1])} image is too small for one level of {wavelet}; use "
                             "a shorter wavelet (haar, db2) or a larger image.")
    return levels


class _TopLeft(LinearOperator):
    """``C``: the top-left ``size`` crop of a padded image; ``C^T`` pads with zeros at the bottom and right."""

    def __init__(self, size: Sequence[int], padded: Sequence[int]):
        super().__init__()
        self.size, self.padded = tuple(size), tuple(padded)

    def A(self, u):  # noqa: N802
        return u[..., : self.size[0], : self.size[1]]

    def A_adjoint(self, x):  # noqa: N802
        return F.pad(x, (0, self.padded[1] - self.size[1], 0, self.padded[0] - self.size[0]))


def l1_wavelet(op: LinearOperator, y: torch.Tensor, lam: float, wavelet: str = DEFAULT_WAVELET,
               levels: int | None = None, iterations: int = 100, tol: float = 1e-5, x0: torch.Tensor | None = None,
               callback: Callback | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """(S1) by FISTA from ``x0`` (default: the naive reconstruction), ``levels`` defaulting to
    :func:`auto_levels`; returns the (N, C, H, W) image. ``callback(k, x)`` sees the cropped iterate."""
    start = op.naive(y) if x0 is None else x0
    size = tuple(start.shape[-2:])
    levels = auto_levels(size, wavelet) if levels is None else levels
    transform = Wavelet(wavelet, levels, size=size)
    padded = transform.padded_size(size)
    orthogonal = Wavelet(wavelet, levels)  # on the padded domain, where it needs no padding
    crop = _TopLeft(size, padded)
    data = op if padded == size else op @ crop
    u0 = start if padded == size else crop.A_adjoint(start)
    seen = None if callback is None else (lambda k, u: callback(k, crop.A(u)))
    u = proximal_gradient(data, y, wavelet_prox(orthogonal, lam, padded), iterations=iterations, tol=tol, x0=u0,
                          callback=seen, generator=generator)
    return crop.A(u)

"""Inpainting: a pixel mask; values are removed (set to 0) where the mask is 0."""

from __future__ import annotations

import torch

from pixelwise.errors import PixelwiseError
from pixelwise.physics.base import LinearOperator, check_image


def random_mask(size: tuple[int, int], keep: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """An ``(H, W)`` 0/1 float mask keeping each pixel independently with probability ``keep``."""
    if not 0.0 < keep <= 1.0:
        raise PixelwiseError(f"kept fraction {keep} must be in (0, 1] (0 would remove every pixel).")
    h, w = int(size[0]), int(size[1])
    mask = (torch.rand(h, w, generator=generator, dtype=torch.float64) < keep).to(torch.float64)
    if h * w and not bool(mask.any()):
        raise PixelwiseError(f"the random mask kept none of the {h}x{w} pixels (each kept with probability {keep}); "
                             "raise the kept fraction (--keep) or use a larger image.")
    return mask


class Inpainting(LinearOperator):
    """``A x = m * x`` for a 0/1 mask ``m`` of shape ``(H, W)`` or ``(C, H, W)`` (broadcast over the batch).

    ``A`` is a diagonal projection: ``A^T = A``, ``A^T A = A``, and the pseudo-inverse is ``A`` itself.
    The naive reconstruction is the zero-filled measurement.
    """

    def __init__(self, mask: torch.Tensor, noise=None):
        super().__init__(noise)
        self.mask = mask

    @property
    def mask(self) -> torch.Tensor:
        """The float64 0/1 mask; assigning a new one validates it (treat the tensor itself as read-only)."""
        return self._mask

    @mask.setter
    def mask(self, mask: torch.Tensor) -> None:
        mask = torch.as_tensor(mask, dtype=torch.float64)
        if mask.dim() not in (2, 3):
            raise PixelwiseError(
                f"inpainting mask must be (H, W) or (C, H, W), got shape {tuple(mask.shape)}."
            )
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise PixelwiseError(
                "inpainting mask must hold only 0 (removed) and 1 (kept); threshold it first."
            )
        if not bool(mask.any()):
            raise PixelwiseError("inpainting mask removes every pixel; keep at least one.")
        self._mask = mask
        # (dtype, shape, device) of the last input -> the mask cast to it as (1, C or 1, H, W), once checked
        # against that shape: A is one multiply, so converting, validating or even hashing a key on every call
        # would be a visible part of its time (and an (N, C, H, W) mask operand multiplies faster than (H, W))
        self._last: tuple | None = None
        self._casts: dict = {}  # (dtype, device, image shape) -> the same, for inputs that alternate in shape

    def _m(self, x):
        last = self._last
        if last is not None and type(x) is torch.Tensor and x.dtype is last[0] and x.shape == last[1] \
                and x.device == last[2]:
            return last[3]
        check_image(x, "Inpainting")
        key = (x.dtype, x.device, x.shape[1:])
        if key in self._casts:
            self._last = (x.dtype, x.shape, x.device, self._casts[key])
            return self._casts[key]
        m = self.mask
        if tuple(m.shape[-2:]) != tuple(x.shape[-2:]) or (m.dim() == 3 and m.shape[0] not in (1, x.shape[1])):
            raise PixelwiseError(
                f"inpainting mask of shape {tuple(m.shape)} does not match the image "
                f"{tuple(x.shape[1:])}; give a mask of the image's height and width."
            )
        cast = m.to(dtype=x.dtype, device=x.device).reshape(1, -1, *m.shape[-2:])  # (1, C or 1, H, W)
        self._last, self._casts[key] = (x.dtype, x.shape, x.device, cast), cast
        return cast

    def A(self, x):  # noqa: N802
        return x * self._m(x)

    def A_adjoint(self, y):  # noqa: N802
        return y * self._m(y)

    def normal(self, x):
        return self.A(x)

    def A_dagger(self, y):  # noqa: N802
        return self.A(y)

    def norm(self, shape, iterations=100, tol=1e-6, generator=None, dtype=torch.float64):
        return 1.0

"""The parameters a registration optimises: rigid, affine and dense deformable transforms of N image pairs.

Each is an ``nn.Module`` holding its parameters for a batch of N independent pairs. The linear part A and the
translation t are those of :mod:`pixelwise.registration.warp` (T(p) = A p + t + u(p), centred pixel coordinates);
the translation is stored in units of the fixed image's half size, so that it keeps its meaning when a
multi-resolution registration moves to a finer level (in pixels it doubles with the image).
"""

from __future__ import annotations

import torch
from torch import nn

from pixelwise.registration.warp import half_size, resize_field

LINEAR_KINDS = ("translation", "rigid", "affine")


class LinearTransform(nn.Module):
    """T(p) = A p + t for N pairs: ``translation`` (A = I; 2 parameters), ``rigid`` (A = [[cos a, -sin a],
    [sin a, cos a]]; with x to the right and y down, a positive angle turns clockwise on the screen; 3
    parameters) or ``affine`` (A any 2 x 2 matrix; 6 parameters). Starts at the identity."""

    def __init__(self, n: int, kind: str = "affine"):
        super().__init__()
        if kind not in LINEAR_KINDS:
            raise ValueError(f"transform {kind!r} is not known; use one of {', '.join(LINEAR_KINDS)}.")
        self.kind = kind
        self.shift = nn.Parameter(torch.zeros(n, 2))  # t / (W/2, H/2) of the fixed image
        if kind == "rigid":
            self.angle = nn.Parameter(torch.zeros(n))
        if kind == "affine":
            self.linear = nn.Parameter(torch.eye(2).repeat(n, 1, 1))

    def matrix(self) -> torch.Tensor:
        """A: (N, 2, 2)."""
        if self.kind == "affine":
            return self.linear
        n = self.shift.shape[0]
        if self.kind == "translation":
            return torch.eye(2, dtype=self.shift.dtype).repeat(n, 1, 1)
        c, s = torch.cos(self.angle), torch.sin(self.angle)
        return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)

    def translation(self, fixed_shape: tuple[int, int]) -> torch.Tensor:
        """t: (N, 2) in pixels of a fixed image of ``fixed_shape``."""
        return self.shift * half_size(fixed_shape, self.shift)


class Displacement(nn.Module):
    """A dense displacement field u (N, 2, h, w) in pixels of its grid (x, y components), starting at zero; its
    smoothness comes from the regulariser (:mod:`pixelwise.registration.regularisers`)."""

    def __init__(self, n: int, shape: tuple[int, int]):
        super().__init__()
        self.field = nn.Parameter(torch.zeros(n, 2, *shape))

    def resized(self, shape: tuple[int, int]) -> Displacement:
        """A new field on a grid of ``shape`` holding the same displacements (:func:`~.warp.resize_field`)."""
        out = Displacement(self.field.shape[0], shape)
        with torch.no_grad():
            out.field.copy_(resize_field(self.field, shape))
        return out

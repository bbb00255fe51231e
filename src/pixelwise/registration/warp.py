"""The one differentiable warp (``grid_sample``: the sampler of the spatial transformer, Jaderberg et al. 2015)
and the coordinates every transform here is written in.

Coordinates: a pixel (row i, column j) of an H x W image sits at the centred point p = (x, y) = (j + 1/2 - W/2,
i + 1/2 - H/2), in pixels. A transform maps fixed points to moving points, T(p) = A p + t + u(p) (A a 2 x 2
matrix, t a translation, u a displacement field sampled at p), and the warped moving image is
W(p) = M(T(p)): SimpleITK's convention with the origin at the image centre. ``grid_sample`` works in
normalised coordinates q = p / (W/2, H/2) (``align_corners=False``: -1 and 1 are the outer pixel edges), so
T becomes theta = [S_m^-1 A S_f | S_m^-1 t] with S = diag(W/2, H/2) of the fixed (f) and moving (m) images.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def half_size(shape: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
    """(W/2, H/2) of an (H, W) shape: the diagonal of S."""
    return torch.tensor([shape[1] / 2, shape[0] / 2], dtype=like.dtype, device=like.device)


def centred_points(shape: tuple[int, int], dtype=torch.float32) -> torch.Tensor:
    """(H, W, 2) centred coordinates (x, y) of every pixel of an (H, W) image."""
    h, w = shape
    y = torch.arange(h, dtype=dtype) + 0.5 - h / 2
    x = torch.arange(w, dtype=dtype) + 0.5 - w / 2
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    return torch.stack([xx, yy], dim=-1)


def affine_grid(matrix: torch.Tensor, translation: torch.Tensor, fixed_shape: tuple[int, int],
                moving_shape: tuple[int, int]) -> torch.Tensor:
    """(N, h, w, 2) normalised sampling grid of T(p) = A p + t: ``matrix`` (N, 2, 2), ``translation`` (N, 2) in
    pixels, for a fixed image of ``fixed_shape`` (h, w) and a moving image of ``moving_shape``."""
    s_f, s_m = half_size(fixed_shape, matrix), half_size(moving_shape, matrix)
    linear = matrix * s_f[None, None, :] / s_m[None, :, None]  # S_m^-1 A S_f
    theta = torch.cat([linear, (translation / s_m)[..., None]], dim=2)  # (N, 2, 3)
    n = matrix.shape[0]
    return F.affine_grid(theta, [n, 1, *fixed_shape], align_corners=False)


def displacement_grid(displacement: torch.Tensor, moving_shape: tuple[int, int]) -> torch.Tensor:
    """(N, 2, h, w) displacement in pixels (x, y components) -> (N, h, w, 2) in normalised units of the moving
    image, to add to a sampling grid."""
    return displacement.permute(0, 2, 3, 1) / half_size(moving_shape, displacement)


def warp(image: torch.Tensor, grid: torch.Tensor, mode: str = "bilinear", padding: str = "border") -> torch.Tensor:
    """W(p) = M(T(p)): ``image`` (N, C, H, W) sampled at ``grid`` (N, h, w, 2) -> (N, C, h, w). Outside the image the
    edge value continues (``border``) or zeros come in (``zeros``); ``nearest`` keeps labels as labels."""
    if grid.shape[0] != image.shape[0]:
        image = image.expand(grid.shape[0], *image.shape[1:])
    return F.grid_sample(image, grid.to(image.dtype), mode=mode, padding_mode=padding, align_corners=False)


def sample_field(field: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """A field (N, 2, H, W) on a grid, sampled bilinearly at centred ``points`` (N, P, 2) of that grid (edge values
    beyond it) -> (N, P, 2)."""
    q = points / half_size(field.shape[-2:], field)
    out = F.grid_sample(field, q[:, None], mode="bilinear", padding_mode="border", align_corners=False)
    return out[:, :, 0].transpose(1, 2)


def resize(image: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, h, w) by area averaging when shrinking (each output pixel the mean of the input area
    it covers, no aliasing) and bilinear interpolation when growing."""
    if tuple(image.shape[-2:]) == tuple(shape):
        return image
    if shape[0] <= image.shape[-2] and shape[1] <= image.shape[-1]:
        return F.interpolate(image, size=shape, mode="area")
    return F.interpolate(image, size=shape, mode="bilinear", align_corners=False)


def resize_field(displacement: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """A displacement field (N, 2, h, w) in pixels moved to another grid (N, 2, H, W): resampled bilinearly and
    scaled by the change of pixel size on each axis (x by W/w, y by H/h)."""
    h, w = displacement.shape[-2:]
    out = F.interpolate(displacement, size=shape, mode="bilinear", align_corners=False)
    scale = torch.tensor([shape[1] / w, shape[0] / h], dtype=out.dtype, device=out.device)
    return out * scale[None, :, None, None]

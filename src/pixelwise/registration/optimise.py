"""Registration by gradient descent through the warp: rigid, affine and dense deformable, for any similarity.

For N pairs at once (N independent problems: the loss is the sum of the pairs' losses, and Adam's steps are per
parameter), on a Gaussian-free image pyramid (area averaging halves each level; the coarsest level is at least
:data:`MIN_SIZE` pixels on a side), coarse to fine:

1. the linear part T(p) = A p + t (``translation``, ``rigid`` or ``affine``), Adam with a cosine-decaying step
   (``lr`` down to 1% of it at the end of each level), minimising the similarity loss;
2. for ``deformable``, then a dense displacement u on the fixed grid on top of it, T(p) = A p + t + u(p),
   minimising loss + weight * R(u) (R the diffusion or bending energy of u), the field carried to each finer
   level by :meth:`~pixelwise.registration.transforms.Displacement.resized`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from pixelwise.registration import similarity
from pixelwise.registration.regularisers import REGULARISERS, jacobian_determinant
from pixelwise.registration.transforms import LINEAR_KINDS, Displacement, LinearTransform
from pixelwise.registration.warp import (
    affine_grid,
    centred_points,
    displacement_grid,
    resize,
    sample_field,
    warp,
)

TRANSFORMS = (*LINEAR_KINDS, "deformable")
MIN_SIZE = 8


@dataclass
class Registration:
    """The transforms of N pairs at full resolution: T(p) = A p + t + u(p) (:mod:`pixelwise.registration.warp`)."""

    matrix: torch.Tensor  # (N, 2, 2)
    translation: torch.Tensor  # (N, 2) pixels
    displacement: torch.Tensor | None  # (N, 2, H, W) pixels on the fixed grid, or None
    fixed_shape: tuple[int, int]
    moving_shape: tuple[int, int]
    history: list[dict] = field(default_factory=list)

    def grid(self) -> torch.Tensor:
        """(N, H, W, 2) sampling grid of the fixed image's pixels in the moving image."""
        g = affine_grid(self.matrix, self.translation, self.fixed_shape, self.moving_shape)
        return g if self.displacement is None else g + displacement_grid(self.displacement, self.moving_shape)

    def warp(self, moving: torch.Tensor, mode: str = "bilinear", padding: str = "border") -> torch.Tensor:
        """The moving images (N, C, Hm, Wm) (or labels as float, with ``nearest``) on the fixed grid."""
        return warp(moving, self.grid(), mode, padding)

    def map_points(self, points: torch.Tensor) -> torch.Tensor:
        """T(p) of centred fixed points (N, P, 2) -> (N, P, 2) moving points."""
        out = points @ self.matrix.transpose(1, 2) + self.translation[:, None]
        return out if self.displacement is None else out + sample_field(self.displacement, points)

    def jacobian(self) -> torch.Tensor:
        """det of the Jacobian of T at every fixed pixel, (N, H, W) (:func:`~.regularisers.jacobian_determinant`)."""
        u = self.displacement if self.displacement is not None else torch.zeros(
            self.matrix.shape[0], 2, *self.fixed_shape, dtype=self.matrix.dtype)
        return jacobian_determinant(u, self.matrix)


def inverse_consistency(forward: Registration, backward: Registration) -> dict:
    """How far T_ba(T_ab(p)) lands from p, over every pixel p of the fixed image of ``forward`` (a -> b) and
    ``backward`` registered the other way (b -> a): mean and max in pixels, over all pairs (Christensen and
    Johnson 2001). 0 for exactly inverse transforms."""
    n = forward.matrix.shape[0]
    p = centred_points(forward.fixed_shape, forward.matrix.dtype).reshape(1, -1, 2).expand(n, -1, -1)
    error = (backward.map_points(forward.map_points(p)) - p).norm(dim=-1)
    return {"mean": float(error.mean()), "max": float(error.max())}


def pyramid_shapes(shape: tuple[int, int], levels: int) -> list[tuple[int, int]]:
    """Shapes from the coarsest to the full one, each level half the next (rounded), none below MIN_SIZE."""
    out = [tuple(shape)]
    for _ in range(levels - 1):
        nxt = (round(out[0][0] / 2), round(out[0][1] / 2))
        if min(nxt) < MIN_SIZE:
            break
        out.insert(0, nxt)
    return out


def _check(fixed: torch.Tensor, moving: torch.Tensor, transform: str, metric: str, regulariser: str) -> None:
    if fixed.dim() != 4 or moving.dim() != 4:
        raise ValueError(f"register takes (N, C, H, W) images, got {tuple(fixed.shape)} and {tuple(moving.shape)}.")
    if fixed.shape[1] != moving.shape[1]:
        raise ValueError(f"the fixed image has {fixed.shape[1]} channels and the moving one {moving.shape[1]}; "
                         "register images with the same channels (convert both to grey or both to RGB).")
    if fixed.shape[0] not in (1, moving.shape[0]):
        raise ValueError(f"{fixed.shape[0]} fixed images for {moving.shape[0]} moving ones; give one or as many.")
    for value, allowed, what in ((transform, TRANSFORMS, "transform"), (metric, similarity.MEASURES, "metric"),
                                 (regulariser, REGULARISERS, "regulariser")):
        if value not in allowed:
            raise ValueError(f"{what} {value!r} is not known; use one of {', '.join(allowed)}.")


def _cosine(lr: float, iteration: int, total: int) -> float:
    return lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * iteration / max(total, 1))))


def register(fixed: torch.Tensor, moving: torch.Tensor, transform: str = "affine", metric: str = "ncc",
             levels: int = 3, iterations: int = 150, lr: float = 0.02, regulariser: str = "diffusion",
             weight: float = 1.0, deformable_iterations: int | None = None, deformable_lr: float = 0.2,
             measure_options: dict | None = None, callback: Callable[[dict], None] | None = None) -> Registration:
    """Register ``moving`` (N, C, Hm, Wm) to ``fixed`` (1 or N, C, H, W), both floats (e.g. in [0, 1]), by the rule
    of the module docstring; ``metric``: ssd, sad, ncc, lncc or nmi (``measure_options`` such as ``bins`` or
    ``window``); ``callback`` gets a dict per level and stage. Returns the transforms at full resolution."""
    _check(fixed, moving, transform, metric, regulariser)
    fixed, moving = fixed.float(), moving.float()
    n, options = moving.shape[0], measure_options or {}
    f_shapes = pyramid_shapes(tuple(fixed.shape[-2:]), levels)
    m_shapes = [(max(1, round(moving.shape[-2] * s[0] / fixed.shape[-2])),
                 max(1, round(moving.shape[-1] * s[1] / fixed.shape[-1]))) for s in f_shapes]
    images = [(resize(fixed, fs), resize(moving, ms)) for fs, ms in zip(f_shapes, m_shapes)]
    linear = LinearTransform(n, "affine" if transform == "deformable" else transform)
    history: list[dict] = []
    for level, ((f, m), fs, ms) in enumerate(zip(images, f_shapes, m_shapes)):
        opt = torch.optim.Adam(linear.parameters(), lr=lr)
        for it in range(iterations):
            for group in opt.param_groups:
                group["lr"] = _cosine(lr, it, iterations)
            grid = affine_grid(linear.matrix(), linear.translation(fs), fs, ms)
            loss = similarity.loss(metric, f, warp(m, grid), **options).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        _record(history, callback, "linear", level, fs, float(loss.detach()) / n)
    with torch.no_grad():
        a, t = linear.matrix().detach().clone(), linear.translation(f_shapes[-1]).detach().clone()
    u = None
    if transform == "deformable":
        u = _deformable(images, f_shapes, m_shapes, a, linear, metric, options, regulariser, weight,
                        deformable_iterations or iterations, deformable_lr, history, callback)
    return Registration(a, t, u, f_shapes[-1], tuple(moving.shape[-2:]), history)


def _deformable(images, f_shapes, m_shapes, a, linear, metric, options, regulariser, weight, iterations, lr,
                history, callback) -> torch.Tensor:
    """The displacement field on top of the (fixed) linear part, coarse to fine; returns it at full size."""
    field_ = None
    for level, ((f, m), fs, ms) in enumerate(zip(images, f_shapes, m_shapes)):
        field_ = Displacement(a.shape[0], fs) if field_ is None else field_.resized(fs)
        with torch.no_grad():
            base = affine_grid(a, linear.translation(fs), fs, ms)
        opt = torch.optim.Adam(field_.parameters(), lr=lr)
        for it in range(iterations):
            for group in opt.param_groups:
                group["lr"] = _cosine(lr, it, iterations)
            warped = warp(m, base + displacement_grid(field_.field, ms))
            penalty = REGULARISERS[regulariser](field_.field)
            loss = (similarity.loss(metric, f, warped, **options) + weight * penalty).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        _record(history, callback, "deformable", level, fs, float(loss.detach()) / a.shape[0])
    return field_.field.detach()


def _record(history: list[dict], callback, stage: str, level: int, shape, loss: float) -> None:
    entry = {"stage": stage, "level": level, "shape": list(shape), "loss": loss}
    history.append(entry)
    if callback is not None:
        callback(entry)

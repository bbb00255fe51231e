"""The image distortions of Models Genesis, written on tensors: the pretext task restores the original image.

Z. Zhou et al., "Models Genesis: Generic Autodidactic Models for 3D Medical Image Analysis", MICCAI 2019, and the
journal version, Medical Image Analysis 67 (2021) 101840, section 2.1. Each image of a batch ``(N, C, H, W)`` in
[0, 1] goes through, independently and in this order:

1. a non-linear intensity transform with probability ``intensity_p`` (0.9): a cubic Bezier curve through (0, 0)
   and (1, 1) with two control points drawn uniformly in the unit square maps every value (the same curve on every
   channel); with probability 1/2 the curve is mirrored, v -> 1 - B(v), so that bright and dark swap;
2. local pixel shuffling with probability ``shuffle_p`` (0.5): ``shuffle_blocks`` small windows, each side drawn
   in [1, max(1, H // 10)], have their pixels permuted at random (all channels together);
3. painting with probability ``paint_p`` (0.9), in-painting with probability ``inpaint_p`` (0.2) of those, else
   out-painting: in-painting fills up to five windows (sides drawn in [H/6, H/3]; after the first, each further
   one with probability 0.95) with uniform noise; out-painting fills the whole image with uniform noise and puts
   back the original inside up to five windows (sides in [3H/7, 4H/7], the first always).

The network sees the distorted image and is trained to give back the original (mean squared error over all
pixels). Nothing is learned from intensities alone: the curve changes the colours, the shuffles the texture, the
painting the context; the restoration needs all three. All randomness comes from the ``generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

CURVE_POINTS = 1000  # samples of the Bezier curve; values between them are interpolated linearly
MORE_WINDOWS_P = 0.95  # after the first painting window, each further one (up to five) with this probability
MAX_WINDOWS = 5


@dataclass(frozen=True)
class GenesisConfig:
    """The probabilities of Models Genesis's four distortions (the paper's defaults) and the number of shuffled
    windows per image (the paper's 10,000 per 64 x 64 x 32 volume are many small cubes; 2-D images need fewer)."""

    intensity_p: float = 0.9
    shuffle_p: float = 0.5
    paint_p: float = 0.9
    inpaint_p: float = 0.2
    shuffle_blocks: int = 100

    def __post_init__(self):
        for name in ("intensity_p", "shuffle_p", "paint_p", "inpaint_p"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name}={getattr(self, name)} must be a probability in [0, 1].")
        if self.shuffle_blocks < 0:
            raise ValueError(f"shuffle_blocks={self.shuffle_blocks} must be >= 0.")


def _coin(p: float, g: torch.Generator) -> bool:
    return bool(torch.rand(1, generator=g).item() < p)


def _randint(low: int, high: int, g: torch.Generator) -> int:
    """An integer drawn uniformly in [low, high] (both included)."""
    return int(torch.randint(low, high + 1, (1,), generator=g).item())


def bezier_curve(p1: tuple[float, float], p2: tuple[float, float], points: int = CURVE_POINTS):
    """The cubic Bezier curve B(t) = (1-t)^3 P0 + 3(1-t)^2 t P1 + 3(1-t) t^2 P2 + t^3 P3 with P0 = (0, 0) and
    P3 = (1, 1), sampled at ``points`` values of t in [0, 1]: (x, y), each (points,), x made non-decreasing."""
    t = torch.linspace(0, 1, points, dtype=torch.float64)
    b1, b2, b3 = 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3
    x = b1 * p1[0] + b2 * p2[0] + b3
    y = b1 * p1[1] + b2 * p2[1] + b3
    return torch.cummax(x, 0).values, y


def apply_curve(v: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Values ``v`` in [0, 1] mapped through the curve (x, y) by linear interpolation between its samples."""
    flat = v.reshape(-1).to(torch.float64)
    i = torch.searchsorted(x, flat).clamp(1, len(x) - 1)
    x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
    w = ((flat - x0) / (x1 - x0).clamp(min=1e-12)).clamp(0, 1)
    return (y0 + w * (y1 - y0)).reshape(v.shape).to(v.dtype)


def intensity_transform(image: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """(C, H, W) in [0, 1] through a random Bezier curve, mirrored with probability 1/2 (see the module docstring)."""
    p = torch.rand(4, generator=g, dtype=torch.float64).tolist()
    x, y = bezier_curve((p[0], p[1]), (p[2], p[3]))
    out = apply_curve(image, x, y)
    return 1 - out if _coin(0.5, g) else out


def shuffle_windows(image: torch.Tensor, blocks: int, g: torch.Generator) -> torch.Tensor:
    """(C, H, W): ``blocks`` windows of sides in [1, max(1, H // 10)] x [1, max(1, W // 10)], each with its pixels
    permuted (the same permutation for every channel)."""
    out = image.clone()
    _, h, w = image.shape
    for _ in range(blocks):
        bh, bw = _randint(1, max(1, h // 10), g), _randint(1, max(1, w // 10), g)
        top, left = _randint(0, h - bh, g), _randint(0, w - bw, g)
        window = out[:, top:top + bh, left:left + bw].reshape(len(out), -1)
        order = torch.randperm(bh * bw, generator=g)
        out[:, top:top + bh, left:left + bw] = window[:, order].reshape(len(out), bh, bw)
    return out


def _window(h: int, w: int, low: float, high: float, g: torch.Generator) -> tuple[slice, slice]:
    bh = _randint(max(1, int(low * h)), max(1, int(high * h)), g)
    bw = _randint(max(1, int(low * w)), max(1, int(high * w)), g)
    top, left = _randint(0, h - bh, g), _randint(0, w - bw, g)
    return slice(top, top + bh), slice(left, left + bw)


def _count(g: torch.Generator) -> int:
    """One window, then each further one (up to MAX_WINDOWS) with probability MORE_WINDOWS_P."""
    n = 1
    while n < MAX_WINDOWS and _coin(MORE_WINDOWS_P, g):
        n += 1
    return n


def inpaint(image: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """(C, H, W) with up to five windows (sides in [H/6, H/3]) filled with uniform noise."""
    out = image.clone()
    _, h, w = image.shape
    for _ in range(_count(g)):
        rows, cols = _window(h, w, 1 / 6, 1 / 3, g)
        out[:, rows, cols] = torch.rand(out[:, rows, cols].shape, generator=g, dtype=out.dtype)
    return out


def outpaint(image: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """(C, H, W) of uniform noise but inside up to five windows (sides in [3H/7, 4H/7]), which keep the image."""
    out = torch.rand(image.shape, generator=g, dtype=image.dtype)
    _, h, w = image.shape
    for _ in range(_count(g)):
        rows, cols = _window(h, w, 3 / 7, 4 / 7, g)
        out[:, rows, cols] = image[:, rows, cols]
    return out


def genesis_distort(x: torch.Tensor, config: GenesisConfig, g: torch.Generator) -> torch.Tensor:
    """Models Genesis's distortion of each image of ``x`` (N, C, H, W) in [0, 1] -> (N, C, H, W) in [0, 1]."""
    out = []
    for image in x:
        if _coin(config.intensity_p, g):
            image = intensity_transform(image, g)
        if _coin(config.shuffle_p, g):
            image = shuffle_windows(image, config.shuffle_blocks, g)
        if _coin(config.paint_p, g):
            image = inpaint(image, g) if _coin(config.inpaint_p, g) else outpaint(image, g)
        out.append(image)
    return torch.stack(out).clamp(0, 1)

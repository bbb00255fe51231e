"""Random-ellipse phantoms: the standard synthetic training set for CT and MRI reconstruction.

Each phantom is a sum of ``count`` random ellipses with additive intensities on [-1, 1]^2 (like the
Shepp-Logan table, :mod:`pixelwise.data.samples`), the whole image clipped and scaled into [0, 1]. A
large low-contrast "body" ellipse comes first, then smaller structures of either sign. Everything is
drawn from the ``generator`` (the same seed gives the same phantoms).
"""

from __future__ import annotations

import math

import torch

from pixelwise.errors import PixelwiseError


def random_ellipses(n: int, size: int, generator: torch.Generator, count: tuple[int, int] = (4, 10)) -> torch.Tensor:
    """``n`` phantoms ``(n, 1, size, size)`` float32 in [0, 1]; between ``count[0]`` and ``count[1]`` inner
    ellipses each, inside one body ellipse."""
    if int(n) != n or n < 1:
        raise PixelwiseError(f"number of phantoms {n} must be a whole number >= 1.")
    if int(size) != size or size < 4:
        raise PixelwiseError(f"phantom size {size} must be a whole number >= 4.")
    if not 0 <= count[0] <= count[1]:
        raise PixelwiseError(f"ellipse count range {count} must satisfy 0 <= low <= high.")
    coords = (torch.arange(size, dtype=torch.float64) + 0.5) / size * 2 - 1  # pixel centres in [-1, 1]
    yy, xx = -coords[:, None], coords[None, :]  # rows go down, y goes up

    def u(low, high):
        return low + (high - low) * float(torch.rand((), generator=generator, dtype=torch.float64))

    def ellipse(a, b, x0, y0, phi):
        c, s = math.cos(phi), math.sin(phi)
        p = (xx - x0) * c + (yy - y0) * s  # the ellipse's own axes
        q = -(xx - x0) * s + (yy - y0) * c
        return ((p / a) ** 2 + (q / b) ** 2 <= 1.0).to(torch.float64)

    out = torch.zeros(n, 1, size, size, dtype=torch.float64)
    for i in range(n):
        img = u(0.3, 0.6) * ellipse(u(0.6, 0.9), u(0.6, 0.9), u(-0.05, 0.05), u(-0.05, 0.05), u(0, math.pi))
        k = int(torch.randint(count[0], count[1] + 1, (), generator=generator))
        for _ in range(k):
            r = math.hypot(u(-0.5, 0.5), u(-0.5, 0.5))
            angle = u(0, 2 * math.pi)
            img = img + u(-0.3, 0.4) * ellipse(u(0.04, 0.3), u(0.04, 0.3), r * math.cos(angle),
                                               r * math.sin(angle), u(0, math.pi))
        out[i, 0] = img.clamp(0, 1)
    return out.to(torch.float32)

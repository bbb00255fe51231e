"""Corruptions C(x_tilde | x) for denoising autoencoders (Vincent, Larochelle, Bengio and Manzagol,
"Extracting and Composing Robust Features with Denoising Autoencoders", ICML 2008).

All take images in [0, 1] of any shape and an explicit ``generator``; the clean image stays the target.
"""

from __future__ import annotations

import torch


def gaussian_noise(x: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """x_tilde = x + sigma * n, n ~ N(0, I) (not clipped, so the noise stays zero-mean)."""
    if sigma < 0:
        raise ValueError(f"sigma={sigma} must be >= 0.")
    return x + sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype)


def masking(x: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Masking noise: each pixel is set to 0 with probability p (Vincent et al. 2008, section 2.3)."""
    _check_p(p)
    keep = torch.rand(x.shape, generator=generator) >= p
    return x * keep.to(x.dtype)


def salt_and_pepper(x: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each pixel is, with probability p, replaced by 0 or 1 (a fair coin decides which)."""
    _check_p(p)
    hit = torch.rand(x.shape, generator=generator) < p
    value = (torch.rand(x.shape, generator=generator) < 0.5).to(x.dtype)
    return torch.where(hit, value, x)


def _check_p(p: float) -> None:
    if not 0 <= p <= 1:
        raise ValueError(f"corruption probability p={p} must lie in [0, 1].")


CORRUPTIONS = {"gaussian": gaussian_noise, "masking": masking, "salt_pepper": salt_and_pepper}


def corrupt(x: torch.Tensor, kind: str, level: float,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the corruption ``kind`` (see ``CORRUPTIONS``) with its level (sigma or p)."""
    try:
        fn = CORRUPTIONS[kind]
    except KeyError:
        raise ValueError(f"corruption {kind!r} is not known; use one of {', '.join(CORRUPTIONS)}.") from None
    return fn(x, level, generator)


__all__ = ["CORRUPTIONS", "corrupt", "gaussian_noise", "masking", "salt_and_pepper"]

"""Noise models for simulated measurements ``y = noise(A x)``.

Each model is a small callable ``noise(y, generator=None) -> y_noisy``; randomness comes only from the
``generator`` passed in. For complex k-space stored as two real numbers (MRI), Gaussian noise of
standard deviation ``sigma`` is added to the real and the imaginary part independently.
"""

from __future__ import annotations

import torch

from pixelwise.errors import PixelwiseError


class NoiseModel:
    """Base class: the identity (no noise)."""

    def __call__(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return y

    def describe(self) -> dict:
        return {"noise": "none"}


class NoNoise(NoiseModel):
    """Noise-free measurements."""


class GaussianNoise(NoiseModel):
    """Additive white Gaussian noise: ``y + sigma * n``, ``n ~ N(0, I)``.

    ``sigma`` is in the units of the measurement (for images in [0, 1], sigma = 25/255 is the
    denoising literature's "sigma = 25"). ``sigma = 0`` gives noise-free measurements.
    """

    def __init__(self, sigma: float):
        sigma = float(sigma)
        if not sigma >= 0.0:  # also catches NaN
            raise PixelwiseError(f"noise sigma {sigma} must be >= 0 (use 0 for noise-free measurements).")
        self.sigma = sigma

    def __call__(self, y, generator=None):
        if self.sigma == 0.0:
            return y
        n = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
        return y + self.sigma * n

    def describe(self):
        return {"noise": "gaussian", "sigma": self.sigma}


class PoissonNoise(NoiseModel):
    """Photon-counting noise: ``y_noisy = Poisson(peak * y) / peak`` for non-negative ``y``.

    ``peak`` is the expected photon count at measurement value 1 (larger peak -> less noise; the
    variance at value v is v / peak). Negative measurements cannot be photon counts and raise.
    """

    def __init__(self, peak: float):
        peak = float(peak)
        if not peak > 0.0:
            raise PixelwiseError(f"Poisson peak {peak} must be > 0 (photons at measurement value 1).")
        self.peak = peak

    def __call__(self, y, generator=None):
        if bool((y < 0).any()):
            raise PixelwiseError(
                "Poisson noise needs non-negative measurements; clamp the image to [0, 1] "
                "or use Gaussian noise for this operator."
            )
        return torch.poisson(y * self.peak, generator=generator) / self.peak

    def describe(self):
        return {"noise": "poisson", "peak": self.peak}

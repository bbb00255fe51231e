"""DCGAN-style generator and discriminator for small grey images, and a small digit classifier.

- :class:`Generator`: z (N, d) -> linear -> (2b, h2, w2) -> two stride-2 transposed convolutions with
  BatchNorm and ReLU -> tanh image in [-1, 1] (Radford, Metz and Chintala, "Unsupervised Representation
  Learning with Deep Convolutional Generative Adversarial Networks", ICLR 2016).
- :class:`Discriminator`: two stride-2 convolutions with LeakyReLU(0.2) -> linear -> one logit (a score
  for WGAN). ``norm="batch"`` for the DCGAN; ``norm="none"`` for the WGAN-GP critic, whose gradient
  penalty is defined per sample and so must not mix samples through BatchNorm (Gulrajani et al. 2017).
- :class:`DigitClassifier`: the same convolutional trunk with a 10-way head, used to measure the mode
  coverage of generated digits.

Shapes: sizes H, W >= 4; each stride-2 stage rounds up (28 -> 14 -> 7, 13 -> 7 -> 4) and the transposed
convolutions take ``output_padding`` = 1 - (size before the stage) % 2 to land exactly on H, W.
"""

from __future__ import annotations

import torch
from torch import nn


def _down(size: int) -> int:
    return (size + 1) // 2


def _check_shape(shape) -> tuple[int, int, int]:
    if len(shape) != 3 or min(shape) < 1 or shape[1] < 4 or shape[2] < 4:
        raise ValueError(f"image shape {tuple(shape)} must be (C, H, W) with H, W >= 4.")
    return tuple(int(s) for s in shape)


class Generator(nn.Module):
    """z (N, latent_dim) -> images (N, C, H, W) in [-1, 1]."""

    def __init__(self, shape: tuple[int, int, int], latent_dim: int = 64, base: int = 64):
        super().__init__()
        c, h, w = _check_shape(shape)
        if latent_dim < 1 or base < 1:
            raise ValueError(f"latent_dim={latent_dim} and base={base} must be >= 1.")
        self.shape, self.latent_dim = (c, h, w), latent_dim
        h1, w1 = _down(h), _down(w)
        h2, w2 = _down(h1), _down(w1)
        self.project = nn.Sequential(nn.Linear(latent_dim, 2 * base * h2 * w2),
                                     nn.Unflatten(1, (2 * base, h2, w2)),  # (N, 2b, h2, w2)
                                     nn.BatchNorm2d(2 * base), nn.ReLU())
        half = max(base // 2, 1)
        self.body = nn.Sequential(
            nn.ConvTranspose2d(2 * base, base, 3, 2, 1, output_padding=(1 - h1 % 2, 1 - w1 % 2)),
            nn.BatchNorm2d(base), nn.ReLU(),
            nn.ConvTranspose2d(base, half, 3, 2, 1, output_padding=(1 - h % 2, 1 - w % 2)),  # (N, b/2, H, W)
            nn.BatchNorm2d(half), nn.ReLU(),
            nn.Conv2d(half, c, 3, padding=1), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(z))


NORMS = ("batch", "group", "none")


def _norm(norm: str, channels: int) -> nn.Module:
    """Batch norm, group norm (groups of 4 channels where they divide, Wu and He 2018: per example, as DP-SGD's
    per-example gradients need) or none."""
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "group":
        return nn.GroupNorm(channels // 4 if channels % 4 == 0 else 1, channels)
    return nn.Identity()


class _Trunk(nn.Module):
    def __init__(self, shape: tuple[int, int, int], base: int, norm: str):
        super().__init__()
        c, h, w = _check_shape(shape)
        if norm not in NORMS:
            raise ValueError(f"norm={norm!r} must be one of {', '.join(NORMS)}.")
        h2, w2 = _down(_down(h)), _down(_down(w))
        self.net = nn.Sequential(
            nn.Conv2d(c, base, 3, 2, 1), nn.LeakyReLU(0.2),  # (N, b, h1, w1)
            nn.Conv2d(base, 2 * base, 3, 2, 1),  # (N, 2b, h2, w2)
            _norm(norm, 2 * base), nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.features = 2 * base * h2 * w2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Discriminator(nn.Module):
    """images (N, C, H, W) -> logits or critic scores (N,)."""

    def __init__(self, shape: tuple[int, int, int], base: int = 64, norm: str = "batch"):
        super().__init__()
        self.trunk = _Trunk(shape, base, norm)
        self.head = nn.Linear(self.trunk.features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x)).squeeze(1)


class DigitClassifier(nn.Module):
    """images (N, C, H, W) -> class logits (N, num_classes). ``norm``: batch (the judge's), group or none."""

    def __init__(self, shape: tuple[int, int, int], num_classes: int = 10, base: int = 32, norm: str = "batch"):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes={num_classes} must be >= 2.")
        self.trunk = _Trunk(shape, base, norm)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(self.trunk.features, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


class GAN(nn.Module):
    """A generator and a discriminator in one module (one state dict, one checkpoint)."""

    def __init__(self, shape: tuple[int, int, int], latent_dim: int = 64, base: int = 64,
                 norm: str = "batch"):
        super().__init__()
        self.generator = Generator(shape, latent_dim, base)
        self.discriminator = Discriminator(shape, base, norm)
        self.latent_dim = latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, d) -> generated images (N, C, H, W) in [-1, 1]."""
        return self.generator(z)


__all__ = ["GAN", "DigitClassifier", "Discriminator", "Generator"]

"""Reconstruction networks that know the forward operator or its naive inverse.

- :class:`ResidualUNet`: ``x = x0 + UNet(x0)`` applied to the naive reconstruction ``x0`` (adjoint,
  zero-filled k-space, filtered back-projection), the post-processing approach of Jin, McCann, Froustey &
  Unser (2017), "Deep Convolutional Neural Network for Inverse Problems in Imaging", IEEE TIP 26(9).
  For denoising (``x0`` the noisy image) it is a residual U-Net denoiser in the manner of DRUNet (Zhang, Li,
  Zuo, Zhang, Van Gool & Timofte 2021, "Plug-and-Play Image Restoration with Deep Denoiser Prior", IEEE
  TPAMI). On a CPU it learns faster than DnCNN: most of its convolutions run at reduced resolution, so a
  training step of the default (depth 3, 32 channels) costs about a third of DnCNN-17's (64 channels) per pixel,
  and its receptive field is larger.
- :class:`Unrolled`: K iterations of a gradient step on 1/2 ||A x - y||^2 followed by a learned CNN
  correction, trained end to end (Adler & Oektem 2017, "Solving ill-posed inverse problems using
  iterative deep neural networks", Inverse Problems 33; Gregor & LeCun 2010 for the unrolling idea).
- :class:`DIPNet`: the randomly initialised encoder-decoder of the deep image prior (Ulyanov, Vedaldi &
  Lempitsky 2018, "Deep Image Prior", CVPR); the fitting loop is ``pixelwise.solvers.dip``.

The operator is any object with ``A(x)``, ``A_adjoint(y)`` and ``naive(y)`` (``pixelwise.physics``);
this file imports only torch.
"""

from __future__ import annotations

import torch
from torch import nn

from pixelwise.models.restoration import with_noise_map
from pixelwise.models.unet import UNet


class ResidualUNet(nn.Module):
    """``(N, C, H, W) -> (N, C, H, W)``: ``x0 + UNet(x0)`` for any H, W (the U-Net pads internally).

    The U-Net's 1x1 head starts at zero, so the untrained network returns the naive reconstruction. With
    ``noise_map`` it is told the noise level, ``x0 + UNet([x0, sigma])`` (:func:`~pixelwise.models.restoration.
    with_noise_map`), as DRUNet is."""

    def __init__(self, channels: int = 1, depth: int = 3, base_channels: int = 32, norm: str = "batch",
                 noise_map: bool = False):
        super().__init__()
        self.noise_map = bool(noise_map)
        self.unet = UNet(channels + self.noise_map, channels, depth=depth, base_channels=base_channels,
                         padding="same", norm=norm)
        nn.init.zeros_(self.unet.head.weight)  # start as the identity: the naive reconstruction itself
        nn.init.zeros_(self.unet.head.bias)

    def forward(self, x0: torch.Tensor, sigma: float | torch.Tensor | None = None) -> torch.Tensor:
        """``(N, C, H, W)`` naive reconstruction -> ``(N, C, H, W)`` corrected image; ``sigma`` (a number or (N,))
        is required with a noise map and refused without one."""
        if sigma is not None and not self.noise_map:
            raise ValueError("this U-Net has no noise map and cannot be told sigma; build it with noise_map=True.")
        return x0 + self.unet(with_noise_map(x0, sigma) if self.noise_map else x0)

    def mapped(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C + 1, H, W)`` image with its noise-level map as the last channel -> ``(N, C, H, W)``; with a
        constant map this is ``forward``."""
        return x[:, :-1] + self.unet(x)


def _small_cnn(channels: int, width: int, layers: int) -> nn.Sequential:
    """``layers`` 3x3 convolutions, ReLU between: ``(N, C, H, W) -> (N, C, H, W)``; last layer zero so the
    correction starts at 0 and an untrained network is plain Landweber."""
    mods: list[nn.Module] = []
    c = channels
    for _ in range(layers - 1):
        mods += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU(inplace=True)]
        c = width
    last = nn.Conv2d(c, channels, 3, padding=1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    mods.append(last)
    return nn.Sequential(*mods)


class Unrolled(nn.Module):
    """Unrolled gradient descent with learned corrections: measurement ``y`` -> ``(N, C, H, W)`` image.

    ``x_0 = naive(y)``, then for k = 1..K::

        z     = x - eta_k A^T (A x - y)          (a Landweber step, pixelwise.solvers.landweber (L1))
        x     = z + g_k(z)                       (a learned CNN correction)

    Args:
        physics: the forward operator (``A``, ``A_adjoint``, ``naive``); can be replaced by passing
            ``physics=`` to :meth:`forward` (e.g. another mask or image size) or assigning ``.physics``.
        iterations: K.
        step: initial eta (learned, one per iteration, kept positive by a softplus); use
            ``1 / ||A||^2`` (``pixelwise.solvers.landweber.default_step``).
        shared: one CNN for every iteration (weight sharing) or K separate ones.
        width, layers: size of each correction CNN.
    """

    def __init__(self, physics, channels: int = 1, iterations: int = 5, step: float = 1.0, shared: bool = False,
                 width: int = 32, layers: int = 4):
        super().__init__()
        if int(iterations) != iterations or iterations < 1:
            raise ValueError(f"iterations={iterations} must be a whole number >= 1.")
        if not step > 0:
            raise ValueError(f"step={step} must be > 0 (1 / ||A||^2 is safe).")
        if layers < 1 or width < 1:
            raise ValueError(f"layers={layers} and width={width} must be >= 1.")
        self.physics, self.iterations, self.shared = physics, int(iterations), shared
        n = 1 if shared else self.iterations
        self.nets = nn.ModuleList(_small_cnn(channels, width, layers) for _ in range(n))
        # eta_k = softplus(s_k); initialise so that eta_k = step (the inverse softplus of step)
        s0 = torch.log(torch.expm1(torch.tensor(float(step), dtype=torch.float64))).float()
        self.raw_step = nn.Parameter(s0.repeat(self.iterations))

    def steps(self) -> torch.Tensor:
        """The K step sizes eta_k > 0."""
        return nn.functional.softplus(self.raw_step)

    def forward(self, y: torch.Tensor, physics=None) -> torch.Tensor:
        """Measurement ``y`` (the operator's shape) -> image ``(N, C, H, W)``."""
        op = physics if physics is not None else self.physics
        if op is None:
            raise ValueError("Unrolled needs a forward operator: pass physics= or set model.physics.")
        eta = self.steps()
        x = op.naive(y).to(y.dtype)
        for k in range(self.iterations):
            z = x - eta[k] * op.A_adjoint(op.A(x) - y)  # gradient step on 1/2 ||A x - y||^2
            x = z + self.nets[0 if self.shared else k](z)  # learned correction
        return x


class DIPNet(nn.Module):
    """The deep-image-prior generator psi(z; w): ``(N, C_z, H, W) -> (N, C, H, W)``.

    A U-Net encoder-decoder (Ulyanov et al. used an hourglass with skips; the U-Net is that family) with
    a sigmoid output so images stay in [0, 1]. The input ``z`` is fixed random noise.
    """

    def __init__(self, channels: int = 1, noise_channels: int = 8, depth: int = 3, base_channels: int = 16):
        super().__init__()
        self.noise_channels = noise_channels
        self.unet = UNet(noise_channels, channels, depth=depth, base_channels=base_channels, padding="same",
                         norm="batch", up="bilinear")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``(N, C_z, H, W)`` noise -> ``(N, C, H, W)`` image in (0, 1)."""
        return torch.sigmoid(self.unet(z))

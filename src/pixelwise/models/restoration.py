"""Plain convolutional restoration networks: DnCNN, SRCNN, VDSR and a post-upsampling SR net.

Every network maps images to images, ``(N, C, H, W) -> (N, C, H', W')``, and works for any H, W (all
convolutions are zero-padded "same"; odd sizes need no special care).

- DnCNN: Zhang, Zuo, Chen, Meng & Zhang (2017), "Beyond a Gaussian Denoiser: Residual Learning of Deep
  CNN for Image Denoising", IEEE TIP 26(7). Conv+ReLU, (D - 2) x (Conv+BN+ReLU), Conv; the network
  predicts the noise v = f(y) and the estimate is ``y - f(y)`` (residual learning).
- SRCNN: Dong, Loy, He & Tang (2015), "Image Super-Resolution Using Deep Convolutional Networks",
  IEEE TPAMI 38(2). Three layers 9-1-5 (64 and 32 feature maps) on the bicubic-upsampled image.
- VDSR: Kim, Lee & Lee (2016), "Accurate Image Super-Resolution Using Very Deep Convolutional Networks",
  CVPR. 20 3x3 layers of 64 channels on the upsampled image, global residual ``x = y + f(y)``.
- PostUpsample: features computed at low resolution, then upsampled at the end by sub-pixel convolution
  (pixel shuffle; Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution Using an Efficient
  Sub-Pixel Convolutional Neural Network", CVPR) or a learned transposed convolution (Dong, Loy & Tang
  2016, FSRCNN, ECCV), plus a bicubic skip so that the network learns only the missing detail.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def zero_last(layer: nn.Module) -> nn.Module:
    """Zero a layer's weights and bias: a residual network then starts as the identity (or as the bicubic
    skip), so a short CPU training never starts worse than its input. (The papers used random
    initialisations; this changes only the starting point, not the architecture.)"""
    nn.init.zeros_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def he_init(layers: nn.Module) -> nn.Module:
    """He et al. (ICCV 2015) initialisation of every convolution in ``layers``: weights N(0, 2 / fan_in),
    biases zero, so that a plain ReLU stack keeps the scale of its input from layer to layer.

    VDSR's paper trains with it (Kim et al. 2016, sec. 4.1). PyTorch's default (uniform weights of variance
    1 / (3 fan_in) and random biases) divides the mean square of the weight-driven part of the signal by
    about 6 per ReLU layer, so a deep stack without normalisation starts with features made mostly of its
    random biases."""
    for layer in layers.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return layers


def with_noise_map(y: torch.Tensor, sigma: float | torch.Tensor | None) -> torch.Tensor:
    """``(N, C, H, W) -> (N, C + 1, H, W)``: ``y`` with a last channel holding each image's noise level ``sigma``
    (a number, or one per image, (N,)), the noise-level map of FFDNet (Zhang, Zuo & Zhang 2018, "FFDNet: Toward a
    Fast and Flexible Solution for CNN-Based Image Denoising", IEEE TIP 27(9)) and DRUNet (Zhang et al. 2021)."""
    if sigma is None:
        raise ValueError("this network is told the noise level: pass sigma (a number or one per image).")
    level = torch.as_tensor(sigma, dtype=y.dtype, device=y.device).reshape(-1, 1, 1, 1)
    if level.shape[0] not in (1, y.shape[0]):
        raise ValueError(f"{level.shape[0]} noise levels for {y.shape[0]} images; give one, or one per image.")
    return torch.cat([y, level.expand(y.shape[0], 1, *y.shape[-2:])], dim=1)


def _check_positive(**sizes: int) -> None:
    bad = {k: v for k, v in sizes.items() if int(v) != v or v < 1}
    if bad:
        raise ValueError(f"sizes must be whole numbers >= 1, got {bad}.")


class DnCNN(nn.Module):
    """DnCNN (Zhang et al. 2017): ``(N, C, H, W) -> (N, C, H, W)``, estimate ``y - f(y)``.

    Args:
        channels: 1 for grey, 3 for colour images.
        depth: number of convolution layers D (17 in the paper for known sigma, 20 for blind).
        width: feature maps per layer (64 in the paper).
        batch_norm: batch normalisation in the middle layers (the paper's choice).
        noise_map: the network is told the noise level: ``forward(y, sigma)`` feeds ``y`` with a noise-level map
            as one more input channel (:func:`with_noise_map`; FFDNet's way of telling it), and the
            residual stays ``y - f([y, sigma])``.
    The last layer starts at zero (:func:`zero_last`), so an untrained DnCNN returns its input.
    Without a noise map, blind or non-blind denoising is a matter of the training data (one sigma or a range).
    """

    def __init__(self, channels: int = 1, depth: int = 17, width: int = 64, batch_norm: bool = True,
                 noise_map: bool = False):
        super().__init__()
        _check_positive(channels=channels, width=width)
        if depth < 2:
            raise ValueError(f"DnCNN depth={depth} must be >= 2 (first and last layer).")
        self.noise_map = bool(noise_map)
        layers: list[nn.Module] = [nn.Conv2d(channels + self.noise_map, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm)]
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
        layers.append(zero_last(nn.Conv2d(width, channels, 3, padding=1)))
        self.body = nn.Sequential(*layers)

    def noise(self, y: torch.Tensor, sigma: float | torch.Tensor | None = None) -> torch.Tensor:
        """The predicted noise ``f(y)``: ``(N, C, H, W)`` (``sigma``: the noise level, with a noise map only)."""
        return self.body(with_noise_map(y, sigma) if self.noise_map else y)

    def forward(self, y: torch.Tensor, sigma: float | torch.Tensor | None = None) -> torch.Tensor:
        """``(N, C, H, W)`` noisy -> ``(N, C, H, W)`` estimate ``y - f(y)``; ``sigma`` (a number or (N,), image
        units) is required with a noise map and refused without one."""
        if sigma is not None and not self.noise_map:
            raise ValueError("this DnCNN has no noise map and cannot be told sigma; build it with noise_map=True.")
        return y - self.noise(y, sigma)

    def mapped(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C + 1, H, W)`` noisy image with its noise-level map as the last channel (any map, as FFDNet
        takes) -> ``(N, C, H, W)`` estimate; with a constant map this is ``forward``."""
        return x[:, :-1] - self.body(x)


class SRCNN(nn.Module):
    """SRCNN (Dong et al. 2015), the 9-1-5 network: ``(N, C, H, W) -> (N, C, H, W)``.

    The input is the bicubic-upsampled low-resolution image (pre-upsampling). No residual, so no zero
    initialisation: the paper's plain network. Layers: 9x9 conv to
    ``f1`` maps (patch extraction), 1x1 conv to ``f2`` maps (non-linear mapping), 5x5 conv back to ``C``
    (reconstruction). The paper used no padding (the output was smaller); here the convolutions are
    zero-padded so the output has the input's size.
    """

    def __init__(self, channels: int = 1, f1: int = 64, f2: int = 32, kernels: tuple[int, int, int] = (9, 1, 5)):
        super().__init__()
        _check_positive(channels=channels, f1=f1, f2=f2)
        if any(k < 1 or k % 2 == 0 for k in kernels):
            raise ValueError(f"SRCNN kernels {kernels} must be odd (e.g. 9, 1, 5).")
        k1, k2, k3 = kernels
        self.body = nn.Sequential(
            nn.Conv2d(channels, f1, k1, padding=k1 // 2), nn.ReLU(inplace=True),
            nn.Conv2d(f1, f2, k2, padding=k2 // 2), nn.ReLU(inplace=True),
            nn.Conv2d(f2, channels, k3, padding=k3 // 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` upsampled image -> ``(N, C, H, W)`` restored image."""
        return self.body(x)


class VDSR(nn.Module):
    """VDSR (Kim et al. 2016): ``(N, C, H, W) -> (N, C, H, W)``, ``x = y + f(y)`` on the upsampled image.

    ``depth`` 3x3 layers (20 in the paper) of ``width`` channels (64), ReLU between, no normalisation;
    He initialisation as in the paper (:func:`he_init`), the last layer starts at zero (:func:`zero_last`).
    """

    def __init__(self, channels: int = 1, depth: int = 20, width: int = 64):
        super().__init__()
        _check_positive(channels=channels, width=width)
        if depth < 2:
            raise ValueError(f"VDSR depth={depth} must be >= 2.")
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True)]
        he_init(nn.Sequential(*layers))
        layers.append(zero_last(nn.Conv2d(width, channels, 3, padding=1)))
        self.body = nn.Sequential(*layers)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` upsampled image -> ``(N, C, H, W)``: the global residual ``y + f(y)``."""
        return y + self.body(y)


UPSAMPLERS = ("shuffle", "transpose")


class PostUpsample(nn.Module):
    """Post-upsampling super-resolution: ``(N, C, h, w) -> (N, C, scale*h, scale*w)``.

    ``depth`` 3x3 conv+ReLU layers of ``width`` maps at low resolution (the cheap part: ``scale**2``
    fewer pixels than a pre-upsampling net; He-initialised, :func:`he_init`), then either

    - ``up="shuffle"``: a 3x3 conv to ``C * scale**2`` maps and ``pixel_shuffle`` (Shi et al. 2016), or
    - ``up="transpose"``: a transposed convolution with kernel ``2 * scale`` and stride ``scale``,
      cropped to exactly ``scale * h`` (FSRCNN's deconvolution layer),

    plus, with ``residual=True``, a bicubic upsampling of the input (``F.interpolate``; a skip, not the
    MATLAB kernel) so that the network only learns the missing high frequencies.
    """

    def __init__(self, channels: int = 1, scale: int = 3, depth: int = 8, width: int = 64, up: str = "shuffle",
                 residual: bool = True):
        super().__init__()
        _check_positive(channels=channels, scale=scale, depth=depth, width=width)
        if up not in UPSAMPLERS:
            raise ValueError(f"up={up!r} is not known; use one of {', '.join(UPSAMPLERS)}.")
        self.scale, self.residual, self.up_kind = int(scale), residual, up
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 1):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True)]
        self.features = he_init(nn.Sequential(*layers))
        if up == "shuffle":
            self.up = nn.Sequential(nn.Conv2d(width, channels * self.scale**2, 3, padding=1),
                                    nn.PixelShuffle(self.scale))
        else:
            # output size (h - 1) * s - 2 p + k = s h for k = 2 s, p = s / 2 (even s); odd s is cropped below
            self.up = nn.ConvTranspose2d(width, channels, 2 * self.scale, stride=self.scale,
                                         padding=self.scale // 2)
        if residual:
            zero_last(self.up[0] if up == "shuffle" else self.up)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """``(N, C, h, w)`` low-resolution image -> ``(N, C, scale*h, scale*w)``."""
        h, w = y.shape[-2:]
        out = self.up(self.features(y))  # (N, C, ~s h, ~s w)
        out = out[..., : self.scale * h, : self.scale * w]  # odd scale with a transposed conv: one extra row
        if self.residual:
            out = out + F.interpolate(y, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return out

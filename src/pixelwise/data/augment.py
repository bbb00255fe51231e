"""Joint augmentation of images and masks on batches of tensors (fast: no per-pixel Python).

Geometric transforms (flips, 90-degree rotations, random resized crops) move the image and its mask
together; photometric ones (brightness, contrast) touch the image only. Masks are resampled by nearest
neighbour so that labels stay labels. All randomness comes from an explicit ``torch.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    flip: bool = True
    rot90: bool = True
    crop_scale: tuple[float, float] = (0.6, 1.0)  # area fraction of random resized crops; (1, 1) turns off
    crop_probability: float = 0.5
    brightness: float = 0.1  # added offset drawn from U(-b, b), images in [0, 1]
    contrast: float = 0.1  # gain drawn from U(1 - c, 1 + c) around the image mean


def augment_batch(images: torch.Tensor, masks: torch.Tensor, config: AugmentConfig,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """images (N, C, H, W) float in [0, 1], masks (N, H, W) long -> augmented pair, same shapes."""
    n, _, h, w = images.shape
    images, masks = images.clone(), masks.clone()
    for i in range(n):
        img, msk = images[i], masks[i]
        if config.flip and torch.rand((), generator=generator) < 0.5:
            img, msk = img.flip(-1), msk.flip(-1)
        if config.flip and torch.rand((), generator=generator) < 0.5:
            img, msk = img.flip(-2), msk.flip(-2)
        if config.rot90 and h == w:
            k = int(torch.randint(0, 4, (), generator=generator))
            img, msk = torch.rot90(img, k, (-2, -1)), torch.rot90(msk, k, (-2, -1))
        if config.crop_scale[0] < 1 and torch.rand((), generator=generator) < config.crop_probability:
            img, msk = _random_resized_crop(img, msk, config.crop_scale, generator)
        images[i], masks[i] = img, msk
    if config.brightness > 0 or config.contrast > 0:
        b = (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * config.brightness
        c = 1 + (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * config.contrast
        mean = images.mean(dim=(1, 2, 3), keepdim=True)
        images = ((images - mean) * c + mean + b).clamp_(0, 1)
    return images, masks


def _random_resized_crop(img: torch.Tensor, msk: torch.Tensor, scale: tuple[float, float],
                         generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop a random box of area fraction in ``scale`` (aspect ratio 3/4..4/3) and resize it back."""
    _, h, w = img.shape
    area = float(torch.empty(()).uniform_(scale[0], scale[1], generator=generator)) * h * w
    log_ratio = float(torch.empty(()).uniform_(-0.2877, 0.2877, generator=generator))  # log(3/4), log(4/3)
    ratio = torch.exp(torch.tensor(log_ratio)).item()
    ch = int(round((area / ratio) ** 0.5))
    cw = int(round((area * ratio) ** 0.5))
    ch, cw = max(1, min(ch, h)), max(1, min(cw, w))
    top = int(torch.randint(0, h - ch + 1, (), generator=generator))
    left = int(torch.randint(0, w - cw + 1, (), generator=generator))
    crop_img = img[:, top:top + ch, left:left + cw][None]
    crop_msk = msk[top:top + ch, left:left + cw][None, None].float()
    img = F.interpolate(crop_img, size=(h, w), mode="bilinear", align_corners=False)[0]
    msk = F.interpolate(crop_msk, size=(h, w), mode="nearest")[0, 0].to(msk.dtype)
    return img, msk

"""Random views and corruptions of image batches for self-supervised pretraining, written on tensors.

All randomness comes from the ``generator`` argument (one draw per image), so a run's views are reproduced by
its seed. Images are ``(N, C, H, W)`` floats in [0, 1], C = 1 or 3.

- :func:`simclr_views`: the augmentations of SimCLR (Chen et al., ICML 2020, appendix A): a random resized crop
  with flips, colour distortion (jitter with probability 0.8, grey with probability 0.2) and Gaussian blur.
- :func:`patch_mask`: a random mask of patches (He et al. 2022 mask 75% of the patches, uniformly at random).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

FLIPS = ("none", "horizontal", "all")
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, the grey of torchvision's rgb_to_grayscale


@dataclass(frozen=True)
class ViewConfig:
    """The SimCLR augmentations and their strengths.

    crop_scale: the crop's area as a fraction of the image, drawn uniformly (SimCLR: 0.08 to 1); the aspect ratio is
        drawn log-uniformly in [3/4, 4/3] (a crop that would not fit is made square); the crop is resized to the image
        size (bilinear).
    flips: "horizontal" (SimCLR's), "all" (also vertical flips and quarter turns: for images without an up, such as
        endoscopy), or "none".
    jitter: the colour-distortion strength s: brightness, contrast and saturation factors in [1 - 0.8 s, 1 + 0.8 s]
        and a hue rotation of up to 0.2 s turns, applied with probability ``jitter_p`` (grey images: brightness and
        contrast only). SimCLR: s = 1 on ImageNet, 0.5 on CIFAR-10.
    grey_p: probability of turning a colour view grey.
    blur_p: probability of a Gaussian blur with sigma drawn in [0.1, 2.0] pixels at 224 pixels, scaled with the image
        size (the kernel spans 10% of the image, as SimCLR's).
    """

    crop_scale: tuple[float, float] = (0.2, 1.0)
    flips: str = "horizontal"
    jitter: float = 0.5
    jitter_p: float = 0.8
    grey_p: float = 0.2
    blur_p: float = 0.5

    def __post_init__(self):
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"crop_scale={self.crop_scale} must satisfy 0 < low <= high <= 1, e.g. 0.2,1.")
        if self.flips not in FLIPS:
            raise ValueError(f"flips={self.flips!r} is not known; use one of {', '.join(FLIPS)}.")
        if not 0 <= self.jitter <= 1.25:
            raise ValueError(f"jitter={self.jitter} must lie in [0, 1.25] (factors stay positive), e.g. 0.5.")
        for name in ("jitter_p", "grey_p", "blur_p"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name}={getattr(self, name)} must be a probability in [0, 1].")


def _uniform(n: int, low: float, high: float, g: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=g, dtype=torch.float64)


def crop_and_flip(x: torch.Tensor, config: ViewConfig, g: torch.Generator) -> torch.Tensor:
    """Random resized crops with flips (and quarter turns with ``flips="all"``) in one ``grid_sample``: output pixel
    (u, v) in [-1, 1]^2 samples the input at centre + R diag(w, h) F (u, v), a bilinear resample of the crop."""
    n = x.shape[0]
    area = _uniform(n, *config.crop_scale, g)
    log_ratio = _uniform(n, math.log(3 / 4), math.log(4 / 3), g)
    w, h = (area * log_ratio.exp()).sqrt(), (area / log_ratio.exp()).sqrt()  # fractions of the image's sides
    outside = (w > 1) | (h > 1)  # a crop that does not fit becomes square (torchvision draws again, then centres)
    w, h = torch.where(outside, area.sqrt(), w), torch.where(outside, area.sqrt(), h)
    cx, cy = (1 - w) * _uniform(n, -1, 1, g), (1 - h) * _uniform(n, -1, 1, g)  # the crop stays inside
    fx = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).double() if config.flips != "none" else 1.0
    fy = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).double() if config.flips == "all" else 1.0
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    theta[:, 0, 0], theta[:, 1, 1], theta[:, 0, 2], theta[:, 1, 2] = w * fx, h * fy, cx, cy
    if config.flips == "all":  # a quarter turn for half of them: (u, v) -> (-v, u) before the scaling
        turn = torch.rand(n, generator=g) < 0.5
        turned = theta[:, :, [1, 0, 2]] * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
        theta = torch.where(turn[:, None, None], turned, theta)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)  # (N, H, W, 2)
    return grid_sample(x, grid)


def grid_sample(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def grey(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) luma (BT.601); a grey batch is returned as it is."""
    if x.shape[1] == 1:
        return x
    return (x * torch.tensor(LUMA, dtype=x.dtype).view(1, 3, 1, 1)).sum(1, keepdim=True)


def rotate_hue(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Rotate each colour image's hue by ``turns`` (N,) of a full turn: a rotation of the chroma plane (I, Q) of the
    YIQ space (BT.601 luma kept), the linear form of a hue shift."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=x.dtype)
    angle = 2 * math.pi * turns.to(x.dtype)
    c, s = angle.cos(), angle.sin()
    rot = torch.zeros(len(turns), 3, 3, dtype=x.dtype)
    rot[:, 0, 0], rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = 1, c, -s, s, c
    m = torch.linalg.inv(to_yiq) @ rot @ to_yiq  # (N, 3, 3): RGB -> YIQ -> rotated -> RGB
    return torch.einsum("nij,njhw->nihw", m, x)


def colour_jitter(x: torch.Tensor, strength: float, p: float, g: torch.Generator) -> torch.Tensor:
    """Brightness, contrast, saturation and hue (in that order) with random factors, for a fraction ``p`` of the
    images; values clipped to [0, 1] after each step, as torchvision's ColorJitter does."""
    n, s = x.shape[0], 0.8 * strength
    on = (torch.rand(n, generator=g) < p).to(x.dtype).view(-1, 1, 1, 1)
    b, c, sat = (_uniform(n, 1 - s, 1 + s, g).to(x.dtype).view(-1, 1, 1, 1) for _ in range(3))
    hue = _uniform(n, -0.2 * strength, 0.2 * strength, g)
    y = (x * b).clamp(0, 1)
    mean = grey(y).mean(dim=(1, 2, 3), keepdim=True)
    y = ((y - mean) * c + mean).clamp(0, 1)
    if x.shape[1] == 3:
        y = ((y - grey(y)) * sat + grey(y)).clamp(0, 1)
        y = rotate_hue(y, hue).clamp(0, 1)
    return on * y + (1 - on) * x


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Each image blurred by its own sigma (N,) in pixels: separable Gaussian kernels spanning 10% of the image
    (at least 3 taps), reflect padding, as one grouped convolution per axis."""
    n, c, h, w = x.shape
    k = max(3, 2 * (max(h, w) // 20) + 1)  # odd, about a tenth of the side
    r = torch.arange(k, dtype=x.dtype) - k // 2
    kernel = torch.exp(-0.5 * (r[None] / sigma.to(x.dtype)[:, None]) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (N C, k)
    flat = x.reshape(1, n * c, h, w)
    pad = k // 2
    flat = F.pad(flat, (pad, pad, 0, 0), mode="reflect" if pad < w else "replicate")
    flat = F.conv2d(flat, kernel.view(n * c, 1, 1, k), groups=n * c)
    flat = F.pad(flat, (0, 0, pad, pad), mode="reflect" if pad < h else "replicate")
    flat = F.conv2d(flat, kernel.view(n * c, 1, k, 1), groups=n * c)
    return flat.reshape(n, c, h, w)


def simclr_views(x: torch.Tensor, config: ViewConfig, g: torch.Generator) -> torch.Tensor:
    """One random view of each image of ``x`` (N, C, H, W) in [0, 1] -> (N, C, H, W) in [0, 1]."""
    n = x.shape[0]
    y = crop_and_flip(x, config, g)
    if config.jitter > 0 and config.jitter_p > 0:
        y = colour_jitter(y, config.jitter, config.jitter_p, g)
    if x.shape[1] == 3 and config.grey_p > 0:
        on = (torch.rand(n, generator=g) < config.grey_p).to(y.dtype).view(-1, 1, 1, 1)
        y = on * grey(y).expand_as(y) + (1 - on) * y
    if config.blur_p > 0:
        on = (torch.rand(n, generator=g) < config.blur_p).to(y.dtype).view(-1, 1, 1, 1)
        sigma = _uniform(n, 0.1, 2.0, g) * max(x.shape[-2:]) / 224
        y = on * gaussian_blur(y, sigma.clamp(min=0.05)) + (1 - on) * y
    return y.clamp(0, 1)


def patch_mask(n: int, grid: tuple[int, int], ratio: float, g: torch.Generator) -> torch.Tensor:
    """The indices (N, L_keep) of the patches each image keeps visible, L_keep = max(1, round((1 - ratio) L)) of the
    L = gh * gw patches, drawn uniformly without replacement (MAE's random sampling), sorted."""
    if not 0 <= ratio < 1:
        raise ValueError(f"mask ratio {ratio} must lie in [0, 1) (MAE: 0.75).")
    total = grid[0] * grid[1]
    keep = max(1, round((1 - ratio) * total))
    noise = torch.rand(n, total, generator=g)
    return noise.argsort(dim=1)[:, :keep].sort(dim=1).values


def mask_image(keep: torch.Tensor, grid: tuple[int, int], patch: int, size: tuple[int, int]) -> torch.Tensor:
    """(N, 1, H, W) float: 1 on the masked (hidden) patches, 0 on the visible ones, for the patches ``keep`` of a
    ``grid`` of ``patch``-pixel squares covering the image from the top left (cropped to ``size``)."""
    n = keep.shape[0]
    hidden = torch.ones(n, grid[0] * grid[1])
    hidden.scatter_(1, keep, 0.0)
    m = hidden.view(n, 1, *grid).repeat_interleave(patch, 2).repeat_interleave(patch, 3)
    return m[..., :size[0], :size[1]]

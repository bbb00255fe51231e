"""What a network's units respond to: the first layer's filters, and activation maximisation.

- :func:`first_layer_filters`: the weights of the first convolution, (F, C, k, k), each scaled to [0, 1] for
  display (the filters of Krizhevsky et al. 2012, Fig. 3).
- :func:`maximise_activation`: gradient ascent on the input to maximise the mean activation of one channel of
  one layer (Erhan et al. 2009), regularised as in Yosinski et al., "Understanding Neural Networks Through Deep
  Visualization" (2015) and Olah et al., "Feature Visualization" (Distill 2017): a random shift of the image
  (jitter) at every step, a Gaussian blur every few steps, an L2 penalty, and total variation (Mahendran and
  Vedaldi, "Understanding Deep Image Representations by Inverting Them", CVPR 2015) towards smooth images.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F


def first_layer_filters(model: nn.Module) -> torch.Tensor:
    """(F, C, k, k) weights of the first ``nn.Conv2d`` (in module order), each filter scaled to [0, 1]."""
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None:
        raise ValueError("the network has no nn.Conv2d layer to show.")
    w = conv.weight.detach().float()
    lo = w.flatten(1).amin(1).view(-1, 1, 1, 1)
    hi = w.flatten(1).amax(1).view(-1, 1, 1, 1)
    return (w - lo) / (hi - lo).clamp(min=1e-12)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic TV per image, the mean over pixels of |dx| + |dy| (N, ...) -> (N,)."""
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)
    return dx + dy


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W) with standard deviation ``sigma`` pixels, reflect padding."""
    radius = max(1, int(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-t * t / (2 * sigma * sigma))
    k = k / k.sum()
    c = x.shape[1]
    pad = min(radius, x.shape[-1] - 1, x.shape[-2] - 1)
    k = k[radius - pad:radius + pad + 1]
    y = F.conv2d(F.pad(x, (pad, pad, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(y, (0, 0, pad, pad), mode="reflect"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def channel_activation(model: nn.Module, layer: nn.Module, channel: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """``f(x) -> (N,)``: the mean over positions of channel ``channel`` of ``layer``'s output for input x."""
    def f(x: torch.Tensor) -> torch.Tensor:
        seen = {}
        handle = layer.register_forward_hook(lambda m, i, o: seen.__setitem__("out", o))
        try:
            model(x)
        finally:
            handle.remove()
        out = seen["out"]
        if channel >= out.shape[1]:
            raise ValueError(f"channel {channel} does not exist: the layer has {out.shape[1]} channels.")
        return out[:, channel].flatten(1).mean(1)

    return f


def maximise_activation(model: nn.Module, layer: nn.Module, channel: int, shape: tuple[int, int, int],
                        steps: int = 200, lr: float = 0.05, jitter: int = 2, blur_every: int = 4,
                        blur_sigma: float = 0.5, tv_weight: float = 0.05, l2_weight: float = 1e-3,
                        bounds: tuple[float, float] = (0.0, 1.0), generator: torch.Generator | None = None
                        ) -> tuple[torch.Tensor, list[float]]:
    """``(image (1, C, H, W), activation after each step)``: Adam ascent from a grey image with a little noise on
    act(x) - tv_weight TV(x) - l2_weight ||x - mid||^2 (mid the middle of ``bounds``), the image rolled by up to
    ``jitter`` pixels (each axis, uniform) before every step and blurred every ``blur_every`` steps (0: never);
    values kept within ``bounds``."""
    act = channel_activation(model, layer, channel)
    mid = (bounds[0] + bounds[1]) / 2
    x = (mid + 0.01 * (bounds[1] - bounds[0]) * torch.randn((1, *shape), generator=generator)).requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=lr)
    trace = []
    for step in range(steps):
        dy, dx = (torch.randint(-jitter, jitter + 1, (2,), generator=generator).tolist() if jitter else (0, 0))
        shifted = torch.roll(x, (dy, dx), (-2, -1))
        a = act(shifted)
        objective = a - tv_weight * total_variation(shifted) - l2_weight * (x - mid).pow(2).flatten(1).mean(1)
        optimizer.zero_grad()
        (-objective.sum()).backward()
        optimizer.step()
        with torch.no_grad():
            if blur_every and (step + 1) % blur_every == 0:
                x.copy_(gaussian_blur(x, blur_sigma))
            x.clamp_(*bounds)
        trace.append(float(a.detach()))
    return x.detach(), trace

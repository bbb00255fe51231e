"""Gradient attributions of a score s(x) = head(model(x)) (N,) to the input x (N, C, H, W):

- :func:`saliency`: |ds/dx| (Simonyan, Vedaldi and Zisserman, "Deep Inside Convolutional Networks", ICLR
  workshop 2014); ``absolute=False`` keeps the sign.
- :func:`smoothgrad`: the mean of ds/dx over noisy copies x + N(0, stdev^2) (Smilkov et al., "SmoothGrad:
  removing noise by adding noise", 2017).
- :func:`gradient_x_input`: x * ds/dx (Shrikumar et al., "Not Just a Black Box", 2016).
- :func:`guided_backprop`: the gradient with every ReLU's backward pass replaced by one that also passes only
  positive gradients, grad_in = [x > 0] * max(grad_out, 0) (Springenberg et al., "Striving for Simplicity: The
  All Convolutional Net", ICLR workshop 2015). LeakyReLU layers get the same rule after their own derivative.

Each agrees with Captum's method of the same name (``tests/test_attribution.py``: Saliency, NoiseTunnel over
Saliency, InputXGradient, GuidedBackprop). :func:`to_map` reduces an attribution to one map per image.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F


def input_gradient(model: Callable, x: torch.Tensor, head: Callable | None = None) -> torch.Tensor:
    """ds/dx of s = head(model(x)), summed over the batch (each image's score depends on its own input only)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = model(x)
        scores = head(out) if head is not None else out
        if scores.dim() != 1:
            raise ValueError(f"the score must be one number per image, (N,), not {tuple(scores.shape)}; give a head.")
        (grad,) = torch.autograd.grad(scores.sum(), x)
    return grad


def saliency(model: Callable, x: torch.Tensor, head: Callable | None = None, absolute: bool = True) -> torch.Tensor:
    """The vanilla gradient |ds/dx| (or ds/dx), (N, C, H, W)."""
    grad = input_gradient(model, x, head)
    return grad.abs() if absolute else grad


def smoothgrad(model: Callable, x: torch.Tensor, head: Callable | None = None, samples: int = 25,
               stdev: float = 0.15, generator: torch.Generator | None = None, batch: int = 25) -> torch.Tensor:
    """(1/n) sum_i ds/dx at x + eps_i, eps_i ~ N(0, stdev^2 I), drawn from ``generator`` as one (N * samples, ...)
    tensor (image k's i-th copy at row k * samples + i), ``batch`` copies per pass; (N, C, H, W)."""
    if samples < 1:
        raise ValueError(f"samples={samples} must be >= 1.")
    n = len(x)
    noise = torch.randn((n * samples, *x.shape[1:]), generator=generator, dtype=x.dtype) * stdev
    noisy = x.detach().repeat_interleave(samples, dim=0) + noise  # (N * samples, C, H, W)
    grads = torch.cat([input_gradient(model, noisy[s:s + batch], head) for s in range(0, len(noisy), batch)])
    return grads.reshape(n, samples, *x.shape[1:]).mean(1)


def gradient_x_input(model: Callable, x: torch.Tensor, head: Callable | None = None) -> torch.Tensor:
    """x * ds/dx, (N, C, H, W)."""
    return x.detach() * input_gradient(model, x, head)


class _GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, negative_slope):
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return F.leaky_relu(x, negative_slope) if negative_slope else F.relu(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        local = torch.where(x > 0, grad_out, grad_out * ctx.negative_slope)  # the activation's own derivative
        return local.clamp(min=0), None  # and only the positive part passes (the guided rule)


@contextlib.contextmanager
def _guided(model: nn.Module):
    """Every ``nn.ReLU`` / ``nn.LeakyReLU`` of ``model`` computes its guided backward pass inside the block."""
    layers = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU))]
    if not layers:
        raise ValueError("guided backpropagation needs nn.ReLU (or nn.LeakyReLU) layers, and this network has none.")
    for m in layers:
        slope = m.negative_slope if isinstance(m, nn.LeakyReLU) else 0.0
        m.forward = lambda x, slope=slope: _GuidedReLU.apply(x, slope)  # an instance attribute shadows the method
    try:
        yield
    finally:
        for m in layers:
            del m.forward


def guided_backprop(model: nn.Module, x: torch.Tensor, head: Callable | None = None) -> torch.Tensor:
    """The guided-backpropagation gradient, (N, C, H, W)."""
    with _guided(model):
        return input_gradient(model, x, head)


def to_map(attribution: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H, W): the largest magnitude over the channels (Simonyan et al. 2014's rule)."""
    return attribution.abs().amax(1)

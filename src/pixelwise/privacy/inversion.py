"""Gradient inversion: recover a training batch from the one gradient a client shares.

Given the gradient g = grad_theta L(f_theta(x), y) of a batch (x, y) at known weights theta, find x' whose gradient
matches it (the labels y are taken as known, as in Geiping et al.):

    x* = argmin_{x' in [0, 1]^d}  D(grad_theta L(f_theta(x'), y), g) + lambda TV(x')

- Zhu, Liu and Han, "Deep Leakage from Gradients", NeurIPS 2019: D the squared Euclidean distance (``"l2"``).
- Geiping et al., "Inverting Gradients - How easy is it to break privacy in federated learning?", NeurIPS 2020:
  D = 1 - cosine similarity of the two gradients (all parameters as one vector, ``"cosine"``), a total-variation
  prior, Adam on the sign of the gradient with the step divided by 10 at 3/8, 5/8 and 7/8 of the iterations, and
  the box constraint by clamping after each step.

:func:`shared_gradient` is the gradient a client would send: the batch mean, or with DP-SGD's clipping and noise
(:mod:`pixelwise.privacy.dpsgd`) the private one. :func:`match_recovered` pairs recovered images with the true
ones (the order within a batch is not recoverable from a summed gradient) by the assignment that maximises the
total PSNR.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from pixelwise.privacy.dpsgd import private_gradient


def _params(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [(k, p) for k, p in model.named_parameters() if p.requires_grad]


def shared_gradient(model: nn.Module, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor, clip: float | None = None,
                    noise: float = 0.0, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """The gradient of the batch's mean loss, one tensor per trainable parameter; with ``clip``, DP-SGD's gradient
    instead (each example clipped to ``clip``, Gaussian noise of ``noise`` x ``clip``, divided by the batch size)."""
    if clip is not None:
        grads, _ = private_gradient(model, loss_fn, x, y, clip, noise, float(len(x)), generator)
        return [grads[k].detach() for k, _ in _params(model)]
    params = [p for _, p in _params(model)]
    return [g.detach() for g in torch.autograd.grad(loss_fn(model(x), y), params)]


def gradient_distance(candidate: list[torch.Tensor], target: list[torch.Tensor], distance: str) -> torch.Tensor:
    """``"l2"``: sum of squared differences; ``"cosine"``: 1 - <a, b> / (|a| |b|) over all parameters at once."""
    if distance == "l2":
        return sum((a - b).pow(2).sum() for a, b in zip(candidate, target))
    if distance != "cosine":
        raise ValueError(f"distance={distance!r} must be 'cosine' or 'l2'.")
    dot = sum((a * b).sum() for a, b in zip(candidate, target))
    norm_a = torch.sqrt(sum(a.pow(2).sum() for a in candidate))
    norm_b = torch.sqrt(sum(b.pow(2).sum() for b in target))
    return 1 - dot / (norm_a * norm_b).clamp(min=1e-12)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of neighbouring pixels, horizontally plus vertically, over the batch."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def invert_gradient(model: nn.Module, loss_fn: Callable, target: list[torch.Tensor], y: torch.Tensor,
                    shape: tuple[int, ...], iterations: int = 300, lr: float = 0.1, tv_weight: float = 1e-2,
                    distance: str = "cosine", bounds: tuple[float, float] = (0.0, 1.0),
                    generator: torch.Generator | None = None,
                    callback: Callable[[int, float], None] | None = None) -> torch.Tensor:
    """The batch (N, C, H, W) = ``shape`` whose gradient best matches ``target`` (see the module docstring), from a
    uniform random start drawn from ``generator``; ``callback(iteration, objective)`` after every step."""
    params = [p for _, p in _params(model)]
    x = (bounds[0] + (bounds[1] - bounds[0]) * torch.rand(shape, generator=generator)).requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=lr)
    milestones = [int(iterations * f) for f in (3 / 8, 5 / 8, 7 / 8)]
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=0.1)
    for i in range(iterations):
        optimizer.zero_grad()
        candidate = torch.autograd.grad(loss_fn(model(x), y), params, create_graph=True)
        objective = gradient_distance(list(candidate), target, distance) + tv_weight * total_variation(x)
        (grad,) = torch.autograd.grad(objective, x)
        x.grad = grad.sign()  # Geiping et al.: signed gradients
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            x.clamp_(*bounds)
        if callback is not None:
            callback(i, float(objective.detach()))
    return x.detach()


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float((a - b).pow(2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def match_recovered(recovered: torch.Tensor, truth: torch.Tensor) -> tuple[list[int], list[float]]:
    """``(order, PSNRs)``: recovered image ``order[i]`` is paired with true image i, the pairing that maximises
    the total PSNR (data range 1; the Hungarian algorithm)."""
    n = len(truth)
    table = np.array([[_psnr(recovered[j], truth[i]) for j in range(n)] for i in range(n)])
    finite = np.where(np.isfinite(table), table, 1e6)
    rows, cols = linear_sum_assignment(-finite)
    order = [int(c) for _, c in sorted(zip(rows, cols))]
    return order, [float(table[i, order[i]]) for i in range(n)]

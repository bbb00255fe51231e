"""DP-SGD's gradient (Abadi et al., "Deep Learning with Differential Privacy", CCS 2016, Algorithm 1).

For a lot L of examples drawn by Poisson sampling with rate q (expected size B = q N):

    g_i = grad_theta loss(f_theta(x_i), y_i)                    per-example gradients
    g_i <- g_i / max(1, ||g_i||_2 / C)                          each clipped to norm C (all parameters together)
    g   = (sum_{i in L} g_i + N(0, sigma^2 C^2 I)) / B          noised sum over the expected lot size

The per-example gradients come from ``torch.func`` (``vmap`` of ``grad`` of a functional call), so the model
must treat examples independently: batch normalisation mixes them and is refused (use group or instance
normalisation, as Opacus also requires). Dropout draws fresh masks per example (``randomness="different"``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, vmap


def check_per_example(model: nn.Module) -> None:
    """Refuse a model whose output for one example depends on the others (batch normalisation in training)."""
    mixing = [name for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if mixing:
        raise ValueError(f"DP-SGD needs per-example gradients, but batch normalisation ({mixing[0]}) mixes the "
                         "examples of a batch; use group or instance normalisation (or none).")


def per_example_gradients(model: nn.Module, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor
                          ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """``({name: (B, *shape) gradients}, (B,) losses)``: the gradient of ``loss_fn(model(x_i), y_i)`` (each example
    as a batch of one) with respect to every trainable parameter, for each of the B examples."""
    params = {k: p.detach() for k, p in model.named_parameters() if p.requires_grad}
    buffers = dict(model.named_buffers())

    def one(p: dict, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, (p, buffers), (xi.unsqueeze(0),))  # a batch of one: (1, ...)
        return loss_fn(out, yi.unsqueeze(0))

    grads, losses = vmap(grad_and_value(one), in_dims=(None, 0, 0), randomness="different")(params, x, y)
    return grads, losses


def clip_and_sum(grads: dict[str, torch.Tensor], clip: float) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """``(sum_i g_i / max(1, ||g_i|| / clip), (B,) norms before clipping)``, the norm over all parameters."""
    norms = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads.values()))  # (B,)
    factor = 1.0 / torch.clamp(norms / clip, min=1.0)  # (B,)
    return {k: torch.einsum("b,b...->...", factor, g) for k, g in grads.items()}, norms


def noisy_average(summed: dict[str, torch.Tensor], clip: float, noise: float, expected_batch: float,
                  generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """``(sum + N(0, (noise * clip)^2 I)) / expected_batch`` for every parameter; the noise drawn from ``generator``
    (default: torch's global generator)."""
    out = {}
    for k, s in summed.items():
        draw = torch.randn(s.shape, generator=generator, dtype=s.dtype, device=s.device)
        out[k] = (s + noise * clip * draw) / expected_batch
    return out


def private_gradient(model: nn.Module, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor, clip: float,
                     noise: float, expected_batch: float, generator: torch.Generator | None = None
                     ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """``({name: DP-SGD gradient}, (B,) losses)`` of a Poisson-sampled batch (see the module docstring); an empty
    batch gives the noise alone. Parameters that need no gradient are left out."""
    if len(x) == 0:
        zeros = {k: torch.zeros_like(p) for k, p in model.named_parameters() if p.requires_grad}
        return noisy_average(zeros, clip, noise, expected_batch, generator), torch.zeros(0)
    grads, losses = per_example_gradients(model, loss_fn, x, y)
    summed, _ = clip_and_sum(grads, clip)
    return noisy_average(summed, clip, noise, expected_batch, generator), losses

"""L-infinity adversarial examples: the fast gradient sign method and projected gradient descent.

Both maximise a loss L(f(x'), y) over the ball ||x' - x||_inf <= epsilon (intersected with the valid range of
the inputs, ``bounds``), untargeted:

- FGSM (Goodfellow, Shlens and Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015):
  x' = clip(x + epsilon sign(grad_x L(f(x), y))).
- PGD (Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018): from
  x_0 = x (or, with ``random_start``, x + U(-epsilon, epsilon)^d), ``steps`` times
  x_{t+1} = Proj(x_t + alpha sign(grad_x L(f(x_t), y))), Proj the projection onto the ball and the bounds;
  Madry et al. take alpha = 2.5 epsilon / steps, the default here.

``forward`` maps inputs to outputs (the network with any normalisation it expects folded in, so that epsilon is
in the units of the inputs given, e.g. [0, 1] pixels), ``loss(output, target)`` returns a scalar. The network
should be in eval mode (batch statistics would otherwise depend on the perturbation of the other images).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def _input_gradient(forward: Callable, loss: Callable, x: torch.Tensor, y) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        value = loss(forward(x), y)
        (grad,) = torch.autograd.grad(value, x)
    return grad


def project_linf(x_adv: torch.Tensor, x: torch.Tensor, epsilon: float,
                 bounds: tuple[float, float] | None = (0.0, 1.0)) -> torch.Tensor:
    """The nearest point to ``x_adv`` with ||x' - x||_inf <= epsilon and inside ``bounds`` (elementwise clamps:
    the box constraints separate by coordinate, so clamping is the exact Euclidean projection)."""
    out = torch.max(torch.min(x_adv, x + epsilon), x - epsilon)
    return out.clamp(*bounds) if bounds is not None else out


def fgsm(forward: Callable, loss: Callable, x: torch.Tensor, y, epsilon: float,
         bounds: tuple[float, float] | None = (0.0, 1.0)) -> torch.Tensor:
    """One signed-gradient step of size ``epsilon`` from ``x`` (N, ...), kept within ``bounds``."""
    if epsilon == 0:
        return x.detach().clone()
    grad = _input_gradient(forward, loss, x, y)
    return project_linf(x.detach() + epsilon * grad.sign(), x.detach(), epsilon, bounds)


def pgd(forward: Callable, loss: Callable, x: torch.Tensor, y, epsilon: float, steps: int = 10,
        step_size: float | None = None, random_start: bool = True, bounds: tuple[float, float] | None = (0.0, 1.0),
        generator: torch.Generator | None = None) -> torch.Tensor:
    """``steps`` projected signed-gradient steps of size ``step_size`` (default 2.5 epsilon / steps) in the
    epsilon-ball around ``x`` (N, ...); the random start draws from ``generator`` (default: torch's global one)."""
    if steps < 1:
        raise ValueError(f"steps={steps} must be >= 1.")
    x = x.detach()
    if epsilon == 0:
        return x.clone()
    alpha = 2.5 * epsilon / steps if step_size is None else step_size
    x_adv = x.clone()
    if random_start:
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) * 2 - 1
        x_adv = project_linf(x + epsilon * noise, x, epsilon, bounds)
    for _ in range(steps):
        grad = _input_gradient(forward, loss, x_adv, y)
        x_adv = project_linf(x_adv + alpha * grad.sign(), x, epsilon, bounds)
    return x_adv.detach()

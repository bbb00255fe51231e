"""DDIM sampling: the same epsilon-trained net, fewer steps (Song, Meng and Ermon, "Denoising Diffusion
Implicit Models", ICLR 2021).

DDIM keeps the DDPM's marginals q(x_t | x_0) but walks a sub-sequence tau_K > ... > tau_1 of the T steps:

    x0_hat   = (x_t - sqrt(1 - alpha_bar_t) eps_theta) / sqrt(alpha_bar_t)
    sigma^2  = eta^2 (1 - alpha_bar_s) / (1 - alpha_bar_t) (1 - alpha_bar_t / alpha_bar_s)          (eq. 16)
    x_s      = sqrt(alpha_bar_s) x0_hat + sqrt(1 - alpha_bar_s - sigma^2) eps_theta + sigma z       (eq. 12)

from step t to the next one s < t (alpha_bar = 1 after the last step). ``eta = 0`` is deterministic (an
implicit model: one x_T, one sample); ``eta = 1`` on all T steps is the DDPM ancestral sampler with the
posterior variance beta_tilde_t, step for step (checked in the tests).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pixelwise.diffusion.ddpm import StepOutput
from pixelwise.diffusion.schedule import NoiseSchedule


def ddim_timesteps(T: int, steps: int) -> list[int]:
    """``steps`` of the code's times 0..T-1, evenly spaced, from T - 1 (the noisiest, where x_T ~ N(0, I) is
    drawn) down to 0, distinct and decreasing. ``steps = T`` is every step."""
    if int(steps) != steps or not 1 <= steps <= T:
        raise ValueError(f"steps={steps} must be an integer in 1..{T} (the run's T); e.g. 50 or 100.")
    if steps == 1:
        return [T - 1]
    gaps = steps - 1  # (T - 1) k / gaps rounded half up, in integers; the spacing is >= 1, so all distinct
    return [(2 * (T - 1) * k + gaps) // (2 * gaps) for k in reversed(range(steps))]


def ddim_step(schedule: NoiseSchedule, eps_pred: torch.Tensor, t: int, t_next: int, x_t: torch.Tensor,
              eta: float = 0.0, generator: torch.Generator | None = None,
              clip_x0: float | None = None) -> StepOutput:
    """One DDIM step x_t -> x_s with s = ``t_next`` < t (``t_next = -1``: the last step, to x_0), eq. 12.

    With ``clip_x0`` the predicted x_0 is clipped to [-clip_x0, clip_x0] and the noise estimate made
    consistent with it, eps = (x_t - sqrt(alpha_bar_t) x0_hat) / sqrt(1 - alpha_bar_t)."""
    if not eta >= 0:
        raise ValueError(f"eta={eta} must be >= 0 (0: deterministic DDIM; 1: DDPM-like noise).")
    if not -1 <= t_next < t < schedule.T:
        raise ValueError(f"steps must go down: t={t}, t_next={t_next} (need -1 <= t_next < t < {schedule.T}).")
    ab = schedule.alpha_bars[t].item()
    ab_next = schedule.alpha_bars[t_next].item() if t_next >= 0 else 1.0
    x0 = (x_t - (1 - ab) ** 0.5 * eps_pred) / ab**0.5
    if clip_x0 is not None:
        x0 = x0.clamp(-clip_x0, clip_x0)
        eps_pred = (x_t - ab**0.5 * x0) / (1 - ab) ** 0.5
    var = eta**2 * (1 - ab_next) / (1 - ab) * (1 - ab / ab_next)
    mean = ab_next**0.5 * x0 + max(1 - ab_next - var, 0.0) ** 0.5 * eps_pred
    if var == 0:
        return StepOutput(mean, mean, 0.0, x0)
    z = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype)
    return StepOutput(mean + var**0.5 * z, mean, var, x0)


@torch.no_grad()
def ddim_sample(model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], schedule: NoiseSchedule,
                shape: tuple[int, ...], steps: int, eta: float = 0.0, generator: torch.Generator | None = None,
                clip_x0: float | None = None,
                callback: Callable[[int, StepOutput], None] | None = None) -> torch.Tensor:
    """x_T ~ N(0, I), then one :func:`ddim_step` per time of :func:`ddim_timesteps` (``steps`` network calls
    instead of T); returns x_0. ``model(x_t, t)`` predicts the noise; ``callback(t, out)`` sees each step."""
    times = ddim_timesteps(schedule.T, steps)
    x = torch.randn(shape, generator=generator)
    for i, t in enumerate(times):
        t_next = times[i + 1] if i + 1 < len(times) else -1
        out = ddim_step(schedule, model(x, torch.full((shape[0],), t, dtype=torch.long)), t, t_next, x, eta,
                        generator, clip_x0)
        if callback is not None:
            callback(t, out)
        x = out.prev_sample
    return x


__all__ = ["ddim_sample", "ddim_step", "ddim_timesteps"]

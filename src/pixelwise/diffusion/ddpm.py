"""DDPM ancestral sampling with epsilon prediction, and the epsilon training objective (Ho et al. 2020).

``step()`` is one reverse transition x_t -> x_{t-1}; ``sample()`` is the loop (Algorithm 2 of the paper),
kept visible; ``epsilon_loss()`` is Algorithm 1's simplified objective ||eps - eps_theta(x_t, t)||^2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from pixelwise.diffusion.corrector import langevin_correct
from pixelwise.diffusion.schedule import NoiseSchedule

VARIANCES = ("beta", "posterior")


@dataclass
class StepOutput:
    prev_sample: torch.Tensor  # x_{t-1}
    mean: torch.Tensor  # mu_theta(x_t, t)
    variance: float  # sigma_t^2 of the noise added (0 at the last step)
    pred_x0: torch.Tensor  # the model's estimate of x_0


def step(schedule: NoiseSchedule, eps_pred: torch.Tensor, t: int, x_t: torch.Tensor,
         generator: torch.Generator | None = None, variance: str = "beta",
         clip_x0: float | None = None) -> StepOutput:
    """One ancestral step x_t -> x_{t-1} = mu_theta + sigma_t z, z ~ N(0, I) (no noise at the code's t = 0).

    mu_theta = (1 / sqrt(alpha_t)) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta)       (eq. 11)
    sigma_t^2 = beta_t ("beta") or beta_tilde_t ("posterior"), the two choices of section 3.2.
    With ``clip_x0`` the predicted x_0 is clipped to [-clip_x0, clip_x0] and the mean recomputed as the
    posterior mean given that x_0 (the same mean when nothing is clipped).
    """
    if variance not in VARIANCES:
        raise ValueError(f"variance={variance!r} must be one of {', '.join(VARIANCES)}.")
    if not 0 <= t < schedule.T:
        raise ValueError(f"t={t} must lie in 0..{schedule.T - 1}.")
    pred_x0 = schedule.predict_x0(x_t, eps_pred, t)
    if clip_x0 is None:
        mean = schedule.epsilon_mean(x_t, eps_pred, t)
    else:
        pred_x0 = pred_x0.clamp(-clip_x0, clip_x0)
        mean = schedule.posterior_mean(x_t, pred_x0, t)
    if t == 0:
        return StepOutput(mean, mean, 0.0, pred_x0)
    var = float(schedule.betas[t] if variance == "beta" else schedule.posterior_variance(t))
    z = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype)
    return StepOutput(mean + var**0.5 * z, mean, var, pred_x0)


@torch.no_grad()
def sample(model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], schedule: NoiseSchedule,
           shape: tuple[int, ...], generator: torch.Generator | None = None, variance: str = "beta",
           clip_x0: float | None = None,
           callback: Callable[[int, StepOutput], None] | None = None, corrector_steps: int = 0,
           snr: float = 0.1) -> torch.Tensor:
    """Algorithm 2: x_T ~ N(0, I); for t = T-1, ..., 0: x_{t-1} = step(eps_theta(x_t, t)); returns x_0.

    ``model(x_t, t)`` predicts the noise, with t an int64 tensor (N,); ``callback(t, out)`` sees each step.
    With ``corrector_steps`` M > 0, every step but the last is followed by M Langevin corrector steps at the
    new noise level with step size ``snr`` (predictor-corrector sampling, Song et al. 2021, Algorithm 1; see
    :mod:`pixelwise.diffusion.corrector`): (M + 1) T - M network calls instead of T.
    """
    if int(corrector_steps) != corrector_steps or corrector_steps < 0:
        raise ValueError(f"corrector_steps={corrector_steps} must be a whole number >= 0 (0: no corrector).")
    x = torch.randn(shape, generator=generator)
    for t in reversed(range(schedule.T)):
        out = step(schedule, model(x, _times(shape[0], t)), t, x, generator, variance, clip_x0)
        if callback is not None:
            callback(t, out)
        x = out.prev_sample
        for _ in range(corrector_steps if t > 0 else 0):  # x is now at the code's level t - 1
            x = langevin_correct(schedule, model(x, _times(shape[0], t - 1)), t - 1, x, snr, generator)
    return x


def _times(n: int, t: int) -> torch.Tensor:
    return torch.full((n,), t, dtype=torch.long)


def noised_batch(schedule: NoiseSchedule, x0: torch.Tensor, generator: torch.Generator | None = None):
    """t ~ U{0..T-1}, eps ~ N(0, I), x_t = add_noise(x0, eps, t): returns (x_t, t, eps)."""
    t = torch.randint(0, schedule.T, (x0.shape[0],), generator=generator)
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    return schedule.add_noise(x0, eps, t), t, eps


def min_snr_weights(schedule: NoiseSchedule, t: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-sample loss weights of Min-SNR-gamma for epsilon prediction (Hang et al., "Efficient Diffusion
    Training via Min-SNR Weighting Strategy", ICCV 2023, eq. 9 with the epsilon target):

        w_t = min(SNR(t), gamma) / SNR(t),   SNR(t) = alpha_bar_t / (1 - alpha_bar_t).

    Noisy steps (SNR <= gamma) keep weight 1; nearly clean steps, whose epsilon error says little about the
    sample, are weighted down, which the paper reports converges several times faster (gamma = 5 there).
    Returns float64 weights of shape ``t.shape``."""
    if not gamma > 0:
        raise ValueError(f"gamma={gamma} must be > 0 (5 in Hang et al. 2023).")
    snr = schedule.snr(t)
    return snr.clamp(max=gamma) / snr


def drop_labels(labels: torch.Tensor, p: float, null_label: int,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Classifier-free guidance training (Ho and Salimans, "Classifier-Free Diffusion Guidance", 2022,
    Algorithm 1): each label is replaced by ``null_label`` ("no label") with probability ``p``, so that one
    network learns both the conditional eps_theta(x_t, c) and the unconditional eps_theta(x_t)."""
    if not 0 <= p <= 1:
        raise ValueError(f"p={p} must be a probability in [0, 1] (0.1 or 0.2 in Ho and Salimans 2022).")
    drop = torch.rand(labels.shape, generator=generator) < p
    return torch.where(drop, torch.full_like(labels, null_label), labels)


def guided_epsilon(eps_conditional: torch.Tensor, eps_unconditional: torch.Tensor, w: float) -> torch.Tensor:
    """The classifier-free guided noise estimate (Ho and Salimans 2022, eq. 6):

        eps_tilde = (1 + w) eps_theta(x_t, c) - w eps_theta(x_t).

    w = 0 is the plain conditional model; larger w trades diversity for samples that look more like their
    class (the paper's Inception-score / FID trade-off)."""
    if not w >= 0:
        raise ValueError(f"w={w} must be >= 0 (0 = the conditional model without guidance).")
    return (1 + w) * eps_conditional - w * eps_unconditional


def epsilon_loss(model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], schedule: NoiseSchedule,
                 x0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Algorithm 1, the simplified objective (mean over elements):

        E_{t, x_0, eps} ||eps - eps_theta(sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t)||^2."""
    x_t, t, eps = noised_batch(schedule, x0, generator)
    return (model(x_t, t) - eps).pow(2).mean()


__all__ = ["VARIANCES", "StepOutput", "drop_labels", "epsilon_loss", "guided_epsilon", "noised_batch", "sample",
           "step"]

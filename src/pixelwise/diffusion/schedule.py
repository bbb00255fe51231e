"""Noise schedules and the closed forms of the DDPM forward process.

Forward process (Ho et al. 2020, eq. 2 and 4): q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t I), with
alpha_t = 1 - beta_t and alpha_bar_t = prod_{s<=t} alpha_s, so that x_t | x_0 ~ N(sqrt(alpha_bar_t) x_0,
(1 - alpha_bar_t) I).

Indexing: the code's t = 0, ..., T-1 is the paper's t = 1, ..., T. ``alpha_bar_prev[t]`` is the paper's
alpha_bar_{t-1}, with alpha_bar_0 = 1 (so at the code's t = 0 the posterior is a point mass at x_0).
"""

from __future__ import annotations

import math

import torch

SCHEDULES = ("linear", "cosine")


def _gather(values: torch.Tensor, t: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor:
    """values[t] shaped to broadcast against ``like`` (N, ...): (N, 1, ..., 1), or a scalar for an int t."""
    if isinstance(t, int):
        return values[t].to(like.dtype)
    out = values.to(like.dtype)[t.long()]
    return out.view(-1, *([1] * (like.dim() - 1)))


class NoiseSchedule:
    """A beta schedule and the quantities derived from it (float64 internally).

    Build with :meth:`linear` or :meth:`cosine`, or directly from a 1-D tensor of betas in (0, 1).
    """

    def __init__(self, betas: torch.Tensor):
        betas = torch.as_tensor(betas, dtype=torch.float64)
        if betas.dim() != 1 or betas.numel() < 1:
            raise ValueError(f"betas must be a non-empty 1-D tensor, got shape {tuple(betas.shape)}.")
        if not (torch.all(betas > 0) and torch.all(betas < 1)):
            raise ValueError("every beta_t must lie in (0, 1).")
        self.betas = betas
        self.alphas = 1 - betas
        self.alpha_bars = torch.cumprod(self.alphas, 0)
        self.alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bars[:-1]])

    @property
    def T(self) -> int:
        return self.betas.numel()

    @classmethod
    def linear(cls, T: int, beta_start: float | None = None, beta_end: float | None = None) -> NoiseSchedule:
        """Linearly spaced betas (Ho et al. 2020: 1e-4 to 0.02 for T = 1000). The defaults scale those ends
        by 1000 / T, so a shorter chain reaches about the same alpha_bar_T (Nichol and Dhariwal 2021)."""
        _check_T(T)
        scale = 1000 / T
        start = beta_start if beta_start is not None else 1e-4 * scale
        end = beta_end if beta_end is not None else min(0.02 * scale, 0.999)
        if not 0 < start <= end < 1:
            raise ValueError(f"linear schedule needs 0 < beta_start ({start}) <= beta_end ({end}) < 1.")
        return cls(torch.linspace(start, end, T, dtype=torch.float64))

    @classmethod
    def cosine(cls, T: int, s: float = 0.008, max_beta: float = 0.999) -> NoiseSchedule:
        """Nichol and Dhariwal (2021, eq. 17): alpha_bar(t) = f(t) / f(0) with
        f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2); beta_t = 1 - alpha_bar_t / alpha_bar_{t-1},
        clipped at ``max_beta``."""
        _check_T(T)
        if s < 0:
            raise ValueError(f"cosine offset s={s} must be >= 0.")
        steps = torch.arange(T + 1, dtype=torch.float64)
        f = torch.cos((steps / T + s) / (1 + s) * math.pi / 2) ** 2
        alpha_bar = f / f[0]
        betas = (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(1e-8, max_beta)
        return cls(betas)

    @classmethod
    def named(cls, kind: str, T: int) -> NoiseSchedule:
        if kind == "linear":
            return cls.linear(T)
        if kind == "cosine":
            return cls.cosine(T)
        raise ValueError(f"schedule {kind!r} is not known; use one of {', '.join(SCHEDULES)}.")

    # --- forward process ---------------------------------------------------------------------------------
    def add_noise(self, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, a sample of q(x_t | x_0) (eq. 4)."""
        ab = _gather(self.alpha_bars, t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * eps

    # --- posterior q(x_{t-1} | x_t, x_0) ---------------------------------------------------------------
    def posterior_mean(self, x_t: torch.Tensor, x0: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """As written in the course:

            mu = (1 / sqrt(alpha_t)) (x_t - (1 - alpha_t) / (1 - alpha_bar_t) (x_t - sqrt(alpha_bar_t) x_0)).

        Equal to Ho et al.'s eq. 7 form, :meth:`posterior_mean_ho` (checked in the tests).
        """
        a, ab = _gather(self.alphas, t, x_t), _gather(self.alpha_bars, t, x_t)
        return (x_t - (1 - a) / (1 - ab) * (x_t - ab.sqrt() * x0)) / a.sqrt()

    def posterior_mean_ho(self, x_t: torch.Tensor, x0: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """Ho et al. (2020, eq. 7): sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) x_0
        + sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) x_t."""
        b, a = _gather(self.betas, t, x_t), _gather(self.alphas, t, x_t)
        ab, abp = _gather(self.alpha_bars, t, x_t), _gather(self.alpha_bar_prev, t, x_t)
        return abp.sqrt() * b / (1 - ab) * x0 + a.sqrt() * (1 - abp) / (1 - ab) * x_t

    def snr(self, t: torch.Tensor | int) -> torch.Tensor:
        """Signal-to-noise ratio of x_t | x_0: SNR(t) = alpha_bar_t / (1 - alpha_bar_t) (float64, shaped like t)."""
        ab = self.alpha_bars[t.long() if isinstance(t, torch.Tensor) else t]
        return ab / (1 - ab)

    def posterior_variance(self, t: torch.Tensor | int, like: torch.Tensor | None = None) -> torch.Tensor:
        """beta_tilde_t = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) (eq. 7); 0 at the code's t = 0."""
        v = self.betas * (1 - self.alpha_bar_prev) / (1 - self.alpha_bars)
        return v[t] if like is None else _gather(v, t, like)

    # --- the epsilon parameterisation -----------------------------------------------------------------
    def predict_x0(self, x_t: torch.Tensor, eps: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t), eq. 4 solved for x_0."""
        ab = _gather(self.alpha_bars, t, x_t)
        return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()

    def epsilon_mean(self, x_t: torch.Tensor, eps: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """mu_theta = (1 / sqrt(alpha_t)) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta) (Ho et al.,
        eq. 11)."""
        a, b, ab = _gather(self.alphas, t, x_t), _gather(self.betas, t, x_t), _gather(self.alpha_bars, t, x_t)
        return (x_t - b / (1 - ab).sqrt() * eps) / a.sqrt()

    def __repr__(self) -> str:
        return (f"NoiseSchedule(T={self.T}, beta_1={self.betas[0].item():.3g}, "
                f"beta_T={self.betas[-1].item():.3g}, alpha_bar_T={self.alpha_bars[-1].item():.3g})")


def _check_T(T: int) -> None:
    if int(T) != T or T < 1:
        raise ValueError(f"T={T} must be an integer >= 1 (the number of diffusion steps, e.g. 1000).")


__all__ = ["SCHEDULES", "NoiseSchedule"]

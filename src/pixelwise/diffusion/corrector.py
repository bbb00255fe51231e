"""Langevin corrector steps for the DDPM sampler: predictor-corrector sampling (Song, Sohl-Dickstein, Kingma,
Kumar, Ermon and Poole, "Score-Based Generative Modeling through Stochastic Differential Equations", ICLR
2021, section 4.2 and Algorithms 1 and 5).

Each ancestral step (the predictor) lands on noise level t with some error; M steps of Langevin dynamics at
that level (the corrector) pull the sample back towards the model's marginal p_t, using the score the
epsilon net already gives:

    score(x_t) = grad log p_t(x_t) = -eps_theta(x_t, t) / sqrt(1 - alpha_bar_t)
    step size  = 2 alpha_t (r ||z|| / ||score||)^2     (r: the "signal-to-noise ratio", Algorithm 5)
    x_t       <- x_t + step * score + sqrt(2 step) z,   z ~ N(0, I)

As in the paper's code, ||z|| and ||score|| are each averaged over the batch: one step size for the batch.
(Per-sample norms are unstable in low dimension, where one sample's score can be near 0.) A sample therefore
depends a little on the others drawn with it; with a seed, the same n gives the same samples. Each corrector
step costs one more network call.
"""

from __future__ import annotations

import torch

from pixelwise.diffusion.schedule import NoiseSchedule


def langevin_correct(schedule: NoiseSchedule, eps_pred: torch.Tensor, t: int, x_t: torch.Tensor, snr: float,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """One Langevin step at the code's level t (0 <= t < T) with the noise estimate ``eps_pred`` of ``x_t``;
    returns the corrected x_t. ``snr`` is r of Song et al. (2021), e.g. 0.1."""
    if not snr > 0:
        raise ValueError(f"snr={snr} must be > 0 (the corrector's step size; e.g. 0.1).")
    if x_t.dim() < 2:
        raise ValueError(f"x_t must be a batch (N, ...) of at least 2 dimensions, got shape {tuple(x_t.shape)}.")
    if not 0 <= t < schedule.T:
        raise ValueError(f"t={t} must lie in 0..{schedule.T - 1}.")
    score = -eps_pred / (1 - schedule.alpha_bars[t].item()) ** 0.5
    z = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype)
    ratio = z.flatten(1).norm(dim=1).mean() / score.flatten(1).norm(dim=1).mean().clamp_min(1e-12)
    size = 2 * schedule.alphas[t].item() * (snr * ratio.item()) ** 2
    return x_t + size * score + (2 * size) ** 0.5 * z


__all__ = ["langevin_correct"]

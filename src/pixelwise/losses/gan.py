"""Adversarial losses: the GAN's binary cross-entropy game and the WGAN-GP critic.

D(x) is a logit (GAN) or a score (WGAN); G(z) a generated image.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-E[log D(x)] - E[log(1 - D(G(z)))] with D = sigmoid(logit) (Goodfellow et al., "Generative
    Adversarial Nets", NeurIPS 2014, eq. 1), from logits for stability."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss -E[log D(G(z))] (Goodfellow et al. 2014, section 3)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN critic: E[D(G(z))] - E[D(x)], minimised (Arjovsky, Chintala and Bottou, ICML 2017)."""
    return fake_scores.mean() - real_scores.mean()


def wgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """-E[D(G(z))]."""
    return -fake_scores.mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     mix: torch.Tensor) -> torch.Tensor:
    """E[(||grad_x_hat D(x_hat)||_2 - 1)^2] at x_hat = mix * real + (1 - mix) * fake, mix ~ U[0, 1] per sample
    (Gulrajani, Ahmed, Arjovsky, Dumoulin and Courville, "Improved Training of Wasserstein GANs", NeurIPS
    2017, eq. 3; the weight lambda is applied by the caller). Differentiable (create_graph)."""
    mix = mix.view(-1, *([1] * (real.dim() - 1)))
    x_hat = (mix * real + (1 - mix) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


__all__ = ["critic_loss", "discriminator_loss", "generator_loss", "gradient_penalty", "wgan_generator_loss"]

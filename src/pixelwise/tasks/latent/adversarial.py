"""A two-player game on a one-loss loop: the GAN objective, its batches and its samples.

:class:`AdversarialObjective` returns

    L = L_D(D(x), D(sg(G(z))))  +  L_G(D_sg(G(z)))     [the second term only every ``n_critic`` steps]

where sg stops gradients and D_sg is the discriminator called with detached parameters
(``torch.func.functional_call``). The discriminator's parameters therefore receive only dL_D and the
generator's only dL_G, and one Adam step of :func:`pixelwise.train.fit` updates both: simultaneous gradient
steps. On the steps without the generator term the generator has no gradient at all and Adam leaves it
untouched, which gives the WGAN-GP's n_critic critic updates per generator update.

The losses: DCGAN's (Radford et al. 2016), or the WGAN-GP critic with its gradient penalty (Gulrajani et al.
2017). The step counter that schedules the generator term is a buffer, so that the loop's checkpoint holds it
and a resumed run takes the generator steps an uninterrupted one takes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from pixelwise.losses.gan import (
    critic_loss,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    wgan_generator_loss,
)

KINDS = ("gan", "wgan")


class AdversarialObjective(nn.Module):
    """``forward((real, z, mix)) -> L_D + L_G`` as in the module docstring; real images (N, C, H, W) in [-1, 1],
    z (N, d), the gradient penalty's mixing weights ``mix`` (N,) in [0, 1]. ``gan``: a module with
    ``.generator`` and ``.discriminator``."""

    ddp_find_unused_parameters = True  # the critic's steps leave the generator without a gradient (train.distributed)

    def __init__(self, gan: nn.Module, kind: str, n_critic: int = 1, gp_lambda: float = 10.0):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r} is not one of {', '.join(KINDS)}.")
        if n_critic < 1:
            raise ValueError(f"n_critic={n_critic} must be >= 1.")
        self.gan, self.kind, self.n_critic, self.gp_lambda = gan, kind, int(n_critic), float(gp_lambda)
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))  # steps so far: in every checkpoint

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        real, z, mix = batch
        g, d = self.gan.generator, self.gan.discriminator
        fake = g(z)  # (N, C, H, W)
        d_real, d_fake = d(real), d(fake.detach())
        if self.kind == "gan":
            loss = discriminator_loss(d_real, d_fake)
        else:
            loss = critic_loss(d_real, d_fake) + self.gp_lambda * gradient_penalty(d, real, fake, mix)
        self.calls += 1
        if int(self.calls) % self.n_critic == 0:
            frozen = {name: p.detach() for name, p in d.named_parameters()}
            scores = functional_call(d, {**frozen, **dict(d.named_buffers())}, (fake,))
            loss = loss + (generator_loss(scores) if self.kind == "gan" else wgan_generator_loss(scores))
        return loss


def objective_value(loss: torch.Tensor, _target) -> torch.Tensor:
    """The loop's ``loss_fn`` for an :class:`AdversarialObjective`: its output already is the loss."""
    return loss


def train_batches(train: torch.Tensor, latent_dim: int, batch_size: int) -> tuple[Callable, int]:
    """(``batches(epoch, generator)`` for :func:`pixelwise.train.fit`, steps per epoch) over real images
    (N, ...) in [-1, 1]: each batch is ((real, z, mix), None) with z ~ N(0, I) and mix ~ U(0, 1), all drawn
    from the loop's generator."""
    bs = min(batch_size, len(train))

    def batches(epoch: int, generator: torch.Generator):
        order = torch.randperm(len(train), generator=generator)
        for start in range(0, len(train) - bs + 1, bs):  # a ragged last batch is dropped
            z = torch.randn(bs, latent_dim, generator=generator)
            mix = torch.rand(bs, generator=generator)
            yield (train[order[start:start + bs]], z, mix), None

    return batches, max(1, len(train) // bs)


@torch.no_grad()
def generate(gan: nn.Module, n: int, seed: int) -> np.ndarray:
    """n images in [0, 1], (n, C, H, W), from z ~ N(0, I) drawn with ``seed`` (the generator in eval mode)."""
    z = torch.randn(n, gan.latent_dim, generator=torch.Generator().manual_seed(seed))
    return ((gan.eval()(z).clamp(-1, 1) + 1) / 2).numpy()


def coverage_score(coverage: dict) -> float:
    """(entropy of the class histogram / log K) x (share of samples classified with confidence): 1 when every
    class is drawn equally often and confidently, 0 under a full collapse or when nothing looks like a class."""
    return coverage["entropy"] / coverage["max_entropy"] * coverage["confident_fraction"]

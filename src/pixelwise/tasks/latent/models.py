"""The models of ``pixelwise latent`` by name (one explicit table), the autoencoders' objective, the loop's settings.

Autoencoders: ae (MLP), convae (conv, vector bottleneck), vae (conv VAE, Kingma and Welling 2014), dae (conv AE
trained on corrupted inputs, Vincent et al. 2008), sparse (MLP with an L1 or KL-rho code penalty), cae (MLP with
the contractive penalty, Rifai et al. 2011), vqvae (van den Oord et al. 2017). GANs: gan (DCGAN, Radford et al.
2016) and wgan (WGAN-GP, Gulrajani et al. 2017), built as the :class:`AdversarialObjective` that training fits
(generator, discriminator and step counter in one state dict).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.losses.latent import AutoencoderLoss
from pixelwise.models.autoencoders import ConvAutoencoder, MLPAutoencoder
from pixelwise.models.gan import GAN
from pixelwise.models.vqvae import VQVAE
from pixelwise.tasks.latent.adversarial import AdversarialObjective
from pixelwise.tasks.latent.config import LatentConfig, is_gan
from pixelwise.train.config import FitConfig

Shape = tuple[int, int, int]


def _mlp(c: LatentConfig, s: Shape, **kw) -> nn.Module:
    return MLPAutoencoder(s, c.latent_dim, hidden=(c.hidden,), **kw)


def _gan(c: LatentConfig, s: Shape) -> nn.Module:
    gan = GAN(s, c.latent_dim, c.base, norm="batch" if c.model == "gan" else "none")  # no batch norm in a WGAN-GP
    return AdversarialObjective(gan, c.model, c.n_critic, c.gp_lambda)


# name -> builder(config, (C, H, W)); the one table of the models a latent run can be given
MODELS: dict[str, Callable[[LatentConfig, Shape], nn.Module]] = {
    "ae": lambda c, s: _mlp(c, s),
    "convae": lambda c, s: ConvAutoencoder(s, c.latent_dim, c.base),
    "vae": lambda c, s: ConvAutoencoder(s, c.latent_dim, c.base, variational=True),
    "dae": lambda c, s: ConvAutoencoder(s, c.latent_dim, c.base),
    "sparse": lambda c, s: _mlp(c, s, code_activation="sigmoid" if c.sparsity == "kl" else "relu"),
    "cae": lambda c, s: _mlp(c, s, code_activation="sigmoid"),
    "vqvae": lambda c, s: VQVAE(s, code_dim=c.latent_dim, num_codes=c.num_codes, base=c.base),
    "gan": _gan,
    "wgan": _gan,
}


def build_model(config: LatentConfig, shape: Shape | None = None) -> nn.Module:
    """The model named by ``config.model`` for images of ``shape`` (default: the run's ``image_shape``), with
    random weights (seeded by the caller)."""
    shape = tuple(shape if shape is not None else config.image_shape)
    if len(shape) != 3:
        raise PixelwiseError(f"image shape {shape} is not (C, H, W); the run folder's config.json is incomplete: "
                             "train the run again.")
    try:
        builder = MODELS[config.model]
    except KeyError:
        raise PixelwiseError(f"model {config.model!r} is not known; use one of {', '.join(MODELS)}.") from None
    try:
        return builder(config, shape)
    except ValueError as err:  # a size or hyperparameter the model rejects
        raise PixelwiseError(f"{config.model} cannot be built for images of {shape}: {err}") from None


def loss_for(config: LatentConfig) -> AutoencoderLoss:
    """The autoencoders' objective (see :class:`pixelwise.losses.latent.AutoencoderLoss`) for ``config.model``."""
    vae = config.model == "vae"
    return AutoencoderLoss(
        recon=config.recon_kind, reduction="image" if vae else "pixel", beta=config.beta,
        sparsity=config.sparsity if config.model == "sparse" else None,
        sparsity_weight=config.sparsity_weight if config.model == "sparse" else 0.0, rho=config.rho,
        contractive=config.contractive if config.model == "cae" else 0.0, commitment_beta=config.commitment)


def loop_settings(config: LatentConfig, progress: bool = False, labelled: bool = True) -> FitConfig:
    """The loop's settings of a run: the best epoch by validation MSE (autoencoders) or by the mode coverage of
    a fixed batch of samples (GANs with a judge; without labels there is no judge, and the loop keeps the
    lowest training loss). A VQ-VAE's loop gets (1 - prior_share) of ``minutes``, its prior the rest."""
    if is_gan(config.model):
        monitor = {"monitor": "val_coverage", "mode": "max"} if labelled else {"monitor": "train_loss"}
        return config.fit_config(progress, betas=config.betas, **monitor)
    settings = config.fit_config(progress, monitor="val_mse", mode="min", betas=config.betas)
    if config.model == "vqvae" and config.minutes:
        settings = dataclasses.replace(settings, minutes=config.minutes * (1 - config.prior_share))
    return settings

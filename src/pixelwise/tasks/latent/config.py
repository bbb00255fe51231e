"""The settings of ``pixelwise latent train`` (and of its run folders): the autoencoder family and the GANs.

One dataclass for every model of the command, so that its options derive from one place. Some defaults
depend on the model and are resolved in ``__post_init__`` from ``None``: the learning rate and Adam's betas
(the GAN papers' own, see :mod:`pixelwise.tasks.latent.adversarial`), ``n_critic``, the schedule (constant
for the GANs) and the prior's epochs. This module imports no torch (the command line builds its parser
from it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from pixelwise.data.imagesets import NAMED_SOURCES
from pixelwise.errors import PixelwiseError
from pixelwise.train.config import TrainingConfig, one_of, option, whole

GAN_MODELS = ("gan", "wgan")  # the adversarial models; every other model name is an autoencoder
CONV_FREE = ("ae", "sparse", "cae")  # MLP autoencoders: any image size
RECONSTRUCTIONS = ("mse", "bce")
SPARSITIES = ("kl", "l1")
CORRUPTION_NAMES = ("gaussian", "masking", "salt_pepper")  # pixelwise.models.corruption.CORRUPTIONS
PRIOR_EPOCHS = 30  # the prior's epochs without --minutes

# model -> (learning rate, Adam's betas, n_critic, schedule): DCGAN, Radford et al. 2016, sec. 4; WGAN-GP,
# Gulrajani et al. 2017, Algorithm 1 (alpha = 1e-4, beta_1 = 0, beta_2 = 0.9, n_critic = 5)
LOOP_DEFAULTS = {"gan": (2e-4, (0.5, 0.999), 1, "constant"), "wgan": (1e-4, (0.0, 0.9), 5, "constant")}
AUTOENCODER_LOOP = (1e-3, (0.9, 0.999), 1, "cosine")


def is_gan(model: str) -> bool:
    return model in GAN_MODELS


@dataclass
class LatentConfig(TrainingConfig):
    """Images -> an autoencoder (or a GAN) of :mod:`pixelwise.tasks.latent`, evaluated on held-out images."""

    RECIPE: ClassVar[str] = "latent"
    DEFAULT_EPOCHS: ClassVar[int] = 30

    data: str = option("digits", path=True, keywords=NAMED_SOURCES,
                       help="mnist (downloaded once), mnist-test, digits (bundled 8x8), an .npz file or a folder")
    out: str = option("runs/latent", path=True, help="run folder to create")
    model: str = option("convae", help="ae, convae, vae, dae, sparse, cae, vqvae (autoencoders), gan or wgan")
    latent_dim: int = option(16, help="code size d (vqvae: channels per code position; gan: the size of z)")
    size: int | None = option(None, help="folders only: resize images to SIZE x SIZE")
    max_images: int | None = option(None, help="a seeded random subset of this many images (default: all)")
    cache_dir: str | None = option(None, path=True, help="MNIST download cache (default ~/.cache/pixelwise/mnist "
                                   "or $PIXELWISE_CACHE)")
    split: tuple[float, float, float] = option((0.8, 0.1, 0.1), help="train,val,test fractions")
    base: int = option(32, help="conv channels of the first stage")
    hidden: int = option(256, help="ae, sparse, cae: MLP hidden width")
    recon: str | None = option(None, help="reconstruction loss, mse or bce (default: bce for vae, mse otherwise)")
    beta: float = option(1.0, help="vae: KL weight")
    corruption: str = option("gaussian", help="dae: gaussian, masking or salt_pepper")
    noise: float = option(0.3, help="dae: sigma (gaussian), or the probability p")
    sparsity: str = option("kl", help="sparse: the code penalty, kl or l1")
    sparsity_weight: float = option(0.1, help="sparse: weight of the code penalty")
    rho: float = option(0.05, help="sparse (kl): target mean activation")
    contractive: float = option(0.1, help="cae: lambda of ||dh/dx||_F^2")
    num_codes: int = option(64, help="vqvae: codebook size K")
    commitment: float = option(0.25, help="vqvae: commitment weight beta")
    prior_share: float = option(0.2, help="vqvae: share of --minutes for fitting the PixelCNN prior over codes "
                                "after the VQ-VAE")
    prior_epochs: int | None = option(None, budget=True, help="vqvae: prior epochs (default 30; with --minutes "
                                      "the upper bound, 1000)")
    prior_channels: int = option(64, help="vqvae: gated PixelCNN channels")
    prior_layers: int = option(6, help="vqvae: gated PixelCNN layers")
    prior_lr: float = option(1e-3, help="vqvae: the prior's learning rate")
    anomaly_class: int | None = option(None, help="autoencoders: hold this label out of training and score it as "
                                       "the anomaly at test time")
    false_positive_rate: float = option(0.05, flag="--fpr", metavar="FPR", help="anomaly threshold: the false "
                                        "positive rate on validation images")
    grid_size: int = option(16, help="test images shown in the reconstruction grid")
    n_critic: int | None = option(None, help="gan/wgan: discriminator steps per generator step (default 1 for "
                                  "gan, 5 for wgan)")
    gp_lambda: float = option(10.0, help="wgan: weight lambda of the gradient penalty")
    n_samples: int = option(64, help="gan/wgan: samples drawn for the evaluation")
    classifier_epochs: int = option(8, help="gan/wgan: epochs of the digit classifier that judges the samples "
                                    "(labelled data)")
    betas: tuple[float, float] | None = option(None, help="Adam's betas (default 0.9,0.999; 0.5,0.999 for gan, "
                                               "0,0.9 for wgan)")
    # the loop's settings with this command's defaults
    lr: float | None = option(None, help="Adam's learning rate (default 1e-3; 2e-4 for gan, 1e-4 for wgan)")
    batch_size: int = option(128, help="images per training step")
    schedule: str | None = option(None, help="learning-rate schedule: cosine, onecycle or constant (default "
                                  "cosine; constant for gan and wgan)")
    # set by the recipe from the data
    image_shape: list[int] = option(derived=True, default_factory=list)  # (C, H, W) of the training images
    classes: int = option(0, derived=True)  # label classes of the data (0: unlabelled)

    def __post_init__(self):
        from pixelwise.tasks.latent.models import MODELS

        one_of(self.model, "model", tuple(MODELS))
        self._resolve_defaults()
        super().__post_init__()
        self.fit_config(betas=self.betas)  # the loop's checks of the betas too
        for name in ("latent_dim", "base", "hidden", "num_codes", "grid_size", "prior_epochs", "prior_channels",
                     "prior_layers", "n_critic", "n_samples", "classifier_epochs"):
            whole(getattr(self, name), name)
        if self.size is not None:
            whole(self.size, "size")
        self._check_autoencoder()
        self._check_gan()
        self._check_data()

    def _resolve_defaults(self) -> None:
        lr, betas, n_critic, schedule = LOOP_DEFAULTS.get(self.model, AUTOENCODER_LOOP)
        self.lr = lr if self.lr is None else self.lr
        self.betas = tuple(float(b) for b in (betas if self.betas is None else self.betas))  # a list from JSON
        self.n_critic = n_critic if self.n_critic is None else self.n_critic
        self.schedule = schedule if self.schedule is None else self.schedule
        if self.prior_epochs is None:
            self.prior_epochs = self.MAX_EPOCHS_WITH_BUDGET if self.minutes else PRIOR_EPOCHS

    def _check_autoencoder(self) -> None:
        if self.model == "vqvae" and self.num_codes < 2:
            raise PixelwiseError(f"num_codes={self.num_codes} must be >= 2 for a codebook, e.g. 64.")
        if not 0 < self.prior_share < 1:
            raise PixelwiseError(f"prior_share={self.prior_share} must lie in (0, 1), e.g. 0.2 (a fifth of "
                                 "--minutes for the VQ-VAE's prior).")
        if not (self.prior_lr > 0 and math.isfinite(self.prior_lr)):
            raise PixelwiseError(f"prior_lr={self.prior_lr} must be a finite number > 0, e.g. 1e-3.")
        one_of(self.recon, "recon", (None, *RECONSTRUCTIONS))
        one_of(self.corruption, "corruption", CORRUPTION_NAMES)
        one_of(self.sparsity, "sparsity", SPARSITIES)
        if not 0 < self.rho < 1:
            raise PixelwiseError(f"rho={self.rho} must lie in (0, 1), e.g. 0.05.")
        for name in ("beta", "noise", "sparsity_weight", "contractive", "commitment", "gp_lambda"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise PixelwiseError(f"{name}={value} must be a finite number >= 0.")
        if self.corruption != "gaussian" and self.noise > 1:
            raise PixelwiseError(f"noise={self.noise} is a probability for {self.corruption}; use 0..1.")
        if not 0 < self.false_positive_rate < 1:
            raise PixelwiseError(f"false_positive_rate={self.false_positive_rate} (--fpr) must lie in (0, 1), "
                                 "e.g. 0.05.")

    def _check_gan(self) -> None:
        if not is_gan(self.model):
            return
        if self.batch_size < 2:
            raise PixelwiseError(f"batch_size={self.batch_size} must be >= 2 for a GAN (batch norm and the critic "
                                 "need several samples).")
        if self.anomaly_class is not None:
            raise PixelwiseError(f"anomaly_class={self.anomaly_class} applies to the autoencoders, not to "
                                 f"{self.model}; leave --anomaly-class out.")

    def _check_data(self) -> None:
        if self.max_images is not None and (isinstance(self.max_images, bool) or self.max_images < 3):
            raise PixelwiseError(f"max_images={self.max_images} must be >= 3 (train, val and test need one each).")
        self.split = tuple(float(f) for f in self.split)
        bad = len(self.split) != 3 or min(self.split) < 0 or abs(sum(self.split) - 1) > 1e-6
        if bad or self.split[0] == 0 or self.split[1] == 0 or self.split[2] == 0:
            raise PixelwiseError(f"split={self.split} must be three fractions summing to 1 with non-zero training, "
                                 "validation and test parts, e.g. 0.8,0.1,0.1.")

    @property
    def recon_kind(self) -> str:
        return self.recon or ("bce" if self.model == "vae" else "mse")

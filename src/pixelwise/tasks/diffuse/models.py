"""The run's net (a time-conditioned U-Net behind an adapter for the loop) and the epsilon losses."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.models.diffusion_unet import TimeUNet
from pixelwise.tasks.diffuse.config import DiffusionConfig


class EpsilonModel(nn.Module):
    """Adapter for :func:`pixelwise.train.fit`, which passes one input: ``forward((x_t, t[, y]))`` is
    ``net(x_t, t[, y])``, the noise predicted for x_t (N, C, H, W) at steps t (N,) [with labels y (N,)]."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return self.net(*batch)


def build_model(config: DiffusionConfig) -> EpsilonModel:
    """The run's net with random weights (seeded by the caller), for images of ``config.image_shape`` and, in a
    conditional run, ``config.classes`` labels (set by the recipe from the data)."""
    if not config.image_shape:
        raise PixelwiseError("the config has no image_shape (the recipe sets it from the data); train with "
                             "run(config), or load a run folder made by `pixelwise diffuse train`.")
    try:
        net = TimeUNet(int(config.image_shape[0]), config.base, config.mults, attention=config.attention,
                       classes=config.classes if config.conditional else 0)
    except ValueError as err:  # a hyperparameter the net rejects
        raise PixelwiseError(str(err)) from None
    return EpsilonModel(net)


def epsilon_mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """||eps_theta - eps||^2, the mean over elements (Ho et al. 2020, eq. 14: the simplified objective)."""
    return (prediction - target).pow(2).mean()


def weighted_epsilon_mse(prediction: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """mean_i w_i ||eps_theta,i - eps_i||^2 / D: each sample's squared error (the mean over its D elements) times
    its weight (e.g. :func:`~pixelwise.diffusion.ddpm.min_snr_weights`, Hang et al. 2023), averaged over the
    batch; all weights 1 give :func:`epsilon_mse`."""
    eps, weights = target
    return ((prediction - eps).pow(2).flatten(1).mean(1) * weights).mean()


def loss_for(config: DiffusionConfig) -> Callable:
    """The training loss: the plain epsilon MSE, or with ``min_snr`` the Min-SNR weighted one (validation is always
    the plain one, so that runs with and without weights compare)."""
    return epsilon_mse if config.min_snr is None else weighted_epsilon_mse

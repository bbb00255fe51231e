"""The figures of an autoencoder evaluation: reconstructions, random decodes, the code space, the VAE's
interpolation and the anomaly maps (images as numpy arrays (N, 1, H, W) in [0, 1])."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from pixelwise.metrics.latent import pca
from pixelwise.report.latent import image_grid, latent_scatter


def spread(n_items: int, n_shown: int) -> torch.Tensor:
    """``n_shown`` indices evenly spaced over ``n_items`` (so that a label-sorted source shows every class)."""
    return torch.from_numpy(np.linspace(0, n_items - 1, min(n_shown, n_items)).round().astype(int))


def reconstructions(plots: Path, test: torch.Tensor, x_hat: torch.Tensor, pick: torch.Tensor, title: str) -> Path:
    return image_grid([test[pick].numpy(), x_hat[pick].numpy()], plots / "reconstructions.png",
                      ["originals", "reconstructions"], title)


def random_decodes_figure(plots: Path, decodes: torch.Tensor, uniform: torch.Tensor | None) -> Path:
    """The decoded random codes; beside uniform codes when ``decodes`` came from the VQ-VAE's prior."""
    if uniform is not None:
        return image_grid([decodes[:16].numpy(), uniform[:16].numpy()], plots / "random_decodes.png",
                          ["codes from the PixelCNN prior", "uniform random codes"],
                          "VQ-VAE samples: code maps from the prior vs uniform codes, decoded")
    return image_grid([decodes[:32].numpy()], plots / "random_decodes.png", ["decoded random codes"],
                      "random vectors into the decoder (N(0, I); uniform indices for the VQ-VAE)")


def codes_2d(z: np.ndarray) -> tuple[np.ndarray, str]:
    """Codes (N, d) as 2-D points for a scatter plot, and the axes' name (the first two principal components
    when d > 2)."""
    if z.shape[1] == 2:
        return z, "z_1, z_2"
    if z.shape[1] == 1:
        return np.concatenate([z, np.zeros_like(z)], 1), "z_1"
    if len(z) < 2:  # one test image has no principal components
        return z[:, :2], "z_1, z_2"
    mean, comps, _ = pca(z, 2)
    return (z - mean) @ comps.T, "first two principal components of z"


def code_space(plots: Path, z: torch.Tensor, labels: np.ndarray | None) -> Path:
    z2, axes = codes_2d(z.numpy().astype(np.float64))
    return latent_scatter(z2, labels, plots / "latent.png", f"test codes ({axes})")


@torch.no_grad()
def interpolation(plots: Path, model: nn.Module, z: torch.Tensor, pick: torch.Tensor) -> Path:
    """Decoded codes on the line from mu_a to mu_b of the first and last picked test images (the VAE)."""
    ends = z[[int(pick[0]), int(pick[-1])]]
    steps = torch.linspace(0, 1, 10)[:, None]
    line = model.decode(ends[0] * (1 - steps) + ends[1] * steps)
    return image_grid([line.numpy()], plots / "interpolation.png", ["mu_a -> mu_b"],
                      "latent interpolation between two test images")


def anomaly_maps(plots: Path, test: torch.Tensor, x_hat: torch.Tensor, scores: np.ndarray) -> Path:
    """The highest-scoring test images, their reconstructions and the per-pixel squared errors."""
    worst = torch.from_numpy(np.argsort(-scores)[: min(8, len(scores))].copy())
    errors = (test[worst] - x_hat[worst]).pow(2).numpy()
    return image_grid([test[worst].numpy(), x_hat[worst].numpy(), errors], plots / "anomaly_maps.png",
                      ["highest scores", "reconstructions", "per-pixel squared error"], "per-pixel anomaly maps",
                      cmap="magma", vmax=None)

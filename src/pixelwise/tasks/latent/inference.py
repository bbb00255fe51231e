"""A latent run's trained model from its folder, and what the autoencoders compute on images."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pixelwise.losses.latent import kl_normal
from pixelwise.models.gan import DigitClassifier
from pixelwise.tasks.latent.config import LatentConfig
from pixelwise.tasks.latent.models import build_model
from pixelwise.train.checkpoint import load_weights
from pixelwise.train.runs import checkpoint_path, read_config

JUDGE_FOLDER = "classifier"  # a GAN run's digit classifier, inside the run folder


def load_run(run_dir: str | Path, which: str = "best") -> tuple[LatentConfig, nn.Module]:
    """The config and the trained model (eval mode) of a latent run folder; ``which``: "best" or "last".
    For a GAN run the model is the :class:`~pixelwise.models.gan.GAN` (generator and discriminator)."""
    config = read_config(LatentConfig, run_dir)
    model = build_model(config)
    load_weights(model, checkpoint_path(run_dir, which))
    model = model.gan if hasattr(model, "gan") else model  # an AdversarialObjective: the players
    return config, model.eval()


def load_judge(run_dir: str | Path, config: LatentConfig) -> nn.Module | None:
    """A GAN run's digit classifier (best epoch, eval mode), or None for a run on unlabelled data."""
    folder = Path(run_dir) / JUDGE_FOLDER
    if config.classes < 1 or not (folder / "checkpoints").is_dir():
        return None
    judge = DigitClassifier(tuple(config.image_shape), max(config.classes, 2))
    return load_weights(judge, checkpoint_path(folder, "best")).eval()


@torch.no_grad()
def reconstruct(model: nn.Module, images: torch.Tensor, batch_size: int = 512) -> dict[str, torch.Tensor]:
    """x_hat, codes and per-image errors of (N, C, H, W) images (model in eval mode): ``mse`` and ``bce`` per
    pixel, ``kl`` (VAE) in nats per image, ``indices`` (VQ-VAE) flattened per image."""
    out: dict[str, list] = {"x_hat": [], "z": [], "mse": [], "bce": [], "kl": [], "indices": []}
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        o = model(x)
        out["x_hat"].append(o.x_hat)
        out["z"].append((o.mu if o.mu is not None else o.z).flatten(1))
        out["mse"].append((o.x_hat - x).pow(2).flatten(1).mean(1))
        p = o.x_hat.clamp(1e-6, 1 - 1e-6)
        out["bce"].append(-(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).mean(1))
        if o.mu is not None:
            out["kl"].append(kl_normal(o.mu, o.logvar))
        if o.indices is not None:
            out["indices"].append(o.indices.flatten(1))
    return {k: torch.cat(v) for k, v in out.items() if v}


def perplexity(indices: torch.Tensor, num_codes: int) -> float:
    """exp(entropy) of the code histogram: the number of equally used codes it amounts to (1..K)."""
    p = torch.bincount(indices.flatten(), minlength=num_codes).float()
    p = p / p.sum()
    return float(torch.exp(-(p * p.clamp_min(1e-12).log()).sum()))

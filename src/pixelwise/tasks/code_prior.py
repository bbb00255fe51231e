"""The VQ-VAE's second stage: a gated PixelCNN prior (:mod:`pixelwise.models.pixelcnn`) fitted on the code
maps of the training images with :func:`pixelwise.train.fit`, scored in nats and bits per code.

Two baselines put the score in context: uniform codes (log K per code) and independent codes drawn from the
training histogram (the "unigram" cross-entropy, add-one smoothed). A prior that does not beat the unigram
score has learned nothing about how codes are laid out, and its samples decode to texture, not images.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn import functional as F

from pixelwise.errors import PixelwiseError
from pixelwise.models.pixelcnn import PixelCNNPrior
from pixelwise.train import FitConfig, FitResult, fit, load_weights


@dataclass
class PriorConfig:
    channels: int = 64
    layers: int = 6
    kernel_size: int = 3
    epochs: int = 30  # the number of epochs, or the upper bound when ``minutes`` is set
    minutes: float | None = None
    lr: float = 1e-3
    batch_size: int = 128
    seed: int = 0

    def __post_init__(self):
        for name in ("channels", "layers", "epochs", "batch_size"):
            if int(getattr(self, name)) != getattr(self, name) or getattr(self, name) < 1:
                raise PixelwiseError(f"prior {name}={getattr(self, name)} must be an integer >= 1.")
        if self.kernel_size < 3 or self.kernel_size % 2 == 0:
            raise PixelwiseError(f"prior kernel_size={self.kernel_size} must be odd and >= 3, e.g. 3.")
        if not self.lr > 0:
            raise PixelwiseError(f"prior lr={self.lr} must be > 0, e.g. 1e-3.")
        if self.minutes is not None and not self.minutes > 0:
            raise PixelwiseError(f"prior minutes={self.minutes} must be > 0.")


def build_prior(num_codes: int, config: PriorConfig) -> PixelCNNPrior:
    return PixelCNNPrior(num_codes, config.channels, config.layers, config.kernel_size)


@torch.no_grad()
def nll_per_code(prior: PixelCNNPrior, codes: torch.Tensor, batch_size: int = 512) -> float:
    """Mean -log p(k_i | k_<i) over every position of (N, h, w) code maps, in nats."""
    total = 0.0
    for start in range(0, len(codes), batch_size):
        k = codes[start:start + batch_size]
        total += F.cross_entropy(prior(k), k, reduction="sum").item()
    return total / codes.numel()


def unigram_nll(train_codes: torch.Tensor, codes: torch.Tensor, num_codes: int) -> float:
    """Mean -log q(k) over ``codes`` with q the add-one smoothed code histogram of ``train_codes``, in nats."""
    counts = torch.bincount(train_codes.flatten(), minlength=num_codes).double() + 1
    log_q = (counts / counts.sum()).log()
    return float(-log_q[codes.flatten()].mean())


def train_prior(train_codes: torch.Tensor, val_codes: torch.Tensor, num_codes: int, config: PriorConfig,
                run_dir: str | Path | None = None, resume: bool = False, progress: bool = False,
                log: Callable[[str], None] = print) -> tuple[PixelCNNPrior, FitResult]:
    """Fit the prior on (N, h, w) int64 code maps by maximum likelihood (cross-entropy per code); the best
    epoch by validation NLL is kept (and loaded back when ``run_dir`` is given). Returns (prior in eval mode,
    the loop's result)."""
    for name, codes in (("train", train_codes), ("validation", val_codes)):
        if codes.dim() != 3 or len(codes) == 0:
            raise PixelwiseError(f"{name} code maps must be a non-empty (N, h, w) tensor, got "
                                 f"{tuple(codes.shape)}; the VQ-VAE split has no {name} images.")
    torch.manual_seed(config.seed)
    prior = build_prior(num_codes, config)
    n, bs = len(train_codes), min(config.batch_size, len(train_codes))

    def batches(epoch: int, generator: torch.Generator):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - bs + 1, bs):  # a ragged last batch is dropped
            k = train_codes[order[start:start + bs]]  # (B, h, w)
            yield k, k

    def validate(model: PixelCNNPrior) -> dict:
        nll = nll_per_code(model, val_codes)
        return {"val_nll": nll, "val_bits": nll / math.log(2)}

    loop = FitConfig(epochs=config.epochs, minutes=config.minutes, lr=config.lr, seed=config.seed,
                     progress=progress, monitor="val_nll", mode="min")
    result = fit(prior, F.cross_entropy, batches, max(1, n // bs), validate, loop, run_dir, resume, log)
    if run_dir is not None:
        load_weights(prior, Path(run_dir) / "checkpoints" / "best.safetensors")
    return prior.eval(), result


def load_prior(run_dir: str | Path, num_codes: int, config: PriorConfig) -> PixelCNNPrior | None:
    """The fitted prior of ``run_dir`` (best epoch, eval mode), or None when none was fitted there."""
    ckpt = Path(run_dir) / "checkpoints"
    for name in ("best", "last"):
        if (ckpt / f"{name}.safetensors").is_file():
            return load_weights(build_prior(num_codes, config), ckpt / f"{name}.safetensors").eval()
    return None


__all__ = ["PriorConfig", "build_prior", "load_prior", "nll_per_code", "train_prior", "unigram_nll"]

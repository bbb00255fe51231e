"""The VQ-VAE's second stage: a gated PixelCNN prior (:mod:`pixelwise.models.pixelcnn`; van den Oord et al.
2016, "Conditional image generation with PixelCNN decoders") fitted by maximum likelihood on the code maps of the
training images with :func:`pixelwise.train.fit`, as in the VQ-VAE paper (van den Oord et al. 2017), and scored
in nats and bits per code.

Two baselines put the score in context: uniform codes (log K per code) and independent codes drawn from the
training histogram (the "unigram" cross-entropy, add-one smoothed). A prior that does not beat the unigram
score has learned nothing about how codes are laid out, and its samples decode to texture, not images.

In a run the prior lives in ``RUN/prior/`` (its own checkpoints and history) and is fitted on the codes of the
best VQ-VAE checkpoint, the one that is sampled later. A kill during this stage resumes it; a VQ-VAE that
trains on (a resumed run whose VQ-VAE was not finished, or was extended) gets a new prior.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn import functional as F

from pixelwise.errors import PixelwiseError
from pixelwise.models.pixelcnn import PixelCNNPrior
from pixelwise.models.vqvae import VQVAE
from pixelwise.tasks.latent.config import LatentConfig
from pixelwise.train.checkpoint import load_weights
from pixelwise.train.config import FitConfig
from pixelwise.train.distributed import is_main
from pixelwise.train.loop import FitResult, fit
from pixelwise.train.runs import checkpoint_path

PRIOR_FOLDER = "prior"  # inside the run folder


@dataclass
class PriorConfig:
    """The settings of the prior and of its loop."""

    channels: int = 64
    layers: int = 6
    kernel_size: int = 3
    epochs: int = 30  # the number of epochs, or the upper bound when ``minutes`` is set
    minutes: float | None = None
    lr: float = 1e-3
    batch_size: int = 128
    seed: int = 0
    deterministic: bool = False

    def __post_init__(self):
        for name in ("channels", "layers", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise PixelwiseError(f"prior {name}={value} must be a whole number >= 1.")
        if self.kernel_size < 3 or self.kernel_size % 2 == 0:
            raise PixelwiseError(f"prior kernel_size={self.kernel_size} must be odd and >= 3, e.g. 3.")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise PixelwiseError(f"prior lr={self.lr} must be a finite number > 0, e.g. 1e-3.")
        if self.minutes is not None and not (self.minutes > 0 and math.isfinite(self.minutes)):
            raise PixelwiseError(f"prior minutes={self.minutes} must be a finite number > 0.")


def prior_config(config: LatentConfig) -> PriorConfig:
    """The settings of the code prior in a run with ``config``: ``prior_share`` of its minutes, if any."""
    minutes = config.minutes * config.prior_share if config.minutes else None
    return PriorConfig(channels=config.prior_channels, layers=config.prior_layers, epochs=config.prior_epochs,
                       minutes=minutes, lr=config.prior_lr, batch_size=config.batch_size, seed=config.seed,
                       deterministic=config.deterministic)


def build_prior(num_codes: int, config: PriorConfig) -> PixelCNNPrior:
    return PixelCNNPrior(num_codes, config.channels, config.layers, config.kernel_size)


@torch.no_grad()
def nll_per_map(prior: PixelCNNPrior, codes: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Mean -log p(k_i | k_<i) over the positions of each (h, w) code map of ``codes`` (N, h, w): (N,) nats."""
    out = []
    for start in range(0, len(codes), batch_size):
        k = codes[start:start + batch_size]
        out.append(F.cross_entropy(prior(k), k, reduction="none").flatten(1).mean(1))
    return torch.cat(out)


def nll_per_code(prior: PixelCNNPrior, codes: torch.Tensor, batch_size: int = 512) -> float:
    """Mean -log p(k_i | k_<i) over every position of (N, h, w) code maps, in nats."""
    return float(nll_per_map(prior, codes, batch_size).double().mean())


def unigram_nll(train_codes: torch.Tensor, codes: torch.Tensor, num_codes: int) -> float:
    """Mean -log q(k) over ``codes`` with q the add-one smoothed code histogram of ``train_codes``, in nats."""
    counts = torch.bincount(train_codes.flatten(), minlength=num_codes).double() + 1
    log_q = (counts / counts.sum()).log()
    return float(-log_q[codes.flatten()].mean())


def train_prior(train_codes: torch.Tensor, val_codes: torch.Tensor, num_codes: int, config: PriorConfig,
                run_dir: str | Path | None = None, resume: bool = False, progress: bool = False,
                log: Callable[[str], None] = print) -> tuple[PixelCNNPrior, FitResult]:
    """Fit the prior on (N, h, w) int64 code maps by maximum likelihood (cross-entropy per code); the best
    epoch by validation NLL is kept (and loaded back when ``run_dir`` is given). ``resume`` continues the fit
    saved in ``run_dir``. Returns (prior in eval mode, the loop's result)."""
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
                     deterministic=config.deterministic, progress=progress, monitor="val_nll", mode="min")
    result = fit(prior, F.cross_entropy, batches, max(1, n // bs), validate, loop, run_dir, resume, log)
    if run_dir is not None:
        load_weights(prior, checkpoint_path(run_dir, "best"))
    return prior.eval(), result


def load_prior(run_dir: str | Path, num_codes: int, config: PriorConfig) -> PixelCNNPrior | None:
    """The fitted prior in ``run_dir`` (its best epoch, eval mode), or None when none was fitted there."""
    folder = Path(run_dir) / "checkpoints"
    if not any((folder / f"{which}.safetensors").is_file() for which in ("best", "last")):
        return None
    return load_weights(build_prior(num_codes, config), checkpoint_path(run_dir, "best")).eval()


def load_run_prior(run_dir: str | Path, config: LatentConfig) -> PixelCNNPrior | None:
    """The code prior of a VQ-VAE run folder, or None."""
    return load_prior(Path(run_dir) / PRIOR_FOLDER, config.num_codes, prior_config(config))


@torch.no_grad()
def code_maps(model: VQVAE, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """The VQ-VAE's code indices of (N, C, H, W) images, (N, h, w) int64 (model in eval mode: no restarts)."""
    return torch.cat([model.quantizer(model.encode(images[start:start + batch_size])).indices
                      for start in range(0, len(images), batch_size)])


def fit_run_prior(run_dir: Path, config: LatentConfig, vqvae: VQVAE, train: torch.Tensor, val: torch.Tensor,
                  resume: bool, progress: bool, log: Callable[[str], None]) -> FitResult:
    """The second stage of a VQ-VAE run: the prior in ``RUN/prior`` on the codes of ``vqvae`` (the best
    checkpoint, eval mode). ``resume``: continue the prior saved there; otherwise any earlier prior is removed
    first (it was fitted on other codes), so that a kill in this stage never leaves a stale one to resume."""
    folder = Path(run_dir) / PRIOR_FOLDER
    if not resume and folder.exists() and is_main():  # under torchrun process 0 alone writes
        shutil.rmtree(folder)
    train_codes, val_codes = code_maps(vqvae, train), code_maps(vqvae, val)
    settings = prior_config(config)
    h, w = train_codes.shape[1:]
    log(f"fitting the PixelCNN prior on {len(train_codes)} code maps of {h}x{w}"
        + (f" in {settings.minutes:.2f} min" if settings.minutes else f" for {settings.epochs} epochs"))
    _, result = train_prior(train_codes, val_codes, config.num_codes, settings, folder, resume, progress,
                            log=lambda _: None)
    log(f"prior: {len(result.history)} epochs in {result.seconds:.0f}s, validation "
        f"{result.best_value / math.log(2):.3f} bits per code (uniform codes: {math.log2(config.num_codes):.3f})")
    return result

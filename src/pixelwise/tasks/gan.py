"""GAN recipe: a DCGAN (Radford et al. 2016) or a WGAN-GP (Gulrajani et al. 2017) on small grey images,
trained with :func:`pixelwise.train.fit`, and measured by mode coverage under a digit classifier.

How a two-player game runs on a one-loss loop: :class:`AdversarialObjective` returns

    L = L_D(D(x), D(sg(G(z))))  +  L_G(D_sg(G(z)))     [the second term only every ``n_critic`` steps]

where sg stops gradients and D_sg is the discriminator called with detached parameters
(``torch.func.functional_call``). The discriminator's parameters therefore receive only dL_D and the
generator's only dL_G, and one Adam step updates both: simultaneous gradient steps. On the steps without
the generator term the generator has no gradient at all and Adam leaves it untouched, which gives the
WGAN-GP's n_critic critic updates per generator update.

Optimiser defaults follow the papers: DCGAN Adam(lr 2e-4, betas (0.5, 0.999)) (Radford et al. 2016, sec. 4);
WGAN-GP Adam(lr 1e-4, betas (0, 0.9)), n_critic = 5 and lambda = 10 (Gulrajani et al. 2017, Algorithm 1).

The run trains a :class:`pixelwise.models.gan.DigitClassifier` on the labelled training images first
(when the data has labels) and monitors the mode-coverage score of a fixed batch of generated samples:
(entropy of the class histogram / log K) x (share of samples classified with probability > 0.9).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from pixelwise.data.imagesets import load_image_set, split_indices
from pixelwise.errors import PixelwiseError
from pixelwise.losses.gan import (
    critic_loss,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    wgan_generator_loss,
)
from pixelwise.models.gan import GAN, DigitClassifier
from pixelwise.train import FitConfig, fit, load_weights, prepare_run_dir, read_json, write_json
from pixelwise.train.runs import RunResult, config_from_dict

GAN_MODELS = ("gan", "wgan")


@dataclass
class GANConfig:
    data: str = "digits"
    out: str = "runs/gan"
    model: str = "gan"  # "gan" (DCGAN, BCE game) or "wgan" (WGAN-GP)
    latent_dim: int = 64
    base: int = 64
    size: int | None = None
    max_images: int | None = None
    epochs: int = 30
    minutes: float | None = None
    lr: float | None = None  # default 2e-4 (gan) or 1e-4 (wgan)
    betas: tuple[float, float] | None = None  # Adam's; default (0.5, 0.999) (gan) or (0.0, 0.9) (wgan)
    batch_size: int = 64
    n_critic: int | None = None  # default 1 (gan) or 5 (wgan)
    gp_lambda: float = 10.0
    n_samples: int = 64
    classifier_epochs: int = 8
    seed: int = 0
    cache_dir: str | None = None

    def __post_init__(self):
        if self.model not in GAN_MODELS:
            raise PixelwiseError(f"model {self.model!r} is not a GAN; use one of {', '.join(GAN_MODELS)}.")
        for name in ("latent_dim", "base", "epochs", "batch_size", "n_samples", "classifier_epochs"):
            if int(getattr(self, name)) != getattr(self, name) or getattr(self, name) < 1:
                raise PixelwiseError(f"{name}={getattr(self, name)} must be an integer >= 1.")
        if self.batch_size < 2:
            raise PixelwiseError("batch_size must be >= 2 (BatchNorm and the critic need several samples).")
        if self.lr is None:
            self.lr = 2e-4 if self.model == "gan" else 1e-4
        if self.betas is None:
            self.betas = (0.5, 0.999) if self.model == "gan" else (0.0, 0.9)
        self.betas = tuple(float(b) for b in self.betas)  # a list after a round trip through config.json
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise PixelwiseError(f"betas={self.betas} must be two numbers in [0, 1), e.g. (0.5, 0.999).")
        if self.n_critic is None:
            self.n_critic = 1 if self.model == "gan" else 5
        if self.n_critic < 1:
            raise PixelwiseError(f"n_critic={self.n_critic} must be >= 1.")
        if self.gp_lambda < 0:
            raise PixelwiseError(f"gp_lambda={self.gp_lambda} must be >= 0.")

    @classmethod
    def from_dict(cls, d: dict) -> GANConfig:
        return config_from_dict(cls, d)


class AdversarialObjective(nn.Module):
    """``forward((real, z, mix)) -> L_D + L_G`` as in the module docstring; real images in [-1, 1]."""

    def __init__(self, gan: GAN, kind: str, n_critic: int = 1, gp_lambda: float = 10.0):
        super().__init__()
        self.gan, self.kind, self.n_critic, self.gp_lambda = gan, kind, n_critic, gp_lambda
        self.calls = 0

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
        if self.calls % self.n_critic == 0:
            frozen = {name: p.detach() for name, p in d.named_parameters()}
            scores = functional_call(d, {**frozen, **dict(d.named_buffers())}, (fake,))
            loss = loss + (generator_loss(scores) if self.kind == "gan" else wgan_generator_loss(scores))
        return loss


def build(config: GANConfig, shape) -> AdversarialObjective:
    gan = GAN(tuple(shape), config.latent_dim, config.base, norm="batch" if config.model == "gan" else "none")
    return AdversarialObjective(gan, config.model, config.n_critic, config.gp_lambda)


def train_batches(train: torch.Tensor, config: GANConfig) -> tuple[Callable, int]:
    """(``batches(epoch, generator)`` for :func:`fit`, steps per epoch) over real images (N, C, H, W) in
    [-1, 1]: each batch is ((real, z, mix), None) with z ~ N(0, I) and the gradient-penalty mix ~ U(0, 1)."""
    bs = min(config.batch_size, len(train))

    def batches(epoch: int, generator: torch.Generator):
        order = torch.randperm(len(train), generator=generator)
        for start in range(0, len(train) - bs + 1, bs):  # a ragged last batch is dropped
            z = torch.randn(bs, config.latent_dim, generator=generator)
            mix = torch.rand(bs, generator=generator)
            yield (train[order[start:start + bs]], z, mix), None

    return batches, max(1, len(train) // bs)


def fit_config(config: GANConfig, progress: bool = False) -> FitConfig:
    """The loop settings of a GAN run: the papers' Adam betas, a constant learning rate, best by coverage."""
    return FitConfig(epochs=config.epochs, minutes=config.minutes, lr=config.lr, betas=config.betas,
                     schedule="constant", seed=config.seed, progress=progress, monitor="val_coverage", mode="max")


def _load_data(config: GANConfig):
    data = load_image_set(config.data, config.size, config.cache_dir)
    if config.max_images is not None and config.max_images < len(data):
        keep = np.sort(np.random.default_rng(config.seed).permutation(len(data))[: config.max_images])
        data = data.subset(keep)
    return data


@torch.no_grad()
def generate(gan: GAN, n: int, seed: int) -> np.ndarray:
    """n images in [0, 1], (n, C, H, W), from z ~ N(0, I) drawn with ``seed``."""
    z = torch.randn(n, gan.latent_dim, generator=torch.Generator().manual_seed(seed))
    return ((gan.eval()(z).clamp(-1, 1) + 1) / 2).numpy()


def coverage_score(coverage: dict) -> float:
    return coverage["entropy"] / coverage["max_entropy"] * coverage["confident_fraction"]


def run(config: GANConfig, overwrite: bool = False, resume: bool = False, progress: bool = True,
        log: Callable[[str], None] = print) -> RunResult:
    from pixelwise.tasks.classify import ClassifierConfig, mode_coverage, train_classifier

    t0 = time.perf_counter()
    out = Path(config.out)
    if resume:
        saved = GANConfig.from_dict(read_json(out / "config.json"))
        saved.minutes, saved.epochs = config.minutes or saved.minutes, max(config.epochs, saved.epochs)
        config = saved
    data = _load_data(config)
    parts = split_indices(len(data), (0.9, 0.1, 0.0), config.seed)
    split = {"train": parts["train"], "val": parts["val"], "shape": list(data.shape), "seed": config.seed}
    train = torch.from_numpy(data.images[split["train"]]) * 2 - 1  # [-1, 1]
    torch.manual_seed(config.seed)
    objective = build(config, data.shape)
    loop = fit_config(config, progress)  # checked before anything is written
    run_dir = prepare_run_dir(out, overwrite=overwrite, resume=resume)
    write_json(run_dir / "config.json", asdict(config))
    write_json(run_dir / "split.json", split)
    classifier = None
    if data.labels is not None:
        log("training the digit classifier used to measure mode coverage")
        classifier, accuracy = train_classifier(data.images[split["train"]], data.labels[split["train"]],
                                                ClassifierConfig(config.classifier_epochs, seed=config.seed),
                                                run_dir / "classifier", log=lambda m: None)
        log(f"classifier validation accuracy {accuracy:.3f}")

    def validate(model: nn.Module) -> dict:
        if classifier is None:
            return {}
        cov = mode_coverage(classifier, generate(model.gan, 256, config.seed + 1))
        model.gan.train()
        return {"val_coverage": coverage_score(cov), "val_entropy": cov["entropy"],
                "val_confident": cov["confident_fraction"]}

    batches, steps = train_batches(train, config)
    result = fit(objective, lambda loss, _: loss, batches, steps, validate, loop, run_dir,
                 resume, log)
    log(f"trained {len(result.history)} epochs in {result.seconds:.0f}s (stopped by {result.stopped})")
    metrics = evaluate(run_dir, log=log)
    return RunResult(run_dir, metrics, result.history, time.perf_counter() - t0)


def load_run(run_dir: str | Path) -> tuple[GANConfig, GAN, DigitClassifier | None]:
    run_dir = Path(run_dir)
    config = GANConfig.from_dict(read_json(run_dir / "config.json"))
    split = read_json(run_dir / "split.json")
    objective = build(config, split["shape"])
    best = run_dir / "checkpoints" / "best.safetensors"
    load_weights(objective, best if best.is_file() else run_dir / "checkpoints" / "last.safetensors")
    classifier = None
    path = run_dir / "classifier" / "checkpoints" / "best.safetensors"
    if path.is_file():
        classifier = load_weights(DigitClassifier(tuple(split["shape"])), path).eval()
    return config, objective.gan.eval(), classifier


def evaluate(run_dir: str | Path, log: Callable[[str], None] = print) -> dict:
    from pixelwise.report.latent import image_grid, write_latent_report
    from pixelwise.tasks.classify import mode_coverage

    run_dir = Path(run_dir)
    config, gan, classifier = load_run(run_dir)
    images = generate(gan, config.n_samples, config.seed)
    metrics: dict = {"model": config.model, "n_samples": config.n_samples}
    if classifier is not None:
        metrics["mode_coverage"] = mode_coverage(classifier, images)
    figure = image_grid([images], run_dir / "plots" / "samples.png", [f"{config.n_samples} samples"],
                        f"{config.model.upper()} samples (seed {config.seed})")
    write_json(run_dir / "metrics.json", metrics)
    write_latent_report(run_dir, f"{config.model.upper()}", metrics, [figure])
    if "mode_coverage" in metrics:
        cov = metrics["mode_coverage"]
        log(f"{config.n_samples} samples: {cov['classes_found']} classes found, entropy "
            f"{cov['entropy']:.2f} of {cov['max_entropy']:.2f}, {cov['confident_fraction']:.0%} confidently "
            "classified")
    return metrics


def sample(run_dir: str | Path, n: int = 64, seed: int = 0, out: str | Path | None = None) -> Path:
    from pixelwise.report.latent import image_grid

    if n < 1:
        raise PixelwiseError(f"n={n} must be >= 1.")
    config, gan, _ = load_run(run_dir)
    path = Path(out) if out is not None else Path(run_dir) / "plots" / f"samples_seed{seed}.png"
    return image_grid([generate(gan, n, seed)], path, [f"{n} samples"], f"{config.model.upper()} samples")


__all__ = ["GANConfig", "AdversarialObjective", "build", "coverage_score", "evaluate", "fit_config", "generate",
           "run", "sample", "train_batches"]

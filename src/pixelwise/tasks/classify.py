"""A digit classifier trained by pixelwise (with :func:`pixelwise.train.fit`) and the mode-coverage measure
of generated samples: the class histogram under the classifier, its entropy, and the share of confidently
classified samples, so that mode collapse shows as a number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from pixelwise.errors import PixelwiseError
from pixelwise.metrics.latent import class_histogram, histogram_entropy
from pixelwise.models.gan import DigitClassifier
from pixelwise.train import FitConfig, fit


@dataclass
class ClassifierConfig:
    epochs: int = 10
    minutes: float | None = None
    lr: float = 2e-3
    batch_size: int = 128
    base: int = 32
    val_fraction: float = 0.1
    seed: int = 0
    augment: bool = False  # jitter (see jitter()): higher accuracy, but measured more confident on noise
    max_rotation: float = 10.0
    max_shift: float = 0.08
    max_scale: float = 0.1

    def __post_init__(self):
        if not 0 < self.val_fraction < 1:
            raise PixelwiseError(f"val_fraction={self.val_fraction} must lie in (0, 1).")
        for name in ("max_rotation", "max_shift", "max_scale"):
            if not getattr(self, name) >= 0:
                raise PixelwiseError(f"{name}={getattr(self, name)} must be >= 0 (0 turns that jitter off).")
        if self.max_scale >= 1:
            raise PixelwiseError(f"max_scale={self.max_scale} must be < 1 (a zoom factor of 1 +- max_scale).")


def jitter(x: torch.Tensor, generator: torch.Generator, max_rotation: float = 10.0, max_shift: float = 0.08,
           max_scale: float = 0.1) -> torch.Tensor:
    """Random small affine transforms of images (N, C, H, W), one per image, drawn from ``generator``.

    Rotation uniform in +-``max_rotation`` degrees, zoom uniform in 1 +- ``max_scale`` and a shift uniform in
    +-``max_shift`` of the width and height; bilinear, zeros outside (a digit's background). The label-preserving
    jitter of digit classifiers (Simard, Steinkraus and Platt, ICDAR 2003: small affine distortions of MNIST
    digits lower the test error of a CNN); flips are left out, since they change a digit's identity."""
    n = x.shape[0]
    u = torch.rand(n, 4, generator=generator, dtype=torch.float64) * 2 - 1
    angle = torch.deg2rad(u[:, 0] * max_rotation)
    zoom = 1 + u[:, 1] * max_scale
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # affine_grid maps output coordinates in [-1, 1] to input ones: theta = (R / zoom | t), a shift of
    # max_shift of the side is 2 * max_shift in these normalised units.
    theta = torch.stack([torch.stack([cos, -sin, u[:, 2] * 2 * max_shift], 1),
                         torch.stack([sin, cos, u[:, 3] * 2 * max_shift], 1)], 1).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def train_classifier(images: np.ndarray, labels: np.ndarray, config: ClassifierConfig,
                     run_dir: str | Path | None = None,
                     log: Callable[[str], None] = print) -> tuple[DigitClassifier, float]:
    """Train on (N, C, H, W) images in [0, 1] with integer labels; returns (model in eval mode,
    validation accuracy). With ``config.augment`` every training batch is :func:`jitter`-ed afresh; the
    validation images never are."""
    labels = np.asarray(labels, np.int64)
    if labels.min() < 0:
        raise PixelwiseError("class labels must be non-negative integers.")
    k = int(labels.max()) + 1
    val, train = classifier_split(len(images), config)
    x = torch.from_numpy(np.ascontiguousarray(images, np.float32))
    y = torch.from_numpy(labels)
    torch.manual_seed(config.seed)
    model = DigitClassifier(tuple(images.shape[1:]), max(k, 2), config.base)
    bs = min(config.batch_size, len(train))

    def batches(epoch: int, generator: torch.Generator):
        perm = torch.from_numpy(train)[torch.randperm(len(train), generator=generator)]
        for start in range(0, len(train) - bs + 1, bs):
            idx = perm[start:start + bs]
            if config.augment:
                yield jitter(x[idx], generator, config.max_rotation, config.max_shift, config.max_scale), y[idx]
            else:
                yield x[idx], y[idx]

    def validate(m: torch.nn.Module) -> dict:
        logits = m(x[val])
        return {"val_loss": F.cross_entropy(logits, y[val]).item(),
                "val_accuracy": (logits.argmax(1) == y[val]).float().mean().item()}

    result = fit(model, F.cross_entropy, batches, max(1, len(train) // bs), validate,
                 FitConfig(epochs=config.epochs, minutes=config.minutes, lr=config.lr, seed=config.seed,
                           progress=False, monitor="val_accuracy", mode="max"),
                 run_dir, log=log)
    if run_dir is not None:
        from pixelwise.train import load_weights

        load_weights(model, Path(run_dir) / "checkpoints" / "best.safetensors")
    return model.eval(), float(result.best_value)


def classifier_split(n: int, config: ClassifierConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(validation, training)`` indices of :func:`train_classifier` for ``n`` images (seeded by
    ``config.seed``), so that its held-out digits can be found again, e.g. to score real digits beside samples."""
    order = np.random.default_rng(config.seed).permutation(n)
    n_val = max(1, int(round(config.val_fraction * n)))
    return order[:n_val], order[n_val:]


@torch.no_grad()
def mode_coverage(classifier: torch.nn.Module, images: np.ndarray | torch.Tensor, num_classes: int = 10,
                  confidence: float = 0.9) -> dict:
    """Class histogram of ``images`` (in [0, 1]) under ``classifier``: fractions, entropy (log K = all modes
    evenly), the number of classes found, and the share of samples with max probability > ``confidence``."""
    x = torch.as_tensor(np.asarray(images, np.float32))
    probs = F.softmax(classifier.eval()(x), dim=1)
    top, pred = probs.max(1)
    hist = class_histogram(pred.numpy(), num_classes)
    return {"histogram": [round(float(h), 4) for h in hist], "entropy": histogram_entropy(hist),
            "max_entropy": float(np.log(num_classes)), "classes_found": int((hist > 0).sum()),
            "confident_fraction": float((top > confidence).float().mean()), "confidence": confidence,
            "n": int(len(x))}


__all__ = ["ClassifierConfig", "classifier_split", "jitter", "mode_coverage", "train_classifier"]

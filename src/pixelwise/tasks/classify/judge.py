"""A digit classifier trained by pixelwise (with :func:`pixelwise.train.fit`) and the mode-coverage measure
of generated samples: the class histogram under the classifier, its entropy, and the share of confidently
classified samples, so that mode collapse shows as a number.

A classifier trained on digits alone is often confident on images that are no digit at all (uniform noise,
scrambled pixels): its softmax has never been asked to say "none of these". With
``ClassifierConfig.outlier_exposure`` it is also trained on synthetic non-digits (:func:`non_digits`) towards
the uniform distribution over the classes (outlier exposure, Hendrycks, Mazeika and Dietterich, ICLR 2019),
so that its confidence means "looks like this digit", which is what a judge of generated samples needs.
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
from pixelwise.train.checkpoint import load_weights
from pixelwise.train.config import FitConfig
from pixelwise.train.loop import fit
from pixelwise.train.runs import checkpoint_path


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
    # weight lambda of the outlier-exposure term (0 = off; Hendrycks et al. use 0.5): each training batch of B
    # digits is joined by B non_digits() pushed towards uniform class probabilities
    outlier_exposure: float = 0.0
    deterministic: bool = False  # the loop's deterministic mode (bitwise reproducible runs and resumes on a CPU)

    def __post_init__(self):
        if not 0 < self.val_fraction < 1:
            raise PixelwiseError(f"val_fraction={self.val_fraction} must lie in (0, 1).")
        for name in ("max_rotation", "max_shift", "max_scale"):
            if not getattr(self, name) >= 0:
                raise PixelwiseError(f"{name}={getattr(self, name)} must be >= 0 (0 turns that jitter off).")
        if not self.outlier_exposure >= 0:
            raise PixelwiseError(f"outlier_exposure={self.outlier_exposure} must be >= 0 (0 turns it off).")
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


NON_DIGIT_KINDS = ("uniform_noise", "shuffled_pixels", "smooth_blobs")


def non_digits(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Images in [0, 1] that are no digit, as many as ``x`` (N, C, H, W), drawn from ``generator``: image i is
    of kind ``NON_DIGIT_KINDS[i % 3]``:

    - uniform noise;
    - image i of ``x`` with its pixels shuffled (each channel's grey levels kept, the shape destroyed);
    - smooth blobs: uniform noise averaged twice over a window of about a fifth of the side, then stretched to
      [0, 1] and squared, so that the image has the dark background and bright, connected ink of a digit but
      no digit's strokes.

    Outliers for :func:`outlier_exposure_loss`; the benchmark's held-out controls are of other kinds."""
    n, c, h, w = x.shape
    out = torch.rand(x.shape, generator=generator, dtype=x.dtype)
    shuffled = torch.arange(n) % 3 == 1
    if shuffled.any():
        flat = x[shuffled].reshape(int(shuffled.sum()), c, h * w)
        order = torch.rand(flat.shape, generator=generator).argsort(-1)
        out[shuffled] = flat.gather(-1, order).reshape(-1, c, h, w)
    blobs = torch.arange(n) % 3 == 2
    if blobs.any():
        k = max(3, (min(h, w) // 5) | 1)  # odd, so that the padded average keeps the size
        smooth = F.avg_pool2d(F.avg_pool2d(out[blobs], k, 1, k // 2, count_include_pad=False), k, 1, k // 2,
                              count_include_pad=False)
        lo = smooth.amin((2, 3), keepdim=True)
        hi = smooth.amax((2, 3), keepdim=True)
        out[blobs] = ((smooth - lo) / (hi - lo).clamp_min(1e-6)) ** 2
    return out


def scribbles(n: int, shape: tuple[int, int, int], seed: int, curves: tuple[int, int] = (2, 4)) -> np.ndarray:
    """``n`` images (n, C, H, W) in [0, 1] of random pen strokes: each holds ``curves[0]`` to ``curves[1]``
    quadratic Bezier curves with control points uniform in the central 80% of the image, drawn with a Gaussian
    pen profile exp(-d^2 / (2 s^2)), s = H / 28 pixels (about an MNIST stroke), d the distance to the curve.

    Strokes without a digit's shape: a non-digit kind that :func:`non_digits` never produces, so a judge
    trained with outlier exposure can be tested on outliers it has not seen."""
    c, h, w = shape
    rng = np.random.default_rng(seed)
    s = h / 28
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    pixels = np.stack([yy.ravel(), xx.ravel()], 1)  # (HW, 2)
    t = np.linspace(0, 1, 48)[:, None]
    out = np.empty((n, c, h, w), np.float32)
    for i in range(n):
        points = []
        for _ in range(rng.integers(curves[0], curves[1] + 1)):
            p = rng.uniform(0.1, 0.9, (3, 2)) * [h - 1, w - 1]
            points.append((1 - t) ** 2 * p[0] + 2 * t * (1 - t) * p[1] + t**2 * p[2])
        curve = np.concatenate(points)  # (M, 2): points 1/47 of a curve apart, closer than the pen width
        d2 = ((pixels[:, None, :] - curve[None]) ** 2).sum(-1).min(1)
        out[i] = np.exp(-d2 / (2 * s * s)).reshape(h, w)
    return out


def outlier_exposure_loss(weight: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``loss(logits, target)``: cross-entropy on the rows with ``target >= 0`` plus ``weight`` times the
    cross-entropy from the uniform distribution on the rows with ``target == -1`` (the outliers),
    1/K sum_k -log p_k, whose minimum log K is reached at p = 1/K (the objective of Hendrycks et al. 2019)."""

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        inlier = target >= 0
        value = F.cross_entropy(logits[inlier], target[inlier])
        if weight > 0 and not bool(inlier.all()):
            value = value - weight * F.log_softmax(logits[~inlier], dim=1).mean()
        return value

    return loss


def train_classifier(images: np.ndarray, labels: np.ndarray, config: ClassifierConfig,
                     run_dir: str | Path | None = None, log: Callable[[str], None] = print,
                     resume: bool = False) -> tuple[DigitClassifier, float]:
    """Train on (N, C, H, W) images in [0, 1] with integer labels; returns (model in eval mode,
    validation accuracy). With ``config.augment`` every training batch is :func:`jitter`-ed afresh; the
    validation images never are. With ``config.outlier_exposure`` every batch carries as many
    :func:`non_digits` (made from the batch, after jitter) with target -1 (see :func:`outlier_exposure_loss`).
    ``resume``: continue the training saved in ``run_dir`` (a finished one is reused as it is)."""
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
            xb, yb = x[idx], y[idx]
            if config.augment:
                xb = jitter(xb, generator, config.max_rotation, config.max_shift, config.max_scale)
            if config.outlier_exposure > 0:
                xb = torch.cat([xb, non_digits(xb, generator)])
                yb = torch.cat([yb, torch.full_like(yb, -1)])
            yield xb, yb

    def validate(m: torch.nn.Module) -> dict:
        logits = m(x[val])
        return {"val_loss": F.cross_entropy(logits, y[val]).item(),
                "val_accuracy": (logits.argmax(1) == y[val]).float().mean().item()}

    loop = FitConfig(epochs=config.epochs, minutes=config.minutes, lr=config.lr, seed=config.seed,
                     deterministic=config.deterministic, progress=False, monitor="val_accuracy", mode="max")
    result = fit(model, outlier_exposure_loss(config.outlier_exposure), batches, max(1, len(train) // bs), validate,
                 loop, run_dir, resume, log)
    if run_dir is not None:
        load_weights(model, checkpoint_path(run_dir, "best"))
    return model.eval(), float(result.best_value)


def classifier_split(n: int, config: ClassifierConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(validation, training)`` indices of :func:`train_classifier` for ``n`` images (seeded by
    ``config.seed``), so that its held-out digits can be found again, e.g. to score real digits beside samples."""
    order = np.random.default_rng(config.seed).permutation(n)
    n_val = max(1, int(round(config.val_fraction * n)))
    return order[:n_val], order[n_val:]


@torch.no_grad()
def class_probabilities(classifier: torch.nn.Module, images: np.ndarray | torch.Tensor,
                        batch_size: int = 512) -> np.ndarray:
    """softmax(classifier(x)) of images (N, C, H, W) in [0, 1], (N, K) float32 (the classifier in eval mode)."""
    x = torch.as_tensor(np.asarray(images, np.float32))
    classifier.eval()
    return torch.cat([F.softmax(classifier(x[s:s + batch_size]), dim=1) for s in range(0, len(x), batch_size)]
                     ).numpy()


@torch.no_grad()
def mode_coverage(classifier: torch.nn.Module, images: np.ndarray | torch.Tensor, num_classes: int = 10,
                  confidence: float = 0.9, labels: np.ndarray | None = None) -> dict:
    """Class histogram of ``images`` (in [0, 1]) under ``classifier``: fractions, entropy (log K = all modes
    evenly), the number of classes found, and the share of samples with max probability > ``confidence``.

    With ``labels`` (the classes a conditional generator was asked for, (N,)), also ``agreement``: the share
    classified as the class asked for, and ``confident_agreement``: as it and with confidence > ``confidence``."""
    probs = torch.from_numpy(class_probabilities(classifier, images))
    top, pred = probs.max(1)
    hist = class_histogram(pred.numpy(), num_classes)
    out = {"histogram": [round(float(h), 4) for h in hist], "entropy": histogram_entropy(hist),
           "max_entropy": float(np.log(num_classes)), "classes_found": int((hist > 0).sum()),
           "confident_fraction": float((top > confidence).float().mean()), "confidence": confidence,
           "n": int(len(probs))}
    if labels is not None:
        asked = torch.as_tensor(np.asarray(labels)).long()
        if asked.shape != pred.shape:
            raise ValueError(f"labels of shape {tuple(asked.shape)} do not match the {len(probs)} images.")
        agree = pred == asked
        out["agreement"] = float(agree.float().mean())
        out["confident_agreement"] = float((agree & (top > confidence)).float().mean())
    return out


__all__ = ["NON_DIGIT_KINDS", "ClassifierConfig", "class_probabilities", "classifier_split", "jitter", "mode_coverage",
           "non_digits", "outlier_exposure_loss", "scribbles", "train_classifier"]

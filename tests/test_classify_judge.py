"""The digit judge's outlier exposure: the synthetic non-digits, the loss by hand, held-out pen strokes, and
a judge trained with outlier exposure that is unsure on noise while still classifying; its class probabilities,
and its training resumed bitwise from its run folder."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from latent_runs import AdamSteps
from torch.nn import functional as F

from pixelwise.errors import PixelwiseError
from pixelwise.models.gan import DigitClassifier
from pixelwise.tasks.classify import (
    ClassifierConfig,
    class_probabilities,
    mode_coverage,
    non_digits,
    outlier_exposure_loss,
    scribbles,
    train_classifier,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("shape", [(7, 1, 28, 28), (1, 1, 8, 8), (2, 1, 13, 9), (5, 3, 11, 6)])
def test_non_digits_kinds(shape):
    x = torch.rand(shape) ** 4  # dark background, some bright pixels
    out = non_digits(x, torch.Generator().manual_seed(3))
    again = non_digits(x, torch.Generator().manual_seed(3))
    assert out.shape == x.shape and out.dtype == x.dtype
    torch.testing.assert_close(out, again)
    assert out.min() >= 0 and out.max() <= 1
    for i in range(shape[0]):
        if i % 3 == 1:  # shuffled: each channel keeps its grey levels, not their places
            torch.testing.assert_close(out[i].flatten(1).sort(-1).values, x[i].flatten(1).sort(-1).values)
            assert not torch.equal(out[i], x[i])
        if i % 3 == 2:  # blobs: stretched to the full range, and smoother than the noise they came from
            assert out[i].amin((1, 2)).max() == 0 and out[i].amax((1, 2)).min() == pytest.approx(1.0)
            assert out[i].diff(dim=-1).abs().mean() < out[0].diff(dim=-1).abs().mean() / 2


def test_outlier_exposure_loss_by_hand():
    logits = torch.tensor([[2.0, 0.0], [0.0, math.log(3.0)], [1.0, 1.0]])
    target = torch.tensor([0, -1, -1])
    ce = math.log(1 + math.exp(-2.0))  # -log softmax of the true class, row 0
    # row 1: p = (1/4, 3/4), cross-entropy from uniform = -(log 1/4 + log 3/4) / 2; row 2: p uniform, log 2
    uniform = (-(math.log(0.25) + math.log(0.75)) / 2 + math.log(2.0)) / 2
    assert outlier_exposure_loss(0.5)(logits, target).item() == pytest.approx(ce + 0.5 * uniform, rel=1e-6)
    assert outlier_exposure_loss(0.0)(logits, target).item() == pytest.approx(ce, rel=1e-6)
    inliers = torch.tensor([0, 1, 1])
    torch.testing.assert_close(outlier_exposure_loss(0.5)(logits, inliers), F.cross_entropy(logits, inliers))


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (3, 15, 11)])
def test_scribbles(shape):
    a, b = scribbles(6, shape, 0), scribbles(6, shape, 1)
    assert a.shape == (6, *shape) and a.dtype == np.float32
    np.testing.assert_array_equal(a, scribbles(6, shape, 0))
    assert not np.array_equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    ink = (a > 0.5).mean((1, 2, 3))
    assert (a.max((1, 2, 3)) > 0.8).all() and (ink > 0.02).all() and (ink < 0.5).all()


def test_bad_outlier_exposure():
    with pytest.raises(PixelwiseError, match="outlier_exposure"):
        ClassifierConfig(outlier_exposure=-0.5)


def _bars(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Four classes of 12 x 12 images: a bright bar along the top, bottom, left or right, jittered by a
    pixel, on a faint noisy background."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 4
    x = rng.random((n, 1, 12, 12)).astype(np.float32) * 0.1
    for i, k in enumerate(labels):
        o = rng.integers(1, 3)
        if k == 0:
            x[i, 0, o:o + 2, 2:10] = 1
        elif k == 1:
            x[i, 0, 10 - o:12 - o, 2:10] = 1
        elif k == 2:
            x[i, 0, 2:10, o:o + 2] = 1
        else:
            x[i, 0, 2:10, 10 - o:12 - o] = 1
    return x, labels


def test_outlier_exposure_makes_the_judge_unsure_on_noise():
    images, labels = _bars(160, 0)
    test, test_labels = _bars(80, 1)
    noise = torch.rand(80, 1, 12, 12, generator=torch.Generator().manual_seed(2))
    top = {}
    for weight in (0.0, 0.5):
        model, _ = train_classifier(images, labels, ClassifierConfig(epochs=30, batch_size=16, base=4,
                                                                     outlier_exposure=weight), log=lambda m: None)
        with torch.no_grad():
            assert (model(torch.from_numpy(test)).argmax(1).numpy() == test_labels).mean() >= 0.95
            top[weight] = F.softmax(model(noise), 1).max(1).values.mean().item()
    assert top[0.5] < 0.5 < top[0.0]  # four classes: 0.25 is the uniform distribution


@pytest.mark.parametrize("n,batch_size", [(1, 512), (7, 3), (10, 10)])
def test_class_probabilities_sum_to_one_and_follow_the_coverage(n, batch_size):
    torch.manual_seed(0)
    judge = DigitClassifier((1, 9, 7), 4, 4)
    images = torch.rand(n, 1, 9, 7, generator=torch.Generator().manual_seed(1)).numpy()
    p = class_probabilities(judge, images, batch_size)
    assert p.shape == (n, 4) and p.dtype == np.float32 and (p >= 0).all()
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-5)
    np.testing.assert_allclose(class_probabilities(judge, images), p, rtol=1e-5, atol=1e-6)
    cov = mode_coverage(judge, images, 4, confidence=0.3)
    assert cov["confident_fraction"] == pytest.approx(float((p.max(1) > 0.3).mean()))


def test_train_classifier_resumes_an_unfinished_run_and_reuses_a_finished_one(tmp_path, monkeypatch):
    """Killed inside its third epoch (4 steps per epoch) and resumed: the checkpoints of an uninterrupted run,
    after 8 more steps; resuming the finished run trains no step and gives the same accuracy."""
    images, labels = _bars(80, 0)
    config = ClassifierConfig(epochs=4, batch_size=16, base=4, deterministic=True)
    _, accuracy = train_classifier(images, labels, config, tmp_path / "whole", log=lambda m: None)
    steps = AdamSteps(monkeypatch, interrupt_at=10)
    with pytest.raises(KeyboardInterrupt):
        train_classifier(images, labels, config, tmp_path / "cut", log=lambda m: None)
    _, resumed = train_classifier(images, labels, config, tmp_path / "cut", log=lambda m: None, resume=True)
    assert steps.n == 8 and resumed == accuracy
    for name in ("last.safetensors", "best.safetensors"):
        assert (tmp_path / "whole" / "checkpoints" / name).read_bytes() == \
            (tmp_path / "cut" / "checkpoints" / name).read_bytes()
    _, again = train_classifier(images, labels, config, tmp_path / "cut", log=lambda m: None, resume=True)
    assert steps.n == 8 and again == accuracy

"""Attribution maps against Captum (installed in [dev] as the oracle) on the same network and input, and the
properties of the rest: region scores by hand, occlusion of a linear score by hand, deletion/insertion areas of a
perfect and a reversed ranking, the model-randomisation check, and activation maximisation beating its start."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from pixelwise.attribution import (
    area,
    box_mask,
    channel_activation,
    class_score,
    deletion_insertion,
    first_layer_filters,
    gradient_x_input,
    guided_backprop,
    maximise_activation,
    occlusion,
    randomised_copy,
    rank_correlation,
    region_score,
    saliency,
    smoothgrad,
    total_variation,
)
from pixelwise.models import UNet
from pixelwise.models.gan import DigitClassifier

captum = pytest.importorskip("captum.attr")
pytestmark = pytest.mark.usefixtures("one_thread")


def _classifier() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(6 * 4 * 5, 4)).eval()


def _unet() -> nn.Module:
    torch.manual_seed(1)
    return UNet(3, 1, depth=2, base_channels=4, norm="none").eval()


def _cases():
    """(name, model, x (N, C, H, W), head, captum forward): a classifier's class 2 and a U-Net's region score over a
    box of an odd-sized image."""
    x = torch.rand(2, 3, 7, 9, generator=torch.Generator().manual_seed(2))
    clf = _classifier()
    unet = _unet()
    xs = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(3))
    head = region_score(box_mask((12, 12), (2, 3, 9, 10)))
    return [("classifier", clf, x, class_score(2), lambda z: clf(z)[:, 2]),
            ("unet_region", unet, xs, head, lambda z: head(unet(z)))]


@pytest.mark.parametrize("case", range(2))
@pytest.mark.parametrize("method", ["saliency", "saliency_signed", "gradient_x_input", "guided_backprop"])
def test_gradient_methods_agree_with_captum(case, method):
    name, model, x, head, forward = _cases()[case]
    ours = {"saliency": lambda: saliency(model, x, head), "saliency_signed": lambda: saliency(model, x, head, False),
            "gradient_x_input": lambda: gradient_x_input(model, x, head),
            "guided_backprop": lambda: guided_backprop(model, x, head)}[method]()
    if method.startswith("saliency"):
        theirs = captum.Saliency(forward).attribute(x, abs=method == "saliency")
    elif method == "gradient_x_input":
        theirs = captum.InputXGradient(forward).attribute(x)
    else:
        wrapped = _Forward(model, head)
        theirs = captum.GuidedBackprop(wrapped).attribute(x)
    assert ours.shape == x.shape
    assert ours.abs().sum() > 0
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)


class _Forward(nn.Module):
    """A module around model + head, so that Captum's GuidedBackprop finds the model's ReLUs."""

    def __init__(self, model, head):
        super().__init__()
        self.model, self.head = model, head

    def forward(self, x):
        return self.head(self.model(x))


def test_guided_backprop_differs_from_the_gradient_and_restores_the_network():
    _, model, x, head, _ = _cases()[0]
    before = model(x)
    guided, plain = guided_backprop(model, x, head), saliency(model, x, head, absolute=False)
    assert not torch.allclose(guided, plain)
    torch.testing.assert_close(model(x), before)  # the ReLUs are themselves again
    assert torch.equal(saliency(model, x, head, absolute=False), plain)


@pytest.mark.parametrize("case", range(2))
def test_smoothgrad_agrees_with_captum_noise_tunnel_on_the_same_noise(case):
    """Captum draws its noise from the global generator as one (N * n, ...) tensor ordered image by image; ours from
    a generator seeded the same gives the same draws."""
    _, model, x, head, forward = _cases()[case]
    torch.manual_seed(5)
    theirs = captum.NoiseTunnel(captum.Saliency(forward)).attribute(x, nt_type="smoothgrad", nt_samples=6,
                                                                    stdevs=0.2, abs=False)
    ours = smoothgrad(model, x, head, samples=6, stdev=0.2, generator=torch.Generator().manual_seed(5), batch=5)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(ours, saliency(model, x, head, absolute=False))


@pytest.mark.parametrize("patch,stride", [(3, 2), (4, 4), (5, 3), (2, 1)])
def test_occlusion_agrees_with_captum(patch, stride):
    _, model, x, head, forward = _cases()[0]
    ours = occlusion(model, x, head, patch=patch, stride=stride, baseline=0.1, batch=7)
    theirs = captum.Occlusion(forward).attribute(x, sliding_window_shapes=(3, patch, patch),
                                                 strides=(3, stride, stride), baselines=0.1)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_occlusion_of_a_linear_score_by_hand():
    """s(x) = sum(w * x): occluding a patch with 0 drops s by the patch's sum of w * x; with stride = patch (no
    overlap) each pixel's attribution is the drop of its own patch."""
    w = torch.arange(16.0).reshape(1, 1, 4, 4)
    x = torch.ones(1, 1, 4, 4)
    out = occlusion(lambda z: (z * w).flatten(1).sum(1), x, patch=2, stride=2)
    expected = torch.tensor([[0 + 1 + 4 + 5, 2 + 3 + 6 + 7], [8 + 9 + 12 + 13, 10 + 11 + 14 + 15]], dtype=torch.float)
    torch.testing.assert_close(out[0, 0], expected.repeat_interleave(2, 0).repeat_interleave(2, 1))


def test_region_and_class_scores_by_hand():
    out = torch.arange(2 * 1 * 3 * 3, dtype=torch.float).reshape(2, 1, 3, 3)
    mask = torch.tensor([[1, 1, 0], [0, 0, 0], [0, 0, 1]])
    torch.testing.assert_close(region_score(mask)(out), torch.tensor([(0 + 1 + 8) / 3, (9 + 10 + 17) / 3]))
    probs = region_score(mask, probability=True)(out)
    torch.testing.assert_close(probs[0], torch.sigmoid(torch.tensor([0.0, 1, 8])).mean())
    logits = torch.tensor([[1.0, 2, 3], [4, 5, 6]])
    torch.testing.assert_close(class_score(1)(logits), torch.tensor([2.0, 5]))
    torch.testing.assert_close(class_score(torch.tensor([2, 0]))(logits), torch.tensor([3.0, 4]))
    with pytest.raises(ValueError, match="box"):
        box_mask((5, 5), (3, 0, 2, 4))


def test_deletion_and_insertion_reward_the_right_ranking():
    """Score = sum(w x) with positive w: the map w ranks the pixels by contribution, so deleting by it falls fastest
    (lowest deletion area) and inserting rises fastest; the reversed ranking is worst at both; areas by hand for a
    straight line."""
    torch.manual_seed(0)
    w = torch.rand(1, 1, 6, 7)
    model = lambda z: (z * w).flatten(1).sum(1)  # noqa: E731
    x = torch.ones(1, 1, 6, 7)
    good = deletion_insertion(model, x, w[0, 0], steps=42)
    bad = deletion_insertion(model, x, -w[0, 0], steps=42)
    assert good["deletion_auc"] < bad["deletion_auc"] and good["insertion_auc"] > bad["insertion_auc"]
    assert good["deletion"][0] == pytest.approx(w.sum().item()) and good["deletion"][-1] == pytest.approx(0)
    assert area([0, 0.5, 1], [1, 0.5, 0]) == pytest.approx(0.5)


def test_model_randomisation_changes_the_maps_but_not_the_input():
    """Adebayo et al.'s check: the gradient of a re-initialised network correlates weakly with the trained one's,
    while gradient x input keeps much of its rank correlation from the input alone (the paper's finding)."""
    _, model, x, head, _ = _cases()[0]
    random = randomised_copy(model, seed=3)
    assert not torch.equal(random[0].weight, model[0].weight)
    same = rank_correlation(saliency(model, x, head), saliency(model, x, head))
    assert same == pytest.approx(1.0)
    assert abs(rank_correlation(saliency(model, x, head), saliency(random, x, head))) < 0.5
    np.testing.assert_allclose(rank_correlation(np.arange(5), np.arange(5)[::-1]), -1.0)


def test_filters_are_the_first_convolution_scaled():
    model = DigitClassifier((1, 8, 8), 10, base=4)
    filters = first_layer_filters(model)
    assert filters.shape == (4, 1, 3, 3)
    assert torch.allclose(filters.flatten(1).amin(1), torch.zeros(4)) and torch.allclose(
        filters.flatten(1).amax(1), torch.ones(4))


def test_activation_maximisation_raises_the_channel_and_tv_smooths():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 3, padding=1)).eval()
    layer = model[2]
    random = channel_activation(model, layer, 1)(torch.rand(200, 1, 11, 13, generator=torch.Generator().manual_seed(1)))
    image, trace = maximise_activation(model, layer, 1, (1, 11, 13), steps=60, tv_weight=0.0,
                                       generator=torch.Generator().manual_seed(0))
    assert trace[-1] > random.max() + 0.02 and trace[-1] > trace[0] + 0.02  # beats 200 random images
    assert image.min() >= 0 and image.max() <= 1
    smooth, _ = maximise_activation(model, layer, 1, (1, 11, 13), steps=60, tv_weight=2.0, blur_every=0,
                                    generator=torch.Generator().manual_seed(0))
    rough, _ = maximise_activation(model, layer, 1, (1, 11, 13), steps=60, tv_weight=0.0, blur_every=0,
                                   generator=torch.Generator().manual_seed(0))
    assert total_variation(smooth) < total_variation(rough)

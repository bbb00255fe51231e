"""Restoration models: the recipe's name -> network table, and the residual behaviour of each network."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch

from pixelwise.errors import PixelwiseError
from pixelwise.models import SRCNN, VDSR, DIPNet, DnCNN, PostUpsample, ResidualUNet, Unrolled
from pixelwise.physics import Inpainting, random_mask
from pixelwise.physics.presets import Measurement, build_operator
from pixelwise.solvers.dip import fit_dip
from pixelwise.tasks.restore import MODELS, RestorationConfig, build_model

pytestmark = pytest.mark.usefixtures("one_thread")
# the shapes, gradients, determinism and save/load of every model here: tests/test_models.py (the shared tester)


def _config(**settings) -> RestorationConfig:
    measured = {k: settings.pop(k) for k in ("operator", "scale", "views") if k in settings}
    return RestorationConfig(measurement=Measurement(**measured), **settings)


# (model, operator settings, image shape (odd sizes), whether the output must be the naive image untrained)
NAMED = [
    ("dncnn", dict(operator="denoise"), (2, 1, 13, 17)),
    ("srcnn", dict(operator="blur"), (1, 3, 15, 11)),
    ("vdsr", dict(operator="downsample", scale=2), (2, 1, 14, 18)),
    ("post", dict(operator="downsample", scale=3), (1, 1, 21, 15)),
    ("unet", dict(operator="inpaint"), (2, 1, 13, 19)),
    ("unrolled", dict(operator="ct", views=6), (1, 1, 11, 11)),
]


@pytest.mark.parametrize("name, measured, shape", NAMED, ids=[n for n, _, _ in NAMED])
def test_every_named_model_restores_its_measurements(name, measured, shape):
    """Each entry of the one table, small, in its wrapper: a measurement of an odd-sized image -> an image of
    that size, and a gradient to every parameter."""
    config = _config(model=name, channels=shape[1], depth=3, width=4, iterations=2, **measured)
    op = build_operator(config.measurement, shape[-2:], torch.Generator().manual_seed(0))
    model = build_model(config, op, (1, *shape[1:]))
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    out = model((op.A(x), op))
    assert out.shape == x.shape and torch.isfinite(out).all()
    out.pow(2).mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert set(MODELS) == {n for n, _, _ in NAMED}


@pytest.mark.parametrize("name, measured, shape", NAMED, ids=[n for n, _, _ in NAMED])
def test_networks_are_channels_last_and_answer_as_the_standard_layout_does(name, measured, shape):
    """``build_model`` keeps the weights channels-last (oneDNN's layout; the unrolled network, which applies the
    operator to its activations, excepted); the wrapper answers in the standard layout, with colour images too,
    and the same weights in the standard layout give the same image (float32 rounding apart), window by window
    too (``image_net``)."""
    shape = (shape[0], 3, *shape[2:])  # three channels: channels-last differs from the standard layout
    config = _config(model=name, channels=3, depth=3, width=4, iterations=2, **measured)
    op = build_operator(config.measurement, shape[-2:], torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = build_model(config, op, (1, *shape[1:])).eval()
    convs = [p for p in model.parameters() if p.dim() == 4]
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in convs) == (name != "unrolled")
    standard = copy.deepcopy(model)
    standard.net.to(memory_format=torch.contiguous_format)
    assert all(p.is_contiguous() for p in standard.parameters())
    y = op.A(torch.rand(shape, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        out, expected = model((y, op)), standard((y, op))
        assert out.is_contiguous()
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
        if model.input == "naive":
            v = op.naive(y).to(y.dtype)
            windowed = model.image_net()(v)
            assert windowed.is_contiguous()
            torch.testing.assert_close(windowed, standard.image_net()(v), rtol=1e-5, atol=1e-5)


def test_unknown_model_names_every_model():
    with pytest.raises(PixelwiseError, match="model 'resnet' is not known; use one of dncnn, srcnn, vdsr, post, unet, "
                       "unrolled"):
        build_model(SimpleNamespace(model="resnet"))


def test_unrolled_step_starts_at_one_over_the_operator_norm_squared():
    """The step of every iteration starts at 1 / ||A||^2 of the fixed operator: CT of an 11 x 11 image, whose
    norm the power iteration of the operator itself gives independently."""
    config = _config(model="unrolled", operator="ct", views=6, iterations=3, width=4, depth=2)
    op = build_operator(config.measurement, (11, 11))
    model = build_model(config, op, (1, 1, 11, 11))
    norm = op.norm((1, 1, 11, 11), iterations=200, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    torch.testing.assert_close(model.net.steps(), torch.full((3,), 1 / norm**2, dtype=torch.float32), rtol=1e-3,
                               atol=0)


def test_a_hyperparameter_the_network_refuses_is_one_sentence():
    """A config built without its checks (SimpleNamespace) reaches the network's own refusal, in one sentence."""
    with pytest.raises(PixelwiseError, match="depth"):
        build_model(SimpleNamespace(model="dncnn", channels=1, depth=1, width=4, noise_map=False))


def _perturbed(model):
    # the last conv starts at zero (an untrained unrolled net is Landweber); move it so gradients reach all weights
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn(p.shape))
    return model


def test_unrolled_untrained_is_landweber():
    g = torch.Generator().manual_seed(1)
    op = Inpainting(random_mask((9, 9), 0.6, g))
    y = op.A(torch.rand(1, 1, 9, 9, generator=g))
    model = Unrolled(op, 1, iterations=4, step=0.7, width=4, layers=2)
    x = op.naive(y)
    for _ in range(4):
        x = x - 0.7 * op.A_adjoint(op.A(x) - y)
    torch.testing.assert_close(model(y), x, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", [lambda: DnCNN(1, depth=3, width=4), lambda: VDSR(1, depth=3, width=4),
                                  lambda: ResidualUNet(1, depth=2, base_channels=4)])
def test_untrained_residual_nets_return_their_input(make):
    """The last layer starts at zero, so x = y -/+ f(y) = y before training (and after perturbing, not)."""
    model = make().eval()
    y = torch.rand(1, 1, 7, 9)
    torch.testing.assert_close(model(y), y)
    assert not torch.allclose(_perturbed(model)(y), y)


def test_dncnn_predicts_noise():
    model = DnCNN(1, depth=3, width=4).eval()
    y = torch.rand(1, 1, 8, 8)
    torch.testing.assert_close(model(y), y - model.noise(y))


@pytest.mark.parametrize("up, scale", [("shuffle", 2), ("transpose", 3)])
def test_untrained_post_upsampling_is_bicubic(up, scale):
    post = PostUpsample(1, scale, depth=1, width=4, up=up).eval()
    y = torch.rand(1, 1, 5, 7)
    expected = torch.nn.functional.interpolate(y, scale_factor=scale, mode="bicubic", align_corners=False)
    torch.testing.assert_close(post(y), expected)
    no_skip = PostUpsample(1, scale, depth=1, width=4, up=up, residual=False).eval()
    assert no_skip(y).abs().max() > 0  # random weights without the skip: not zero


BAD = [
    (lambda: DnCNN(1, depth=1), "depth"),
    (lambda: DnCNN(0), "sizes"),
    (lambda: SRCNN(1, kernels=(9, 2, 5)), "odd"),
    (lambda: VDSR(1, depth=1), "depth"),
    (lambda: PostUpsample(1, 0), "sizes"),
    (lambda: PostUpsample(1, 2, up="nearest"), "up="),
    (lambda: Unrolled(None, iterations=0), "iterations"),
    (lambda: Unrolled(None, step=0.0), "step"),
]


@pytest.mark.parametrize("make, words", BAD)
def test_bad_hyperparameters(make, words):
    with pytest.raises(ValueError, match=words):
        make()


def test_unrolled_without_operator():
    with pytest.raises(ValueError, match="operator"):
        Unrolled(None, iterations=1)(torch.zeros(1, 1, 4, 4))


def test_dip_improves_on_noisy_input_with_early_stopping():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    from pixelwise.data.samples import sample
    from pixelwise.physics import Identity

    truth = sample("camera", size=32)[None]  # (1, 1, 32, 32)
    y = truth + 0.1 * torch.randn(truth.shape, generator=g)
    noisy_psnr = 10 * torch.log10(1 / ((y.clamp(0, 1) - truth) ** 2).mean()).item()
    net = DIPNet(1, noise_channels=8, depth=2, base_channels=16)
    result = fit_dip(Identity(), y, truth.shape, net, iterations=300, lr=0.01, truth=truth, ema=0.9,
                     log_every=10, patience=8, generator=g)
    psnrs = [r["psnr"] for r in result.trace]
    assert max(psnrs) > noisy_psnr + 1.0, (max(psnrs), noisy_psnr)
    assert result.best_iteration == result.trace[psnrs.index(max(psnrs))]["iteration"]



@pytest.mark.parametrize("make,convs", [
    (lambda: VDSR(1, 6, 48), lambda m: list(m.body)[:-1]),
    (lambda: PostUpsample(1, 3, 5, 48), lambda m: list(m.features)),
])
def test_plain_relu_stacks_are_he_initialised(make, convs):
    """Every convolution before the (zero) last one: weights of mean 0 and std sqrt(2 / fan_in), biases 0."""
    torch.manual_seed(0)
    layers = [c for c in convs(make()) if isinstance(c, torch.nn.Conv2d)]
    assert len(layers) >= 5
    for conv in layers:
        w = conv.weight.detach()
        fan_in = w[0].numel()
        n = w.numel()
        assert abs(float(w.mean())) < 4 * (2 / fan_in) ** 0.5 / n ** 0.5
        assert float(w.std()) == pytest.approx((2 / fan_in) ** 0.5, rel=4 / (2 * n) ** 0.5 + 0.02)
        assert not conv.bias.any()

"""Restoration models through the shared model tester, plus the residual behaviour of each."""

from __future__ import annotations

import pytest
import torch
from model_tester import check_model

from pixelwise.models import SRCNN, VDSR, DIPNet, DnCNN, PostUpsample, ResidualUNet, Unrolled
from pixelwise.physics import MRI, Inpainting, Radon, random_mask, views
from pixelwise.solvers.dip import fit_dip

torch.set_num_threads(1)

SHAPE_CASES = [
    ("dncnn-grey", lambda: DnCNN(1, depth=4, width=8), (2, 1, 13, 17), (2, 1, 13, 17)),
    ("dncnn-colour", lambda: DnCNN(3, depth=3, width=8), (2, 3, 9, 8), (2, 3, 9, 8)),
    ("dncnn-nobn", lambda: DnCNN(1, depth=3, width=8, batch_norm=False), (1, 1, 7, 7), (1, 1, 7, 7)),
    ("srcnn", lambda: SRCNN(1, f1=8, f2=4), (2, 1, 15, 11), (2, 1, 15, 11)),
    ("srcnn-colour", lambda: SRCNN(3, f1=8, f2=4), (1, 3, 12, 12), (1, 3, 12, 12)),
    ("vdsr", lambda: VDSR(1, depth=5, width=8), (2, 1, 11, 13), (2, 1, 11, 13)),
    ("post-shuffle-x3", lambda: PostUpsample(1, 3, depth=2, width=8), (2, 1, 7, 5), (2, 1, 21, 15)),
    ("post-transpose-x3", lambda: PostUpsample(1, 3, depth=2, width=8, up="transpose"), (2, 1, 7, 5), (2, 1, 21, 15)),
    ("post-transpose-x2-colour", lambda: PostUpsample(3, 2, depth=2, width=8, up="transpose"), (1, 3, 5, 6),
     (1, 3, 10, 12)),
    ("res-unet", lambda: ResidualUNet(1, depth=2, base_channels=4), (2, 1, 13, 19), (2, 1, 13, 19)),
    ("dip-net", lambda: DIPNet(1, noise_channels=4, depth=2, base_channels=4), (2, 4, 11, 9), (2, 1, 11, 9)),
]


@pytest.mark.parametrize("name, make, shape_in, shape_out", SHAPE_CASES, ids=[c[0] for c in SHAPE_CASES])
def test_model_contract(name, make, shape_in, shape_out, tmp_path):
    # zero-initialised last layers would make the save/load comparison vacuous: perturb every weight first
    check_model(lambda: _perturbed(make()), shape_in, shape_out, tmp_path)


def _unrolled_ops():
    g = torch.Generator().manual_seed(0)
    return [
        ("inpaint", Inpainting(random_mask((11, 13), 0.5, g)), (2, 1, 11, 13)),
        ("mri", MRI.cartesian((12, 10), 4.0, None, "equispaced", g), (2, 1, 12, 10)),
        ("ct", Radon((11, 11), views(6)), (1, 1, 11, 11)),
    ]


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("name, op, shape", _unrolled_ops(), ids=[o[0] for o in _unrolled_ops()])
def test_unrolled_contract(name, op, shape, shared, tmp_path):
    y_shape = op.output_shape(shape)
    check_model(lambda: _perturbed(Unrolled(op, 1, iterations=3, step=0.5, shared=shared, width=4, layers=2)),
                y_shape, shape, tmp_path)
    model = Unrolled(op, 1, iterations=3, shared=shared, width=4, layers=2)
    assert len(model.nets) == (1 if shared else 3)


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

import pytest
import torch
from torch import nn

from pixelwise.models.fcn import FCN
from pixelwise.models.inference import CompiledInference, ShuffleUp, fold_batch_norm, optimize_for_inference
from pixelwise.models.unet import UNet


def _randomise_statistics(model):
    for m in model.modules():  # non-trivial running statistics and affine parameters, so folding matters
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.mark.parametrize("make,size", [
    (lambda: UNet(3, 2, depth=2, base_channels=4), 37),
    (lambda: UNet(1, 1, depth=1, base_channels=4, padding="valid"), 30),
    (lambda: UNet(3, 1, depth=2, base_channels=4, up="bilinear"), 24),
    (lambda: UNet(3, 1, depth=2, base_channels=4, norm="none"), 19),
    (lambda: FCN(3, 2, depth=2), 33),
], ids=["unet-odd", "unet-valid", "unet-bilinear", "unet-no-norm", "fcn"])
def test_optimized_model_computes_the_same(make, size):
    torch.manual_seed(0)
    model = _randomise_statistics(make())
    had_norm = any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    fast = optimize_for_inference(model)
    x = torch.randn(2, next(model.parameters()).shape[1], size, size)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-4)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in fast.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == had_norm  # the input model is untouched


@pytest.mark.parametrize("c_in,c_out,bias,h,w", [(3, 5, True, 7, 4), (8, 1, False, 1, 9)])
def test_shuffle_up_equals_the_transposed_convolution(c_in, c_out, bias, h, w):
    torch.manual_seed(1)
    deconv = nn.ConvTranspose2d(c_in, c_out, 2, stride=2, bias=bias)
    x = torch.randn(2, c_in, h, w)
    with torch.no_grad():
        torch.testing.assert_close(ShuffleUp(deconv)(x), deconv(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kw", [dict(kernel_size=3, stride=2), dict(kernel_size=2, stride=2, padding=1),
                                dict(kernel_size=2, stride=1)])
def test_shuffle_up_refuses_other_transposed_convolutions(kw):
    with pytest.raises(ValueError, match="kernel_size=2, stride=2"):
        ShuffleUp(nn.ConvTranspose2d(2, 2, **kw))


def test_fold_by_hand():
    conv = nn.Conv2d(1, 1, 1, bias=True)
    bn = nn.BatchNorm2d(1).eval()
    with torch.no_grad():
        conv.weight.fill_(2.0), conv.bias.fill_(1.0)
        bn.running_mean.fill_(3.0), bn.running_var.fill_(4.0 - bn.eps), bn.weight.fill_(5.0), bn.bias.fill_(-1.0)
    folded = fold_batch_norm(nn.Sequential(conv, bn))
    # y = 5 * (2x + 1 - 3) / 2 - 1 = 5x - 6
    assert isinstance(folded[1], nn.Identity)
    assert folded[0].weight.item() == pytest.approx(5.0) and folded[0].bias.item() == pytest.approx(-6.0)


def test_compiled_inference_equals_eager_at_any_batch():
    """One compile at batch 3; 7 = 3 + 3 + 1 (split, then the last chunk padded) and 2 (padded) agree with
    the unfolded eager model, and padding rows never leak into the outputs."""
    torch.manual_seed(0)
    model = _randomise_statistics(UNet(3, 2, depth=2, base_channels=4))
    compiled = CompiledInference(model, batch_size=3)
    x = torch.randn(7, 3, 21, 19)
    with torch.inference_mode():
        expected = model(x)
        torch.testing.assert_close(compiled(x), expected, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(compiled(x[:2]), expected[:2], rtol=1e-4, atol=1e-4)
    assert not compiled.failed


def test_compiled_inference_falls_back_to_eager_once(monkeypatch):
    torch.manual_seed(0)
    model = _randomise_statistics(UNet(1, 1, depth=1, base_channels=4))
    messages = []
    compiled = CompiledInference(model, batch_size=2, log=messages.append)

    def broken(x):
        raise RuntimeError("no C++ compiler\nsecond line")

    monkeypatch.setattr(compiled, "compiled", broken)
    x = torch.randn(3, 1, 12, 12)
    with torch.inference_mode():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-4)
        compiled(x)
    assert messages == ["torch.compile failed (RuntimeError: no C++ compiler); predicting without it"]


def test_compiled_inference_refuses_a_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size=0"):
        CompiledInference(UNet(1, 1, depth=1, base_channels=4), batch_size=0)

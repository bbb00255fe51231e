"""Encoder views share their model's modules and names (so weights move between pretraining and segmentation by
name), compute exactly what the model computes on its contracting path, and freeze into one fixed function."""

from __future__ import annotations

import pytest
import torch

from pixelwise.models import SegmentViT, UNet, encoder_of, freeze
from pixelwise.models.pretext import ViTReconstructionNet

pytestmark = pytest.mark.usefixtures("one_thread")


def _unet():
    return UNet(3, 2, depth=3, base_channels=4)


def _vit():
    return SegmentViT(3, 2, image_size=32, patch_size=8, dim=16, depth=2, heads=2)


@pytest.mark.parametrize("make,prefixes", [(_unet, ("inc.", "down.")), (_vit, ("embed.", "pos", "encoder.", "norm."))])
def test_view_names_are_the_models_own_and_shared(make, prefixes):
    torch.manual_seed(0)
    model = make()
    view = encoder_of(model)
    full = model.state_dict()
    assert set(view.state_dict()) == {k for k in full if k.startswith(prefixes)}
    before = {k: v.clone() for k, v in full.items()}
    with torch.no_grad():
        for p in view.parameters():
            p.add_(1.0)
    after = model.state_dict()  # the view's tensors are the model's: changed through the view
    assert all(torch.equal(after[name], before[name] + 1) for name, _ in view.named_parameters())
    other = make()  # a model of the same sizes takes the view's weights by name
    encoder_of(other).load_state_dict(view.state_dict())
    assert all(torch.equal(other.state_dict()[k], v) for k, v in view.state_dict().items())


def test_unet_view_is_the_deepest_level_of_the_forward_pass():
    torch.manual_seed(1)
    net = _unet().eval()
    seen = []
    net.down[-1].register_forward_hook(lambda m, i, o: seen.append(o))
    x = torch.randn(2, 3, 21, 19)  # odd: padded to 24 x 24 inside, as the U-Net pads
    net(x)
    f = encoder_of(net)(x)
    assert f.shape == (2, 32, 3, 3) and torch.equal(f, seen[0])


def test_vit_view_tokens_give_the_models_output_through_its_head():
    torch.manual_seed(2)
    vit = _vit().eval()
    x = torch.randn(2, 3, 32, 32)
    view = encoder_of(vit)
    tokens, (gh, gw) = view.tokens(x)  # (2, 16, 16)
    logits = vit.head(tokens).reshape(2, gh, gw, 2, 8, 8).permute(0, 3, 1, 4, 2, 5).reshape(2, 2, 32, 32)
    assert torch.allclose(logits, vit(x), atol=1e-6)
    assert view(x).shape == (2, 16, 4, 4) and view.features(x).shape == (2, 16)
    every = torch.arange(16).expand(2, 16)  # keeping every token in order is the plain pass
    assert torch.allclose(view.tokens(x, every)[0], tokens, atol=1e-6)


def test_mae_output_does_not_depend_on_the_masked_patches():
    """He et al. 2022: the encoder never sees a masked patch, so changing one leaves the reconstruction as it was."""
    torch.manual_seed(3)
    net = ViTReconstructionNet(encoder_of(_vit()), 3, decoder_dim=8, heads=2).eval()
    x = torch.randn(1, 3, 32, 32)
    keep = torch.tensor([[0, 5, 10, 15]])  # token 1 (rows 0-7, columns 8-15) is masked
    y = x.clone()
    y[..., 0:8, 8:16] += 5.0
    assert torch.allclose(net((x, keep)), net((y, keep)), atol=1e-6)
    assert not torch.allclose(net(x), net(y), atol=1e-3)  # without the mask it sees the change


def test_freeze_keeps_batch_norm_statistics_and_gradients_out():
    torch.manual_seed(4)
    net = _unet()
    view = freeze(encoder_of(net))
    before = {k: v.clone() for k, v in view.state_dict().items()}
    net.train()
    out = net(torch.randn(4, 3, 16, 16) * 3 + 1)
    out.mean().backward()
    assert all(torch.equal(before[k], v) for k, v in view.state_dict().items())  # running stats untouched
    assert all(p.grad is None for p in view.parameters())
    assert net.head.weight.grad is not None and net.up[0].up.weight.grad is not None
    # frozen means one function: training mode gives the eval-mode output
    x = torch.randn(2, 3, 16, 16)
    in_training = view(x)
    net.eval()
    assert torch.equal(in_training, view(x))


def test_other_models_have_no_view():
    from pixelwise.models import FCN

    with pytest.raises(ValueError, match="FCN has no encoder view"):
        encoder_of(FCN(3, 1, base_channels=4, depth=2))

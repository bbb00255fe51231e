"""Models Genesis (`pretrain --method genesis`): the four distortions checked against hand-worked values and their
invariants, and the whole U-Net's transfer: `segment train --init` loads its encoder and its decoder, every tensor
exactly, the head afresh; a decoder that does not fit is refused by name with nothing written."""

from __future__ import annotations

import pytest
import torch

from pixelwise.cli import main
from pixelwise.data.genesis import (
    GenesisConfig,
    apply_curve,
    bezier_curve,
    genesis_distort,
    inpaint,
    intensity_transform,
    outpaint,
    shuffle_windows,
)
from pixelwise.errors import PixelwiseError
from pixelwise.tasks.pretrain import PretrainConfig
from pixelwise.tasks.pretrain import run as pretrain
from pixelwise.tasks.segment import SegmentationConfig, build_model
from pixelwise.tasks.segment.transfer import prepare
from pixelwise.train.checkpoint import read_weights

pytestmark = pytest.mark.usefixtures("one_thread")
QUIET = dict(progress=False, log=lambda s: None)
TINY = dict(size=24, base_channels=4, depth=2, batch_size=4)


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("p1,p2,v,expected", [
    ((1 / 3, 1 / 3), (2 / 3, 2 / 3), 0.3, 0.3),  # control points on the diagonal: the identity
    ((0.5, 0.0), (0.5, 0.0), 0.5, 0.125),  # t = 1/2: x = 3/8 (1/2) + 3/8 (1/2) + 1/8 = 1/2, y = 1/8
    ((0.0, 1.0), (1.0, 1.0), 0.0, 0.0),  # the end points are fixed
    ((0.0, 1.0), (1.0, 1.0), 1.0, 1.0),
])
def test_the_bezier_curve_maps_values_as_worked_by_hand(p1, p2, v, expected):
    x, y = bezier_curve(p1, p2)
    assert apply_curve(torch.tensor([v]), x, y).item() == pytest.approx(expected, abs=2e-3)


def test_the_intensity_transform_keeps_or_reverses_the_order_of_values():
    image = torch.rand(3, 9, 11, generator=_g(1))
    seen = set()
    for seed in range(12):
        out = intensity_transform(image, _g(seed))
        assert out.min() >= 0 and out.max() <= 1
        order, new = image.flatten().argsort(), out.flatten()[image.flatten().argsort()]
        up, down = bool((new.diff() >= -1e-6).all()), bool((new.diff() <= 1e-6).all())
        assert up or down, seed
        seen.add(up)
        assert order.numel() == image.numel()
    assert seen == {True, False}  # mirrored about half the time


def test_shuffling_permutes_pixels_inside_windows_the_same_way_on_every_channel():
    base = torch.rand(1, 31, 27, generator=_g(2))
    image = torch.cat([base, base / 2, 1 - base])
    out = shuffle_windows(image, 60, _g(3))
    assert torch.equal(out[0].flatten().sort().values, image[0].flatten().sort().values)
    assert torch.allclose(out[1], out[0] / 2) and torch.allclose(out[2], 1 - out[0])
    assert (out != image).any()
    assert torch.equal(shuffle_windows(image, 0, _g(3)), image)


def test_inpainting_fills_windows_and_outpainting_keeps_them():
    image = torch.full((3, 42, 42), 0.5)
    for seed in range(10):
        filled = (inpaint(image, _g(seed)) != 0.5).any(0).sum().item()
        assert (42 // 6) ** 2 <= filled <= 5 * (42 // 3) ** 2  # one to five windows of sides 7..14
        kept = (outpaint(image, _g(seed)) == 0.5).all(0).sum().item()
        assert 18 ** 2 <= kept <= 42 * 42  # the first window's sides are 18..24 (3/7 and 4/7 of 42)


def test_the_distortion_is_reproduced_by_its_seed_and_off_at_zero_probabilities():
    x = torch.rand(4, 3, 20, 20, generator=_g(4))
    a, b = genesis_distort(x, GenesisConfig(), _g(5)), genesis_distort(x, GenesisConfig(), _g(5))
    assert torch.equal(a, b) and a.shape == x.shape and 0 <= a.min() and a.max() <= 1
    assert not torch.equal(a, genesis_distort(x, GenesisConfig(), _g(6)))
    off = GenesisConfig(intensity_p=0, shuffle_p=0, paint_p=0)
    assert torch.equal(genesis_distort(x, off, _g(5)), x)
    with pytest.raises(ValueError, match="inpaint_p=1.5 must be a probability"):
        GenesisConfig(inpaint_p=1.5)


def test_genesis_needs_the_unet():
    with pytest.raises(PixelwiseError, match="method=genesis trains the whole U-Net"):
        PretrainConfig(method="genesis", model="vit", size=32, patch_size=8)


@pytest.fixture(scope="module")
def genesis_run(polyp_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("pre") / "genesis"
    pretrain(PretrainConfig(data=str(polyp_folder), out=str(out), method="genesis", epochs=1, **TINY), **QUIET)
    return out


def test_init_from_genesis_loads_the_encoder_and_the_decoder_but_not_the_head(genesis_run, polyp_folder, tmp_path):
    saved = read_weights(genesis_run / "checkpoints" / "best.safetensors")
    config = SegmentationConfig(data=str(polyp_folder), out=str(tmp_path / "s"), epochs=1, init=str(genesis_run),
                                **TINY)
    net = build_model(config)
    fresh_head = net.head.weight.clone()
    lines = []
    prepare(net, config, resume=False, log=lines.append)
    state = net.state_dict()
    body = [k for k in state if not k.startswith("head.")]
    assert len(body) == len([k for k in saved if k.startswith("net.") and not k.startswith("net.head.")])
    assert all(torch.equal(state[k], saved["net." + k]) for k in body)
    assert torch.equal(net.head.weight, fresh_head) and saved["net.head.weight"].shape[0] == 3
    assert any(line.startswith("decoder:") for line in lines)


def test_a_decoder_that_does_not_fit_is_refused_by_name(genesis_run, polyp_folder, tmp_path, capsys):
    out = tmp_path / "never"
    argv = ["segment", "train", "--data", str(polyp_folder), "--size", "24", "--base-channels", "4", "--depth", "2",
            "--epochs", "1", "--init", str(genesis_run), "--out", str(out), "--quiet", "--up", "bilinear"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "its decoder has no up." in err and "--up" in err and err.count("\n") == 1, err
    assert not out.exists()

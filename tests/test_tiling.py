"""Sliding-window inference: window places and Gaussian weights worked by hand, agreement with MONAI's
``sliding_window_inference`` on the same networks (the oracle), the margin and scale of networks whose output is
not their input's size (properties: a valid convolution and an upsampling tiled equal themselves whole), the
valid-padding U-Net's size planner, and the commands with --tile (refusals before anything is written)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from pixelwise.cli import main
from pixelwise.errors import PixelwiseError
from pixelwise.models import UNet
from pixelwise.models.tiling import Tiles, gaussian_weights, sliding_window, window_starts
from pixelwise.tasks.segment import SegmentationConfig, build_model
from pixelwise.tasks.segment.tiles import check_sizes, window

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("size, tile, overlap, starts", [
    (10, 4, 0.5, [0, 2, 4, 6]),  # step 2
    (10, 4, 0.25, [0, 3, 6]),  # step floor(3.0) = 3, the last window ends on pixel 9
    (11, 4, 0.0, [0, 4, 7]),  # no overlap asked, but the last window moves back to end on the image
    (10, 10, 0.5, [0]),  # one window
    (5, 3, 0.9, [0, 1, 2]),  # step floor(0.3) = 0 -> 1
])
def test_windows_step_by_the_overlap_and_end_on_the_last_pixel(size, tile, overlap, starts):
    assert window_starts(size, tile, overlap) == starts


@pytest.mark.parametrize("size, tile, overlap", [(10, 11, 0.5), (10, 0, 0.5), (10, 4, 1.0), (10, 4, -0.1)])
def test_bad_windows_are_refused(size, tile, overlap):
    with pytest.raises(ValueError):
        window_starts(size, tile, overlap)


def test_gaussian_weights_by_hand():
    w = gaussian_weights(3, 1)  # sigma = 3/8 along the rows: exp(-1 / (2 * 0.375^2)) = exp(-32/9) at distance 1
    edge = math.exp(-32 / 9)
    torch.testing.assert_close(w, torch.tensor([[edge], [1.0], [edge]]))
    w = gaussian_weights(8, 8)  # sigma 1: the corners, exp(-3.5^2 / 2)^2 = 4.8e-6, are floored at 1e-3
    assert w.min().item() == pytest.approx(1e-3) and w[0, 0] == w.min()
    assert w[3, 4].item() == pytest.approx(math.exp(-0.25 / 2) ** 2, rel=1e-6)  # next to the centre 3.5, 3.5


@pytest.mark.parametrize("h, w, tile, overlap, batch, blend", [
    (53, 71, 24, 0.25, 3, "gaussian"),
    (40, 40, 40, 0.5, 1, "gaussian"),
    (37, 90, 16, 0.6, 5, "gaussian"),
    (33, 47, 20, 0.5, 4, "constant"),
])
def test_agrees_with_monai_on_the_same_network(h, w, tile, overlap, batch, blend):
    from monai.inferers import sliding_window_inference

    torch.manual_seed(0)
    net = UNet(3, 2, 2, 4).eval()
    x = torch.rand(2, 3, h, w)
    with torch.no_grad():
        ours = sliding_window(net, x, tile, overlap, batch, blend=blend)
        theirs = sliding_window_inference(x, (tile, tile), batch, net, overlap=overlap, mode=blend)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_a_valid_convolution_tiled_with_its_margin_equals_it_whole():
    torch.manual_seed(1)
    kernel = torch.randn(2, 3, 5, 5)  # a 5x5 valid convolution: 2 pixels of context on every side
    x = torch.rand(1, 3, 29, 41)
    tiled = sliding_window(lambda t: F.conv2d(t, kernel), x, 12, 0.5, 3, margin=(2, 2))
    whole = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), kernel)
    torch.testing.assert_close(tiled, whole, rtol=1e-5, atol=1e-5)


def test_an_upsampling_tiled_with_its_scale_equals_it_whole():
    x = torch.rand(2, 1, 13, 18)
    tiled = sliding_window(lambda t: F.interpolate(t, scale_factor=3, mode="nearest"), x, 8, 0.25, 2, scale=3)
    torch.testing.assert_close(tiled, F.interpolate(x, scale_factor=3, mode="nearest"))


def test_a_network_answering_the_wrong_size_is_refused():
    with pytest.raises(ValueError, match="check margin and scale"):
        sliding_window(lambda t: t[..., 1:, 1:], torch.rand(1, 1, 9, 9), 4)


def _config(**kw) -> SegmentationConfig:
    return SegmentationConfig(**{"data": "x", "size": 40, "base_channels": 4, "depth": 2, **kw})


def test_a_valid_unet_predicts_the_planned_window_from_the_image_around_it():
    config = _config(padding="valid", resize="none")
    torch.manual_seed(0)
    model = build_model(config).eval()
    side, margin, net_of = window(model, config, 20)  # the size planner: the valid output at or above 20
    assert side >= 20 and margin[0] == margin[1] == model.offset and net_of(model) is model.net
    x = torch.rand(1, 3, side, side)
    with torch.no_grad():  # one window covering the image: the same context as the whole-image wrapper's
        tiled = sliding_window(net_of(model), x, side, margin=margin)
        torch.testing.assert_close(tiled, model(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(PixelwiseError, match="larger than b.png, 30x90"):
        check_sizes(config, model, Tiles(32), [("a.png", (200, 200)), ("b.png", (30, 90))])


@pytest.mark.parametrize("kw, tile, words", [
    ({}, 2, "smallest window this unet takes, 4 pixels"),
    ({"model": "vit", "patch_size": 8}, 4, "smallest window this vit takes, 8 pixels"),
])
def test_windows_below_the_network_minimum_are_refused(kw, tile, words):
    config = _config(**kw)
    with pytest.raises(PixelwiseError, match=words):
        window(build_model(config), config, tile)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, polyp_folder):
    """A segmentation run at full resolution (--resize none) and a denoising run, one epoch each, and an image."""
    root = tmp_path_factory.mktemp("tiling")
    segment = ["segment", "train", "--data", str(polyp_folder), "--resize", "none", "--size", "16", "--base-channels",
               "4", "--depth", "2", "--epochs", "1", "--batch-size", "4", "--out", str(root / "segment"), "--quiet"]
    restore = ["restore", "train", "--task", "denoise", "--model", "dncnn", "--depth", "3", "--width", "4", "--patch",
               "16", "--val-size", "24", "--epochs", "1", "--steps-per-epoch", "2", "--tv-iterations", "10", "--out",
               str(root / "restore"), "--quiet"]
    assert main(segment) == 0 and main(restore) == 0
    image = root / "photo.png"
    Image.fromarray((np.random.default_rng(0).random((37, 45, 3)) * 255).astype(np.uint8)).save(image)
    return root, image


@pytest.mark.slow
def test_tiled_commands_write_what_whole_ones_do(runs, capsys):
    root, image = runs
    assert main(["segment", "predict", "--run", str(root / "segment"), str(image), "--out", str(root / "whole"),
                 "--quiet"]) == 0
    assert main(["segment", "predict", "--run", str(root / "segment"), str(image), "--out", str(root / "tiled"),
                 "--tile", "16", "--overlap", "0.5", "--tile-batch", "3", "--device", "cpu", "--quiet"]) == 0
    whole, tiled = (np.asarray(Image.open(root / name / "photo.png")) for name in ("whole", "tiled"))
    assert tiled.shape == whole.shape == (37, 45)
    assert main(["restore", "apply", "--run", str(root / "restore"), str(image), "--out", str(root / "denoised"),
                 "--tile", "16", "--quiet"]) == 0
    assert Image.open(root / "denoised" / "photo.png").size == (45, 37)
    assert main(["restore", "eval", "--run", str(root / "restore"), "--tile", "16", "--quiet"]) == 0
    assert (root / "restore" / "evaluations" / "validation-denoise-tile-16" / "metrics.json").is_file()
    capsys.readouterr()


@pytest.mark.slow
@pytest.mark.parametrize("argv, words", [
    (["segment", "predict", "--run", "SEGMENT", "IMAGE", "--tile", "64"], "larger than photo.png, 37x45"),
    (["segment", "predict", "--run", "SEGMENT", "IMAGE", "--tile", "2"], "smallest window this unet takes"),
    (["segment", "predict", "--run", "SEGMENT", "IMAGE", "--tile", "16", "--overlap", "1"], "--overlap=1.0 must be"),
    (["segment", "predict", "--run", "SEGMENT", "IMAGE", "--tile", "16", "--tile-batch", "0"], "--tile-batch=0"),
    (["segment", "eval", "--run", "SEGMENT", "--tile", "64"], "is larger than"),
    (["restore", "apply", "--run", "RESTORE", "IMAGE", "--tile", "40"], "tile=40 is larger than photo.png, 37x45"),
    (["restore", "eval", "--run", "RESTORE", "--tile", "4"], "smallest window this dncnn takes, 8"),
    (["segment", "predict", "--run", "SEGMENT", "IMAGE", "--device", "gpu"], "device='gpu' is not a device name"),
])
def test_tiles_that_do_not_fit_are_refused_before_anything_is_written(runs, argv, words, capsys):
    root, image = runs
    places = {"SEGMENT": str(root / "segment"), "RESTORE": str(root / "restore"), "IMAGE": str(image)}
    out = ["--out", str(root / "refused")] if argv[1] in ("predict", "apply") else []
    before = sorted(p.name for p in root.rglob("*"))
    assert main([places.get(a, a) for a in argv] + out + ["--quiet"]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err
    assert sorted(p.name for p in root.rglob("*")) == before

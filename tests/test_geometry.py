"""Segmentation that keeps the aspect ratio: the placements of --resize worked by hand, canvases and their way
back, random crops, statistics of canvases of several sizes (numpy over every pixel as the oracle), and
training runs in every mode whose predictions come back at each image's own size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pixelwise.cli import main
from pixelwise.data.geometry import Placement, from_canvas, placement, to_canvas
from pixelwise.errors import PixelwiseError
from pixelwise.tasks.segment import SegmentationConfig
from pixelwise.tasks.segment.canvases import canvas_statistics, crop_batches, random_crop

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("h, w, mode, expected", [
    (30, 60, "squash", Placement((32, 32), (32, 32))),
    (30, 60, "fit", Placement((16, 32), (32, 32), (8, 0))),  # 32/60: 30 -> 16, centred: (32 - 16) / 2 = 8
    (60, 30, "fit", Placement((32, 16), (32, 32), (0, 8))),
    (10, 20, "pad", Placement((10, 20), (32, 32), (11, 6))),  # never enlarged: (32 - 10) // 2 = 11
    (30, 60, "pad", Placement((16, 32), (32, 32), (8, 0))),  # shrunk as fit
    (30, 60, "crop", Placement((32, 64), (32, 64))),  # the shorter side to 32: 60 x 32/30 = 64
    (45, 31, "crop", Placement((46, 32), (46, 32))),  # 45 x 32/31 = 46.45 -> 46
    (30, 60, "none", Placement((30, 60), (30, 60))),
])
def test_placements_by_hand(h, w, mode, expected):
    assert placement(h, w, 32, mode) == expected


def test_a_canvas_goes_back_to_the_image_it_came_from():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (10, 20, 3), dtype=np.uint8)
    mask = (rng.random((10, 20)) > 0.5).astype(np.uint8)
    place = placement(10, 20, 32, "pad")  # no resampling: the image sits on the canvas as it is
    canvas, canvas_mask = to_canvas(image, place, mask)
    assert canvas.shape == (32, 32, 3) and canvas_mask.shape == (32, 32)
    assert canvas.sum() == image.sum() and canvas_mask.sum() == mask.sum()  # black, background around it
    scores = torch.from_numpy(canvas).permute(2, 0, 1).float()  # (3, 32, 32)
    back = from_canvas(scores, place, (10, 20))
    assert torch.equal(back, torch.from_numpy(image).permute(2, 0, 1).float())
    shrunk = placement(40, 80, 32, "fit")  # scores back through a bilinear resize, to the image's size
    assert from_canvas(torch.ones(2, 32, 32), shrunk, (40, 80)).shape == (2, 40, 80)


def test_random_crops_keep_images_and_masks_aligned_and_pad_small_canvases():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (21, 13, 1), dtype=np.uint8)
    mask = (image[..., 0] > 128).astype(np.uint8)
    crop, crop_mask = random_crop(image, mask, 16, torch.Generator().manual_seed(0))  # 13 < 16: padded first
    assert crop.shape == (16, 16, 1) and crop_mask.shape == (16, 16)
    assert np.array_equal(crop_mask, (crop[..., 0] > 128).astype(np.uint8))
    assert (crop[:, 13:] == 0).all()
    again, _ = random_crop(image, mask, 16, torch.Generator().manual_seed(0))
    assert np.array_equal(crop, again)  # every draw from the generator


def test_crop_batches_are_patches_of_the_canvases():
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((20, 31), (33, 17), (25, 25), (18, 40))]
    masks = [(im[..., 0] > 100).astype(np.uint8) for im in images]
    config = SegmentationConfig(data="x", size=16, resize="none", batch_size=2, augment=False, norm_mean=[0.5] * 3,
                                norm_std=[0.25] * 3)
    batches = list(crop_batches(images, masks, config)(0, torch.Generator().manual_seed(0)))
    assert len(batches) == 2
    for x, y in batches:
        assert x.shape == (2, 3, 16, 16) and y.shape == (2, 1, 16, 16)
        red = x[:, 0] * 0.25 + 0.5  # the normalisation undone: the red channel in [0, 1]
        assert torch.equal(y[:, 0] > 0.5, red > 100 / 255 + 1e-6)


def test_statistics_of_canvases_of_several_sizes():
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((9, 14), (31, 5), (7, 7))]
    mean, std = canvas_statistics(images)
    every = np.concatenate([im.reshape(-1, 3) for im in images]).astype(np.float64) / 255
    np.testing.assert_allclose(mean, every.mean(0), atol=1e-6)
    np.testing.assert_allclose(std, every.std(0), atol=1e-6)


@pytest.mark.parametrize("kw, words", [
    ({"resize": "stretch"}, "resize='stretch' is not known"),
    ({"patch": 48}, "patch=48 is larger than the 32x32 images of resize=squash"),
    ({"patch": 4, "resize": "none"}, "patch=4 is too small"),
])
def test_bad_resize_settings_are_refused(kw, words):
    with pytest.raises(PixelwiseError, match=words):
        SegmentationConfig(data="x", size=32, **kw)


@pytest.fixture(scope="module")
def oblong(tmp_path_factory):
    """12 cases of several oblong sizes: a bright disc on noise, its mask."""
    root = tmp_path_factory.mktemp("oblong")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        h, w = int(rng.integers(20, 30)), int(rng.integers(34, 50))
        yy, xx = np.mgrid[:h, :w]
        disc = (yy - rng.uniform(6, h - 6)) ** 2 + (xx - rng.uniform(6, w - 6)) ** 2 < rng.uniform(9, 30)
        image = (rng.normal(90, 20, (h, w, 3)) + disc[..., None] * 90).clip(0, 255).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"c{i:02d}.png")
        Image.fromarray((disc * 255).astype(np.uint8)).save(root / "masks" / f"c{i:02d}.png")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("extra", [["--resize", "fit"], ["--resize", "crop", "--patch", "16"],
                                   ["--resize", "none", "--padding", "valid"]])
def test_every_mode_trains_and_predicts_at_each_images_size(oblong, tmp_path, extra, capsys):
    run = tmp_path / "run"
    assert main(["segment", "train", "--data", str(oblong), "--size", "16", "--base-channels", "4", "--depth", "2",
                 "--epochs", "1", "--batch-size", "4", "--out", str(run), "--quiet", *extra]) == 0
    assert main(["segment", "predict", "--run", str(run), str(oblong / "images"), "--out", str(tmp_path / "masks"),
                 "--quiet"]) == 0
    for mask in sorted((tmp_path / "masks").glob("*.png"))[:4]:
        assert Image.open(mask).size == Image.open(oblong / "images" / mask.name).size
    capsys.readouterr()

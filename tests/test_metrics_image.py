"""PSNR, SSIM and the Y-channel protocol against scikit-image and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pixelwise.errors import PixelwiseError
from pixelwise.metrics import psnr, psnr_y, rgb_to_y, ssim, ssim_y

skm = pytest.importorskip("skimage.metrics")
skc = pytest.importorskip("skimage.color")


def _pair(shape, seed=0, noise=0.08):
    rng = np.random.default_rng(seed)
    a = rng.random(shape)
    return a, np.clip(a + noise * rng.standard_normal(shape), 0, 1)


def test_psnr_by_hand():
    a = np.zeros((4, 4))
    b = np.full((4, 4), 0.1)
    assert psnr(b, a, 1.0) == pytest.approx(20.0)  # 10 log10(1 / 0.01)
    assert psnr(b * 255, a, 255.0) == pytest.approx(20.0)
    assert psnr(a, a, 1.0) == math.inf


@pytest.mark.parametrize("shape", [(17, 23), (3, 19, 31), (1, 12, 12)])
@pytest.mark.parametrize("data_range", [1.0, 255.0])
def test_psnr_and_ssim_match_skimage(shape, data_range):
    a, b = _pair(shape)
    a, b = a * data_range, b * data_range
    channel_axis = 0 if len(shape) == 3 else None
    assert psnr(b, a, data_range) == pytest.approx(skm.peak_signal_noise_ratio(a, b, data_range=data_range))
    theirs = skm.structural_similarity(a, b, data_range=data_range, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, channel_axis=channel_axis)
    assert ssim(b, a, data_range) == pytest.approx(theirs, abs=1e-10)


def test_ssim_of_identical_images_is_one_and_drops_with_noise():
    a, b = _pair((32, 32), noise=0.2)
    assert ssim(a, a, 1.0) == pytest.approx(1.0)
    assert ssim(b, a, 1.0) < 0.9


def test_torch_and_numpy_inputs_agree():
    a, b = _pair((3, 16, 16))
    assert psnr(torch.from_numpy(b)[None], torch.from_numpy(a), 1.0) == pytest.approx(psnr(b, a, 1.0))
    assert ssim(torch.from_numpy(b).float(), a, 1.0) == pytest.approx(ssim(b, a, 1.0), abs=1e-6)


def test_y_channel_is_matlab_rgb2ycbcr():
    a, _ = _pair((3, 9, 11))
    theirs = skc.rgb2ycbcr(np.moveaxis(a, 0, -1))[..., 0] / 255.0  # [16, 235] / 255
    np.testing.assert_allclose(rgb_to_y(a)[0].numpy(), theirs, atol=1e-12)
    np.testing.assert_allclose(rgb_to_y(a * 255, 255.0)[0].numpy(), theirs * 255, atol=1e-9)


@pytest.mark.parametrize("shave", [0, 3])
def test_psnr_y_and_ssim_y_with_shave(shave):
    a, b = _pair((3, 30, 34), seed=1)
    ya = skc.rgb2ycbcr(np.moveaxis(a, 0, -1))[..., 0] / 255.0
    yb = skc.rgb2ycbcr(np.moveaxis(b, 0, -1))[..., 0] / 255.0
    if shave:
        ya, yb = ya[shave:-shave, shave:-shave], yb[shave:-shave, shave:-shave]
    assert psnr_y(b, a, 1.0, shave) == pytest.approx(skm.peak_signal_noise_ratio(ya, yb, data_range=1.0))
    theirs = skm.structural_similarity(ya, yb, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False)
    assert ssim_y(b, a, 1.0, shave) == pytest.approx(theirs, abs=1e-10)


BAD = [
    ("shapes differ", lambda: psnr(np.zeros((4, 4)), np.zeros((4, 5)), 1.0)),
    ("missing data range", lambda: psnr(np.zeros((4, 4)), np.zeros((4, 4)), None)),
    ("negative data range", lambda: ssim(np.zeros((16, 16)), np.zeros((16, 16)), -1.0)),
    ("image too small for SSIM", lambda: ssim(np.zeros((10, 30)), np.zeros((10, 30)), 1.0)),
    ("batch of two", lambda: psnr(np.zeros((2, 1, 4, 4)), np.zeros((2, 1, 4, 4)), 1.0)),
    ("shave too large", lambda: psnr_y(np.zeros((1, 8, 8)), np.zeros((1, 8, 8)), 1.0, 4)),
    ("negative shave", lambda: psnr_y(np.zeros((1, 8, 8)), np.zeros((1, 8, 8)), 1.0, -1)),
    ("Y of grey", lambda: rgb_to_y(np.zeros((1, 8, 8)))),
]


@pytest.mark.parametrize("what, call", BAD, ids=[b[0] for b in BAD])
def test_bad_input(what, call):
    with pytest.raises(PixelwiseError):
        call()

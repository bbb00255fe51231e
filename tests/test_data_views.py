"""The SimCLR views and the MAE masks: identities when every augmentation is off, flips that are exactly flips,
the blur against scipy's Gaussian filter, the hue rotation keeping luma, seeded reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from pixelwise.data.views import (
    ViewConfig,
    crop_and_flip,
    gaussian_blur,
    grey,
    mask_image,
    patch_mask,
    rotate_hue,
    simclr_views,
)

pytestmark = pytest.mark.usefixtures("one_thread")
OFF = dict(crop_scale=(1.0, 1.0), jitter=0.0, grey_p=0.0, blur_p=0.0)


def _images(n=12, c=3, h=13, w=13, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_every_augmentation_off_is_the_identity():
    x = _images()
    y = simclr_views(x, ViewConfig(flips="none", **OFF), torch.Generator().manual_seed(0))
    assert torch.allclose(x, y, atol=1e-5)


@pytest.mark.parametrize("flips,group", [
    ("horizontal", [lambda t: t, lambda t: t.flip(-1)]),
    ("all", [lambda t, k=k, f=f: torch.rot90(t.flip(-1) if f else t, k, (-2, -1)) for k in range(4) for f in (0, 1)]),
])
def test_flips_are_exact_symmetries_and_all_of_them_occur(flips, group):
    x = _images(n=64, h=9, w=9)
    y = crop_and_flip(x, ViewConfig(flips=flips, **OFF), torch.Generator().manual_seed(1))
    seen = set()
    for xi, yi in zip(x, y):
        matches = [k for k, t in enumerate(group) if torch.allclose(t(xi), yi, atol=1e-5)]
        assert matches, "a view is not a symmetry of its image"
        seen.update(matches)
    assert len(seen) == len(group)


def test_crops_zoom_in_and_stay_inside_the_image():
    """A horizontal ramp 0..1: every crop's values lie within the ramp and span at most its width fraction."""
    ramp = torch.linspace(0, 1, 32).expand(8, 1, 32, 32).contiguous()
    y = crop_and_flip(ramp, ViewConfig(crop_scale=(0.25, 0.25), flips="none"), torch.Generator().manual_seed(2))
    span = y.amax(dim=(1, 2, 3)) - y.amin(dim=(1, 2, 3))
    assert (y >= -1e-6).all() and (y <= 1 + 1e-6).all()
    assert (span < 0.65).all() and (span > 0.35).all()  # width fraction sqrt(0.25 r), r in [3/4, 4/3]: 0.43..0.58


def test_blur_matches_scipy_gaussian_filter():
    x = _images(n=2, c=3, h=40, w=31, seed=3).double()
    sigma = torch.tensor([0.7, 1.6], dtype=torch.float64)
    y = gaussian_blur(x, sigma)
    k = 2 * (40 // 20) + 1  # the kernel spans a tenth of the longer side: 5 taps, radius 2
    for i in range(2):
        for c in range(3):
            # torch's "reflect" (d c b | a b c d) is scipy's "mirror"; the same radius through truncate
            ref = ndimage.gaussian_filter(x[i, c].numpy(), sigma[i].item(), mode="mirror",
                                          truncate=(k // 2) / sigma[i].item())
            np.testing.assert_allclose(y[i, c].numpy(), ref, atol=1e-12)


def test_hue_rotation_keeps_luma_and_a_full_turn_is_the_identity():
    x = _images(n=4).double()
    turns = torch.tensor([0.1, -0.2, 0.5, 1.0], dtype=torch.float64)
    y = rotate_hue(x, turns)
    assert torch.allclose(grey(y), grey(x), atol=1e-12)
    assert torch.allclose(y[3], x[3], atol=1e-12)
    g = grey(x).expand(-1, 3, -1, -1)  # grey pixels have no chroma: unchanged
    assert torch.allclose(rotate_hue(g, turns), g, atol=1e-12)


@pytest.mark.parametrize("channels", [1, 3])
def test_views_are_seeded_in_range_and_differ_between_draws(channels):
    x = _images(c=channels, h=17, w=15)
    config = ViewConfig(flips="all", blur_p=1.0)
    a = simclr_views(x, config, torch.Generator().manual_seed(5))
    b = simclr_views(x, config, torch.Generator().manual_seed(5))
    c = simclr_views(x, config, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1


def test_patch_masks_keep_the_right_number_of_patches():
    keep = patch_mask(5, (3, 4), 0.75, torch.Generator().manual_seed(0))
    assert keep.shape == (5, 3)  # round(0.25 * 12)
    assert all(len(set(row.tolist())) == 3 for row in keep)
    m = mask_image(keep, (3, 4), 4, (11, 16))  # the last patch row is cropped to 3 pixels
    assert m.shape == (5, 1, 11, 16)
    full = mask_image(keep, (3, 4), 4, (12, 16))
    assert (full.sum(dim=(1, 2, 3)) == 9 * 16).all()
    with pytest.raises(ValueError, match="ratio 1"):
        patch_mask(1, (2, 2), 1.0, torch.Generator())


@pytest.mark.parametrize("kwargs,match", [
    (dict(crop_scale=(0.5, 0.2)), "crop_scale"), (dict(flips="vertical"), "flips='vertical'"),
    (dict(jitter=2.0), "jitter=2.0"), (dict(blur_p=1.5), "blur_p=1.5"),
])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ViewConfig(**kwargs)

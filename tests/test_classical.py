"""Classical segmentation (pixelwise.classical): thresholds, multi-level Otsu, adaptive thresholds and the watershed
against scikit-image where the conventions agree; colour transforms against scikit-image and Pillow; region growing
and morphology on masks worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import color, filters, segmentation

from pixelwise.classical import (
    adaptive_threshold,
    automatic_seed,
    channel,
    classify,
    clean_up,
    disk,
    field_of_view,
    fill_holes,
    gradient_magnitude,
    grow_region,
    largest_component,
    multi_otsu_thresholds,
    opening,
    otsu_threshold,
    watershed,
)
from pixelwise.errors import PixelwiseError


def bimodal(seed: int, shape, dtype):
    rng = np.random.default_rng(seed)
    x = rng.normal(90, 25, shape) + (rng.random(shape) > 0.6) * 90 + (rng.random(shape) > 0.85) * 60
    return x.clip(0, 255).astype(np.uint8) if dtype == np.uint8 else x / 255


@pytest.mark.parametrize("seed,shape,dtype", [(0, (37, 41), np.uint8), (1, (5, 3), np.uint8), (2, (33, 29), float),
                                              (3, (64, 1), float)])
def test_otsu_and_multi_otsu_agree_with_scikit_image(seed, shape, dtype):
    x = bimodal(seed, shape, dtype)
    assert otsu_threshold(x) == pytest.approx(filters.threshold_otsu(x), abs=1e-12)
    for classes in (3, 4):
        if len(np.unique(x)) >= 3 * classes:
            np.testing.assert_allclose(multi_otsu_thresholds(x, classes), filters.threshold_multiotsu(x, classes),
                                       atol=1e-12)


def test_otsu_by_hand_and_degenerate_images():
    # two values 10 and 200: every split between them has the same between-class variance, the first one wins
    x = np.array([[10, 10, 200], [200, 200, 10]], np.uint8)
    assert otsu_threshold(x) == 10.0 and ((x > otsu_threshold(x)) == (x == 200)).all()
    assert otsu_threshold(np.full((4, 4), 7, np.uint8)) == 7.0  # constant: nothing above the threshold
    # three well-separated levels: multi-Otsu puts one threshold at the top of each lower level
    y = np.repeat(np.array([20, 21, 120, 121, 220, 221], np.uint8), 5)
    np.testing.assert_array_equal(multi_otsu_thresholds(y, 3), [21, 121])
    np.testing.assert_array_equal(classify(np.array([21, 22, 121, 122]), [21, 121]), [0, 1, 1, 2])
    with pytest.raises(ValueError, match="distinct values"):
        multi_otsu_thresholds(np.array([1, 2, 1], np.uint8), 3)
    with pytest.raises(ValueError, match="finite"):
        otsu_threshold(np.array([0.1, np.nan]))


@pytest.mark.parametrize("method,block", [("gaussian", 3), ("gaussian", 15), ("mean", 7), ("mean", 31)])
def test_adaptive_threshold_agrees_with_threshold_local(method, block):
    x = bimodal(4, (29, 35), float)
    np.testing.assert_allclose(adaptive_threshold(x, block, 0.05, method),
                               filters.threshold_local(x, block, method, offset=0.05), atol=1e-12)


@pytest.mark.parametrize("block", [4, 1, 2.5])
def test_adaptive_threshold_refuses_an_even_or_tiny_block(block):
    with pytest.raises(ValueError, match="odd whole number >= 3"):
        adaptive_threshold(np.zeros((5, 5)), block)


@pytest.mark.parametrize("seed,shape,masked", [(0, (40, 45), False), (1, (17, 9), True), (2, (1, 30), False)])
def test_watershed_agrees_with_scikit_image_on_surfaces_without_ties(seed, shape, masked):
    rng = np.random.default_rng(seed)
    surface = rng.random(shape)  # distinct values: the flooding order is fully defined
    markers = np.zeros(shape, int)
    for label in (1, 2, 3):
        markers[tuple(rng.integers(0, s) for s in shape)] = label
    mask = rng.random(shape) > 0.2 if masked else None
    mask = None if mask is None else mask | (markers > 0)
    ours = watershed(surface, markers, mask)
    theirs = segmentation.watershed(surface, markers, mask=mask)
    np.testing.assert_array_equal(ours, theirs)


def test_watershed_by_hand_splits_at_the_ridge():
    # a valley | ridge | valley profile along each row: markers at both ends meet on the ridge
    row = np.array([0, 1, 2, 9, 3, 1, 0], float)
    surface = np.tile(row, (3, 1))
    markers = np.zeros((3, 7), int)
    markers[1, 0], markers[1, 6] = 1, 2
    labels = watershed(surface, markers)
    # the ridge (9) is reached first from its lower neighbour: 2 on the left is flooded before 3 on the right
    np.testing.assert_array_equal(labels, np.tile([1, 1, 1, 1, 2, 2, 2], (3, 1)))
    surface[:, 2] = 4  # now the right side's pass (3) is lower
    np.testing.assert_array_equal(watershed(surface, markers), np.tile([1, 1, 1, 2, 2, 2, 2], (3, 1)))
    assert (watershed(surface, np.zeros((3, 7), int)) == 0).all()  # no marker, nothing flooded


def test_colour_channels_agree_with_scikit_image_and_pillow():
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (9, 11, 3)).astype(np.uint8)
    rgb[0, 0] = (0, 0, 0)  # black and grey pixels: hue and saturation 0
    rgb[0, 1] = (90, 90, 90)
    x = rgb / 255.0
    hsv = color.rgb2hsv(x)
    for k, name in enumerate(("hue", "saturation", "value")):
        np.testing.assert_allclose(channel(rgb, name), hsv[..., k], atol=1e-12)
    lab = color.rgb2lab(x)  # scikit-image rounds the CIE constants (0.008856, 7.787): 1e-3 of a unit
    np.testing.assert_allclose(channel(rgb, "lab_l") * 100, lab[..., 0], atol=2e-3)
    np.testing.assert_allclose(channel(rgb, "lab_a") * 255 - 128, lab[..., 1], atol=2e-3)
    np.testing.assert_allclose(channel(rgb, "lab_b") * 255 - 128, lab[..., 2], atol=2e-3)
    pil = np.asarray(Image.fromarray(rgb).convert("L"), float)  # BT.601 luma, rounded to whole grey levels
    assert np.abs(channel(rgb, "grey") * 255 - pil).max() <= 0.5 + 1e-9
    assert channel(rgb, "pca").min() == 0 and channel(rgb, "pca").max() == 1
    with pytest.raises(ValueError, match="needs a colour image"):
        channel(rgb[..., :1], "hue")
    with pytest.raises(ValueError, match="not known"):
        channel(rgb, "cyan")


def two_plateaus():
    """A 9 x 12 image: left half 0.2, right half 0.8, a 0.25 pixel inside the right half and a 0.5 ramp column."""
    x = np.full((9, 12), 0.2)
    x[:, 6:] = 0.8
    x[4, 9] = 0.25
    return x


def test_region_growing_by_hand():
    x = two_plateaus()
    left = grow_region(x, [(0, 0)], tolerance=0.1, update=False)
    np.testing.assert_array_equal(left, x == 0.2)  # the 0.25 pixel fits the tolerance but is not connected
    both = grow_region(x, [(0, 0), (8, 11)], tolerance=0.1)
    assert both.sum() == 9 * 12 - 1  # two regions; the 0.25 pixel joins neither
    assert grow_region(x, [(0, 0)], tolerance=0.7).all()  # |0.8 - 0.2| <= 0.7: one region
    # the gradient criterion: the edge between the plateaus (gradient 0.3 per pixel there) stops the growth
    g = gradient_magnitude(x, 0.0)
    stopped = grow_region(x, [(0, 0)], tolerance=0.7, gradient=g, gradient_max=0.2)
    assert stopped[:, :5].all() and not stopped[:, 6:].any()
    # update: the reference moves to the region's mean until the region stops changing
    ramp = np.tile(np.linspace(0, 1, 11), (3, 1))
    fixed = grow_region(ramp, [(1, 0)], tolerance=0.16, window=0, update=False)  # reference 0: 0, 0.1
    moved = grow_region(ramp, [(1, 0)], tolerance=0.16, window=0)  # means 0.05, then 0.1: 0, 0.1, 0.2, stable
    assert fixed.sum(1).tolist() == [2, 2, 2] and moved.sum(1).tolist() == [3, 3, 3]


@pytest.mark.parametrize("seed,words", [((9, 0), "row 9"), ((0, -1), "col -1"), ((2.5, 1), "not whole")])
def test_seeds_outside_the_image_are_refused_in_one_sentence(seed, words):
    with pytest.raises(PixelwiseError, match="outside the 9 x 12 image") as err:
        grow_region(two_plateaus(), [seed], 0.1)
    assert words in str(err.value) and str(err.value).count(". ") == 0


def test_automatic_seed_is_the_most_interior_foreground_pixel():
    yy, xx = np.mgrid[0:31, 0:31]
    x = ((yy - 20) ** 2 + (xx - 11) ** 2 <= 36).astype(float) + 0.01 * np.random.default_rng(0).random((31, 31))
    assert automatic_seed(x).tolist() == [[20, 11]]
    assert automatic_seed(np.zeros((5, 7))).tolist() == [[2, 3]]  # nothing above Otsu's threshold: the centre


def test_morphology_by_hand():
    assert disk(2).sum() == 13 and disk(0).sum() == 1
    ring = np.zeros((9, 9), bool)
    ring[2:7, 2:7] = True
    ring[4, 4] = False
    np.testing.assert_array_equal(fill_holes(ring), np.pad(np.ones((5, 5), bool), 2))
    edge = np.zeros((10, 10), bool)
    edge[:, :4] = True  # an object on the image's edge
    edge[7, 8] = True  # a speck
    opened = opening(edge, 1)
    np.testing.assert_array_equal(opened, np.pad(np.ones((10, 4), bool), ((0, 0), (0, 6))))  # edge kept, speck gone
    two = np.zeros((6, 9), bool)
    two[1:3, 1:3] = True
    two[1:5, 5:8] = True
    np.testing.assert_array_equal(largest_component(two), two & (np.arange(9) >= 5))
    assert not largest_component(np.zeros((3, 3))).any()
    np.testing.assert_array_equal(clean_up(two, largest=True, holes=True), largest_component(two))


def test_field_of_view_leaves_out_the_dark_frame_only():
    grey = np.full((12, 14), 0.6)
    grey[:2], grey[:, :3] = 0.02, 0.02  # a frame on two sides
    grey[9:, 10:] = 0.05  # a dark text box in a corner, on the border
    grey[6, 7] = 0.0  # a dark pixel inside the picture: not frame
    fov = field_of_view(grey, dark=0.1, margin=0)
    inside = grey >= 0.1
    inside[6, 7] = True
    np.testing.assert_array_equal(fov, inside)
    assert field_of_view(grey, margin=1).sum() < fov.sum()
    assert field_of_view(np.zeros((4, 4))).all()  # dark all over: all field of view

import numpy as np
import pytest
import torch
from PIL import Image

from pixelwise.data.augment import AugmentConfig, augment_batch
from pixelwise.data.folders import ImageMaskFolder
from pixelwise.data.splits import parse_fractions, random_split, read_id_list, split_from_lists
from pixelwise.data.synthetic import anatomy, polyps, write_anatomy_folder, write_polyps_folder
from pixelwise.errors import DataError, PixelwiseError


def make_folder(root, cases):
    """cases: {stem: (image_ext, image array, mask_ext, mask array)}"""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir(parents=True)
    for stem, (iext, img, mext, msk) in cases.items():
        if img is not None:
            Image.fromarray(img).save(root / "images" / f"{stem}{iext}")
        if msk is not None:
            Image.fromarray(msk).save(root / "masks" / f"{stem}{mext}")
    return root


RGB = np.full((9, 13, 3), 100, np.uint8)
MASK = np.zeros((9, 13), np.uint8)
MASK[2:5, 3:8] = 255


def test_pairs_with_different_extensions_and_threshold(tmp_path):
    noisy = MASK.copy()
    noisy[noisy == 255] = 200  # JPEG-like: not exactly 255
    noisy[0, 0] = 90  # ringing below the threshold stays background
    root = make_folder(tmp_path / "d", {"a": (".jpg", RGB, ".png", noisy), "b": (".bmp", RGB, ".tif", MASK)})
    folder = ImageMaskFolder(root)
    assert folder.stems == ["a", "b"]
    image, mask = folder.read(0)
    assert image.shape == (9, 13, 3) and mask.dtype == np.uint8
    assert set(np.unique(mask)) == {0, 1} and mask.sum() == 15 and mask[0, 0] == 0


@pytest.mark.parametrize("cases,match", [
    ({"a": (".png", RGB, ".png", None), "b": (".png", RGB, ".png", None), "c": (".png", RGB, ".png", MASK)},
     "2 image.*no mask.*a, b"),
    ({"a": (".png", None, ".png", MASK), "b": (".png", RGB, ".png", MASK)}, "no image.*a"),
    ({"a": (".png", RGB, ".png", np.zeros((9, 12), np.uint8))}, "image a.png is 13x9 but mask a.png is 12x9"),
    ({}, "holds no image files"),
])
def test_bad_folders_are_named(tmp_path, cases, match):
    root = make_folder(tmp_path / "d", cases)
    with pytest.raises(DataError, match=match):
        ImageMaskFolder(root)


def test_missing_folder_and_subfolders(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        ImageMaskFolder(tmp_path / "nope")
    (tmp_path / "x" / "images").mkdir(parents=True)
    with pytest.raises(DataError, match="no masks/ folder"):
        ImageMaskFolder(tmp_path / "x")


def test_truncated_and_unreadable_files_are_named(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    root = make_folder(tmp_path / "d", {"a": (".png", RGB, ".png", MASK),
                                        "b": (".jpg", noise, ".png", np.zeros((64, 64), np.uint8))})
    data = (root / "images" / "b.jpg").read_bytes()
    (root / "images" / "b.jpg").write_bytes(data[: len(data) // 2])  # truncated JPEG: header still readable
    folder = ImageMaskFolder(root)
    with pytest.raises(DataError, match=r"b\.jpg"):
        folder.load(size=(8, 8), progress=False)
    (root / "masks" / "a.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"a\.png"):
        ImageMaskFolder(root)


def test_multiclass_labels_and_too_many_labels(tmp_path):
    labels = np.zeros((9, 13), np.uint8)
    labels[1, 1], labels[2, 2] = 1, 3
    root = make_folder(tmp_path / "d", {"a": (".png", RGB, ".png", labels)})
    assert ImageMaskFolder(root, num_classes=4).read(0)[1].max() == 3
    with pytest.raises(DataError, match="label 3 but num_classes=3"):
        ImageMaskFolder(root, num_classes=3).read(0)


def test_load_resizes_to_a_cache_of_uint8(polyp_folder):
    folder = ImageMaskFolder(polyp_folder)
    images, masks = folder.load([0, 3, 5], size=(20, 24), progress=False)
    assert images.shape == (3, 20, 24, 3) and images.dtype == np.uint8
    assert masks.shape == (3, 20, 24) and set(np.unique(masks)) <= {0, 1}
    full, _ = folder.load([3], progress=False)
    assert np.array_equal(full[0], folder.read(3)[0])


def test_synthetic_polyps_are_reproducible_with_empty_cases():
    a_img, a_msk = polyps(200, 24, seed=5)
    b_img, b_msk = polyps(200, 24, seed=5)
    assert np.array_equal(a_img, b_img) and np.array_equal(a_msk, b_msk)
    assert not np.array_equal(a_img, polyps(200, 24, seed=6)[0])
    empty = (a_msk.reshape(200, -1).sum(1) == 0).mean()
    assert 0.04 <= empty <= 0.18  # about 10% without any object
    # the blobs are lighter than the background on average: the masks describe visible objects
    grey = a_img.mean(-1)
    assert grey[a_msk == 1].mean() > grey[a_msk == 0].mean() + 20


def test_write_polyps_folder_round_trips(tmp_path):
    root = write_polyps_folder(tmp_path / "p", n=4, size=16, seed=1)
    folder = ImageMaskFolder(root)
    images, masks = folder.load(progress=False)
    ref_img, ref_msk = polyps(4, 16, seed=1)
    assert np.array_equal(images, ref_img) and np.array_equal(masks, ref_msk)


def test_synthetic_anatomy_is_one_template_with_a_faint_organ_boundary(tmp_path):
    """Reproducible per (seed, i); every subject has its organ, near the template's place (its centroid moves by a
    few pixels, not across the image); the organ is brighter than the body by about 0.30 but its neighbour is
    within 0.04 of it, so intensity alone cannot tell them apart. The folder round trips (grey images)."""
    images, masks = anatomy(12, 48, seed=3)
    assert np.array_equal(images, anatomy(12, 48, seed=3)[0]) and np.array_equal(images[:5], anatomy(5, 48, 3)[0])
    assert images.shape == (12, 48, 48) and images.dtype == np.uint8 and set(np.unique(masks)) == {0, 1}
    areas = masks.reshape(12, -1).sum(1)
    assert areas.min() > 0.02 * 48 * 48
    yy, xx = np.mgrid[0:48, 0:48]
    centroids = np.array([[yy[m == 1].mean(), xx[m == 1].mean()] for m in masks])
    assert np.abs(centroids - centroids.mean(0)).max() < 48 * 0.12  # one anatomy, not a random place
    organ = np.mean([im[m == 1].mean() for im, m in zip(images, masks)]) / 255
    assert 0.55 < organ < 0.65  # 0.60 in the template (noise and bias field average out)
    root = write_anatomy_folder(tmp_path / "a", n=3, size=24, seed=1)
    loaded, loaded_masks = ImageMaskFolder(root).load(progress=False)
    ref_img, ref_msk = anatomy(3, 24, seed=1)
    assert np.array_equal(loaded[..., 0], ref_img) and np.array_equal(loaded_masks, ref_msk)
    with pytest.raises(ValueError, match="size >= 16"):
        anatomy(2, 8)


def test_random_split_is_deterministic_and_disjoint():
    ids = [f"c{i:03d}" for i in range(101)]
    s = random_split(ids, (0.6, 0.2, 0.2), seed=4)
    assert (len(s["train"]), len(s["val"]), len(s["test"])) == (61, 20, 20)
    assert set(s["train"]) | set(s["val"]) | set(s["test"]) == set(ids)
    assert not set(s["train"]) & set(s["test"])
    assert s == random_split(list(reversed(ids)), (0.6, 0.2, 0.2), seed=4)
    assert s != random_split(ids, (0.6, 0.2, 0.2), seed=5)


@pytest.mark.parametrize("text", ["0.6,0.2", "a,b,c", "0.5,0.2,0.2", "0,0.5,0.5", "0.8,-0.1,0.3"])
def test_bad_split_fractions(text):
    with pytest.raises(PixelwiseError, match="split"):
        parse_fractions(text)


def test_split_from_id_lists(tmp_path):
    ids = [f"c{i}" for i in range(10)]
    (tmp_path / "train.txt").write_text("\n".join(ids[:8]) + "\n# comment\n")
    (tmp_path / "test.txt").write_text("c8.jpg\nc9\n")
    s = split_from_lists(ids, read_id_list(tmp_path / "train.txt"), read_id_list(tmp_path / "test.txt"), 0.25)
    assert s["test"] == ["c8", "c9"] and len(s["val"]) == 2 and len(s["train"]) == 6
    with pytest.raises(PixelwiseError, match="not in the data folder"):
        split_from_lists(ids, ["zz"], None)
    with pytest.raises(PixelwiseError, match="both the train and test"):
        split_from_lists(ids, ids[:5], ids[4:6])


def test_joint_augmentation_keeps_masks_aligned():
    g = torch.Generator().manual_seed(0)
    images, masks = polyps(6, 32, seed=2)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(masks).long()
    # a geometric-only augmentation must move the mask exactly like the first image channel: encode the mask
    # into the image and check that they still agree after augmentation
    x[:, 0] = y.float()
    cfg = AugmentConfig(brightness=0, contrast=0, crop_probability=1.0)
    xa, ya = augment_batch(x, y, cfg, g)
    assert xa.shape == x.shape and ya.shape == y.shape and ya.dtype == y.dtype
    assert set(torch.unique(ya).tolist()) <= {0, 1}
    agree = ((xa[:, 0] > 0.5).long() == ya).float().mean()
    assert agree > 0.97  # nearest vs bilinear resampling differ only along edges
    assert not torch.equal(xa, x)


def test_photometric_augmentation_leaves_masks_alone():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(4, 3, 8, 8)
    y = torch.randint(0, 2, (4, 8, 8))
    cfg = AugmentConfig(flip=False, rot90=False, crop_scale=(1.0, 1.0), brightness=0.3, contrast=0.3)
    xa, ya = augment_batch(x, y, cfg, g)
    assert torch.equal(ya, y) and not torch.allclose(xa, x)
    assert xa.min() >= 0 and xa.max() <= 1

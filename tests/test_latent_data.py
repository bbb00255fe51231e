"""MNIST IDX files, the checksummed downloader (served from local files), and the image-set loaders."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from pixelwise.data.imagesets import load_folder_set, load_image_set, load_npz_set, split_indices
from pixelwise.data.io import write_image
from pixelwise.data.mnist import MNIST_FILES, Published, digests_of, fetch_mnist, load_mnist, read_idx, write_idx
from pixelwise.errors import DataError


@pytest.mark.parametrize("dtype,shape", [
    (np.uint8, (5, 28, 28)), (np.uint8, (7,)), (np.int8, (3, 1, 5)), (np.int16, (2, 3)), (np.int32, (4, 3)),
    (np.float32, (3, 7, 2)), (np.float64, (1,)), (np.uint8, (0, 4, 4)),
])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_roundtrip(tmp_path, dtype, shape, suffix):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal(shape) * 50).astype(dtype)
    path = write_idx(tmp_path / f"a-idx{len(shape)}-ubyte{suffix}", arr)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == shape
    np.testing.assert_array_equal(back, arr)


def test_idx_header_bytes_by_hand(tmp_path):
    """A 2x3 uint8 array written out by hand: magic 0x00000802 (uint8, 2 dims), sizes 2 and 3, data."""
    path = tmp_path / "x.idx"
    path.write_bytes(bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]))
    np.testing.assert_array_equal(read_idx(path), [[1, 2, 3], [4, 5, 6]])
    written = write_idx(tmp_path / "y.idx", np.array([[1, 2, 3], [4, 5, 6]], np.uint8))
    assert written.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("payload,words", [
    (b"PK\x03\x04rest", "bad magic"),
    (bytes([0, 0, 8, 2, 0, 0]), "truncated"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]), "truncated"),
    (bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 1]), "bad magic"),
])
def test_idx_bad_files(tmp_path, payload, words):
    path = tmp_path / "bad"
    path.write_bytes(payload)
    with pytest.raises(DataError, match=words):
        read_idx(path)


def test_idx_bad_gzip_and_missing(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 9, 1]))[:-6])
    with pytest.raises(DataError):
        read_idx(path)
    with pytest.raises(DataError, match="does not exist"):
        read_idx(tmp_path / "nope")
    with pytest.raises(ValueError, match="dtype"):
        write_idx(tmp_path / "c", np.zeros(3, np.uint64))


def _fake_mnist_mirror(tmp_path, n_train=11, n_test=5):
    """Small IDX files with the official names in a local 'mirror' folder; returns (mirror, files table)."""
    rng = np.random.default_rng(1)
    mirror = tmp_path / "mirror"
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    files = {}
    for name, arr in arrays.items():
        path = write_idx(mirror / name, arr)
        sha, md5, size = digests_of(path)
        files[name] = Published(sha, md5, size)
    return mirror, files, arrays


def test_download_from_local_mirror_verifies_and_caches(tmp_path):
    mirror, files, arrays = _fake_mnist_mirror(tmp_path)
    cache = tmp_path / "cache"
    urls = ("file:///nonexistent-mirror/", mirror.as_uri() + "/")  # the first mirror fails, the second works
    images, labels = load_mnist("train", cache, mirrors=urls, files=files, log=lambda s: None)
    np.testing.assert_array_equal(images, arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(labels, arrays["train-labels-idx1-ubyte.gz"])
    cached = sorted(p.name for p in cache.iterdir())
    assert cached == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    # second call: served from the cache, no mirror needed
    images2, _ = load_mnist("train", cache, download=False, files=files)
    np.testing.assert_array_equal(images2, images)
    test_images, test_labels = load_mnist("test", cache, mirrors=urls, files=files, log=lambda s: None)
    assert test_images.shape == (5, 28, 28) and test_labels.shape == (5,)


@pytest.mark.parametrize("field,words", [("sha256", "SHA-256"), ("md5", "MD5"), ("size", "published")])
def test_download_rejects_a_wrong_file_and_keeps_nothing(tmp_path, field, words):
    mirror, files, _ = _fake_mnist_mirror(tmp_path)
    name = "train-images-idx3-ubyte.gz"
    good = files[name]
    changed = {"sha256": "0" * 64, "md5": "0" * 32, "size": good.size - 1}[field]
    wrong = dict(files, **{name: Published(**{**good.__dict__, field: changed})})
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=words):
        fetch_mnist(cache, [name], mirrors=(mirror.as_uri(),), files=wrong, log=lambda s: None)
    assert not cache.exists() or not any(cache.iterdir())


def test_a_mirror_that_never_answers_is_given_up_quickly(tmp_path):
    """A server that accepts the connection and never sends: the next mirror is tried after the stall limit,
    with a message naming each mirror while it waits."""
    import socket
    import threading
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    held = []
    threading.Thread(target=lambda: [held.append(server.accept()) for _ in range(2)], daemon=True).start()
    silent = f"http://127.0.0.1:{server.getsockname()[1]}/"
    mirror, files, arrays = _fake_mnist_mirror(tmp_path)
    said = []
    start = time.perf_counter()
    paths = fetch_mnist(tmp_path / "cache", ["train-labels-idx1-ubyte.gz"], mirrors=(silent, mirror.as_uri()),
                        files=files, stall=0.5, log=said.append)
    assert time.perf_counter() - start < 5
    assert paths["train-labels-idx1-ubyte.gz"].is_file() and len(said) == 2 and silent in said[0]
    server.close()


def test_cached_file_with_wrong_checksum_is_an_error(tmp_path):
    _, files, _ = _fake_mnist_mirror(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "train-labels-idx1-ubyte.gz").write_bytes(b"not mnist")
    with pytest.raises(DataError, match="delete it"):
        fetch_mnist(cache, ["train-labels-idx1-ubyte.gz"], files=files, mirrors=(), log=lambda s: None)


def test_offline_error_says_where_to_put_the_files(tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as err:
        load_mnist("train", cache, mirrors=("file:///nonexistent-mirror/",), log=lambda s: None)
    message = str(err.value)
    assert str(cache) in message and all(name in message for name in MNIST_FILES)
    with pytest.raises(DataError, match="not in"):
        load_mnist("test", cache, download=False)
    with pytest.raises(DataError, match="split"):
        load_mnist("validation", cache)


def test_official_checksums_are_well_formed():
    assert len(MNIST_FILES) == 4
    for published in MNIST_FILES.values():
        assert len(published.sha256) == 64 and int(published.sha256, 16) >= 0
        assert len(published.md5) == 32 and int(published.md5, 16) >= 0 and published.size > 1000


def test_digits_set():
    pytest.importorskip("sklearn")
    s = load_image_set("digits")
    assert s.images.shape == (1797, 1, 8, 8) and s.images.dtype == np.float32
    assert 0 <= s.images.min() and s.images.max() == 1.0
    assert s.labels is not None and sorted(set(s.labels.tolist())) == list(range(10))


def test_npz_set(tmp_path):
    images = np.arange(3 * 5 * 7, dtype=np.uint8).reshape(3, 5, 7)
    np.savez(tmp_path / "a.npz", images=images, labels=np.array([1, 2, 3], np.uint8))
    s = load_image_set(str(tmp_path / "a.npz"))
    assert s.images.shape == (3, 1, 5, 7) and s.labels.tolist() == [1, 2, 3]
    np.testing.assert_allclose(s.images[:, 0] * 255, images, atol=1e-4)
    np.savez(tmp_path / "b.npz", pictures=images)
    with pytest.raises(DataError, match="'images'"):
        load_npz_set(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", images=images, labels=np.zeros(2))
    with pytest.raises(DataError, match="labels"):
        load_npz_set(tmp_path / "c.npz")
    with pytest.raises(DataError, match="does not exist"):
        load_npz_set(tmp_path / "none.npz")


def test_folder_set_flat_and_classes(tmp_path):
    rng = np.random.default_rng(0)
    for k, cls in enumerate(["cat", "dog"]):
        for i in range(k + 2):
            image = rng.integers(0, 256, (9, 11), dtype=np.uint8)
            write_image(tmp_path / "classes" / cls / f"{i}.png", image)
    s = load_folder_set(tmp_path / "classes")
    assert s.images.shape == (5, 1, 9, 11) and s.labels.tolist() == [0, 0, 1, 1, 1]
    assert s.class_names == ["cat", "dog"]
    write_image(tmp_path / "flat" / "a.png", rng.integers(0, 256, (9, 11), dtype=np.uint8))
    write_image(tmp_path / "flat" / "b.png", rng.integers(0, 256, (6, 6), dtype=np.uint8))
    with pytest.raises(DataError, match=r"2 different sizes \(e.g. 6x6 and 9x11\); resize them all .* --size N"):
        load_folder_set(tmp_path / "flat")
    s = load_image_set(str(tmp_path / "flat"), size=13)
    assert s.images.shape == (2, 1, 13, 13) and s.labels is None
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no image"):
        load_folder_set(tmp_path / "empty")
    with pytest.raises(DataError, match="neither"):
        load_image_set(str(tmp_path / "missing"))


@pytest.mark.parametrize("n", [3, 10, 101])
def test_split_indices_partition(n):
    s = split_indices(n, (0.6, 0.2, 0.2), seed=3)
    assert sorted(s["train"] + s["val"] + s["test"]) == list(range(n))
    assert s == split_indices(n, (0.6, 0.2, 0.2), seed=3)


@pytest.mark.parametrize("n,max_images,seed", [(11, 4, 0), (11, 4, 1), (7, 7, 0), (5, 9, 2), (13, 1, 3)])
def test_max_images_is_a_seeded_subset_in_the_source_order(tmp_path, n, max_images, seed):
    """The one subset rule: min(n, max_images) distinct images of the source, kept in their order (labels with
    them), the same for the same seed; each image is told apart by its constant grey level."""
    images = np.repeat(np.arange(n, dtype=np.uint8)[:, None, None] * 10, 15, axis=1).reshape(n, 3, 5)
    np.savez(tmp_path / "a.npz", images=images, labels=np.arange(n))
    s = load_image_set(str(tmp_path / "a.npz"), max_images=max_images, seed=seed)
    kept = np.rint(s.images[:, 0, 0, 0] * 25.5).astype(int)  # grey level / 10 = the source index
    assert len(s) == min(n, max_images) and s.labels.tolist() == kept.tolist()
    assert kept.tolist() == sorted(set(kept.tolist())) and kept.max() < n
    again = load_image_set(str(tmp_path / "a.npz"), max_images=max_images, seed=seed)
    np.testing.assert_array_equal(again.images, s.images)


@pytest.mark.parametrize("max_images", [0, -3])
def test_bad_max_images(tmp_path, max_images):
    np.savez(tmp_path / "a.npz", images=np.zeros((4, 3, 3), np.uint8))
    with pytest.raises(DataError, match="max_images"):
        load_image_set(str(tmp_path / "a.npz"), max_images=max_images)


def test_an_empty_class_folder_is_refused(tmp_path):
    """A class sub-folder without images would be a class no label names (its index skipped or trailing)."""
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        write_image(tmp_path / "classes" / cls / "0.png", rng.integers(0, 256, (9, 11), dtype=np.uint8))
    (tmp_path / "classes" / "bird").mkdir()
    with pytest.raises(DataError, match=r"class folder\(s\) .*bird of .* hold no images"):
        load_folder_set(tmp_path / "classes")
    (tmp_path / "classes" / "bird").rmdir()
    assert load_folder_set(tmp_path / "classes").class_names == ["cat", "dog"]

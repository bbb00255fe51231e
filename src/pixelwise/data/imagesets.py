"""Unlabelled (or class-labelled) image collections for the latent models.

Every loader returns an :class:`ImageSet`: grey images as float32 ``(N, 1, H, W)`` in [0, 1] and integer
labels ``(N,)`` or ``None``. Sources, chosen by :func:`load_image_set`'s ``source`` argument:

- ``"mnist"`` / ``"mnist-test"``: the official MNIST training / test files (see :mod:`pixelwise.data.mnist`).
- ``"digits"``: scikit-learn's bundled 8x8 digits (1,797 images, offline; needs the ``[latent]`` extra).
- a ``.npz`` file with ``images`` (N, H, W): uint8 (/ 255), uint16 (/ 65535) or floats already in [0, 1]
  (finite), and optional integer ``labels`` (e.g. ``mnist-5k.npz``).
- a folder of image files (read as grey by the rules of :mod:`pixelwise.data.decode`; a sub-folder per class
  gives labels, in sorted order).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixelwise.data.decode import common_depth, convert_depth, to_unit
from pixelwise.data.io import is_image_file, read_image
from pixelwise.data.memory import check_fits
from pixelwise.errors import DataError


@dataclass
class ImageSet:
    images: np.ndarray  # (N, 1, H, W) float32 in [0, 1]
    labels: np.ndarray | None  # (N,) int64, or None when the source has no labels
    name: str
    class_names: list[str] | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # (C, H, W)

    def subset(self, index) -> ImageSet:
        labels = None if self.labels is None else self.labels[index]
        return ImageSet(self.images[index], labels, self.name, self.class_names)


def _from_uint8(images: np.ndarray) -> np.ndarray:
    return (np.asarray(images, np.float32) / 255.0)[:, None]  # (N, 1, H, W)


def load_digits_set() -> ImageSet:
    """scikit-learn's 8x8 digits (values 0..16) scaled to [0, 1]."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("the bundled 8x8 digits come from scikit-learn; install it with "
                        "`pip install pixelwise[latent]` (or use --data mnist or a folder).") from None
    d = load_digits()
    images = (d.images.astype(np.float32) / 16.0)[:, None]  # (1797, 1, 8, 8)
    return ImageSet(images, d.target.astype(np.int64), "digits", [str(i) for i in range(10)])


def load_npz_set(path: str | Path) -> ImageSet:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist; give an .npz file with an 'images' array.")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "images" not in f:
                raise DataError(f"{path} has no 'images' array (it has {', '.join(f.files)}); store images "
                                "as (N, H, W) uint8 under the key 'images'.")
            images = f["images"]
            labels = f["labels"] if "labels" in f else None
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"cannot read {path} ({err}); it is not a valid .npz file (a truncated or damaged copy?): "
                        "write it again with numpy.savez.") from None
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3 or images.shape[0] == 0:
        raise DataError(f"{path}: 'images' has shape {images.shape}; it must be (N, H, W) grey images.")
    if labels is not None:
        if labels.shape != (len(images),) or labels.dtype.kind not in "iu":
            raise DataError(f"{path}: 'labels' has shape {labels.shape} and type {labels.dtype}; give one integer "
                            f"label per image ({len(images)}).")
        labels = labels.astype(np.int64)
    return ImageSet(_unit_images(images, path)[:, None], labels, path.stem)


def _unit_images(images: np.ndarray, path: Path) -> np.ndarray:
    """(N, H, W) -> float32 in [0, 1]: uint8 / 255, uint16 / 65535, floats as they are (finite, in [0, 1])."""
    if images.dtype in (np.uint8, np.uint16):
        return to_unit(images)
    if images.dtype.kind != "f":
        raise DataError(f"{path}: 'images' are {images.dtype}; store uint8 (0..255), uint16 (0..65535) or floats "
                        "in [0, 1].")
    images = images.astype(np.float32)
    if not np.isfinite(images).all():
        raise DataError(f"{path}: 'images' hold NaN or infinite values; replace them before training.")
    if images.min() < 0 or images.max() > 1:
        raise DataError(f"{path}: float images must lie in [0, 1] (they range from {images.min():.4g} to "
                        f"{images.max():.4g}); store uint8 0..255 or rescale them.")
    return images


def load_folder_set(path: str | Path, size: int | None = None) -> ImageSet:
    """Grey images from a folder (or one sub-folder per class, giving labels), resized to ``size`` x ``size``.

    Without ``size`` all images must already share one size.
    """
    from pixelwise.data.folders import resize_image

    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; give a folder of images, 'digits', 'mnist' or an .npz "
                        "file.")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files: list[tuple[Path, int | None]] = [(p, None) for p in sorted(root.iterdir()) if is_image_file(p)]
    if classes and not files:
        files = [(p, k) for k, c in enumerate(classes)
                 for p in sorted((root / c).iterdir()) if is_image_file(p)]
        empty = [c for k, c in enumerate(classes) if not any(label == k for _, label in files)]
        if files and empty:  # a class without an image would be a class the labels never name
            raise DataError(f"class folder(s) {', '.join(str(root / c) for c in empty[:3])} of {root} hold no "
                            "images; add images to them or remove them.")
    if not files:
        raise DataError(f"{root} holds no image files (nor class sub-folders of them); add .png/.jpg images.")
    if size is not None:
        check_fits(2 * len(files) * size * size * 4, f"{len(files)} images at --size {size}", "use a smaller --size.")
    arrays = [read_image(p, "L") for p, _ in files]
    depth = common_depth(a.dtype for a in arrays)
    arrays = [convert_depth(a, depth) for a in arrays]
    if size is None:
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            sizes = sorted(shapes)
            raise DataError(f"{root} has images of {len(shapes)} different sizes (e.g. {sizes[0][0]}x{sizes[0][1]} "
                            f"and {sizes[-1][0]}x{sizes[-1][1]}); resize them all to one with --size N (e.g. --size "
                            "28).")
    else:
        arrays = [resize_image(a[..., None], (size, size))[..., 0] for a in arrays]
    labels = None if files[0][1] is None else np.array([k for _, k in files], np.int64)
    names = classes if labels is not None else None
    return ImageSet(to_unit(np.stack(arrays))[:, None], labels, root.name, names)


NAMED_SOURCES = ("mnist", "mnist-test", "digits")  # what --data may name instead of a path


def load_image_set(source: str, size: int | None = None, cache_dir: str | Path | None = None,
                   download: bool = True, max_images: int | None = None, seed: int = 0) -> ImageSet:
    """Load ``source``: "mnist", "mnist-test", "digits", an .npz file or a folder (see the module doc).

    ``max_images``: keep a random subset of this many images, drawn with ``seed`` and kept in their order (the
    one subset rule of every recipe that reads image sets)."""
    data = _load_source(source, size, cache_dir, download)
    kept = subset_indices(len(data), max_images, seed)
    return data if kept is None else data.subset(kept)


def subset_indices(n: int, max_images: int | None, seed: int) -> np.ndarray | None:
    """The one subset rule: ``max_images`` of ``n`` items drawn with ``seed``, in their order (None: keep all)."""
    if max_images is None:
        return None
    if max_images < 1:
        raise DataError(f"max_images={max_images} must be >= 1 (or unset for every image).")
    return np.sort(np.random.default_rng(seed).permutation(n)[:max_images]) if max_images < n else None


def _load_source(source: str, size: int | None, cache_dir, download: bool) -> ImageSet:
    if source in ("mnist", "mnist-test"):
        from pixelwise.data.mnist import load_mnist

        images, labels = load_mnist("train" if source == "mnist" else "test", cache_dir, download)
        out = ImageSet(_from_uint8(images), labels.astype(np.int64), source, [str(i) for i in range(10)])
    elif source == "digits":
        out = load_digits_set()
    elif source.endswith(".npz"):
        out = load_npz_set(source)
    elif Path(source).is_dir():
        return load_folder_set(source, size)
    else:
        raise DataError(f"data {source!r} is neither 'mnist', 'mnist-test', 'digits', an .npz file nor a "
                        "folder; check the name or path.")
    if size is not None and out.images.shape[-1] != size:
        raise DataError(f"--size {size} applies to folders only; {source} images are "
                        f"{out.images.shape[-2]}x{out.images.shape[-1]}.")
    return out


def split_indices(n: int, fractions: tuple[float, float, float], seed: int) -> dict[str, list[int]]:
    """A seeded random train/val/test split of ``range(n)`` (each non-zero part gets at least one)."""
    from pixelwise.data.splits import random_split

    ids = [f"{i:07d}" for i in range(n)]
    split = random_split(ids, fractions, seed)
    return {k: [int(i) for i in split[k]] for k in ("train", "val", "test")}

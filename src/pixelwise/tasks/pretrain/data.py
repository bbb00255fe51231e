"""Images for pretraining (labels ignored) and for linear probes (labels needed), as uint8 ``(N, S, S, C)``.

Sources: a folder (its ``images/`` sub-folder when it has one, as a segmentation folder does; else its image
files; else one sub-folder per class, sorted, which gives the labels), an ``.npz`` with ``images`` (and
``labels``), ``digits`` or ``mnist`` (:mod:`pixelwise.data.imagesets`). Every image is resized to S x S
(antialiased bilinear, the segmentation recipe's rule); grey sources are repeated into three channels for an RGB
encoder, colour files read as grey (BT.601) for a grey one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixelwise.data.decode import common_depth, convert_depth, depth_of
from pixelwise.data.folders import resize_image
from pixelwise.data.imagesets import load_image_set, subset_indices
from pixelwise.data.io import is_image_file, read_image
from pixelwise.errors import DataError


@dataclass
class Images:
    images: np.ndarray  # (N, S, S, C) uint8, or uint16 / float32 for deeper files (data.decode's rule)
    labels: np.ndarray | None  # (N,) int64, or None
    ids: list[str]  # one name per image (file stems, or positions in an array source)
    source: str  # a readable name of where they came from
    class_names: list[str] | None = None


def read_images(source: str, size: int, channels: int, max_images: int | None = None, seed: int = 0,
                progress: bool = False) -> Images:
    """The images of ``source`` at ``size`` x ``size`` with ``channels`` channels (see the module docstring);
    ``max_images``: a random subset drawn with ``seed`` (the image sets' one subset rule)."""
    if not source:
        raise DataError("data (--data) is not given; name a folder of images, an .npz file, digits or mnist.")
    path = Path(source)
    if source not in ("digits", "mnist") and path.is_dir():
        return _read_folder(path, size, channels, max_images, seed, progress)
    if path.exists() and not path.is_dir() and path.suffix.lower() != ".npz":
        raise DataError(f"{path} is a file, not a folder of images; give a folder, an .npz file, digits or mnist.")
    data = load_image_set(source, max_images=max_images, seed=seed)  # (N, 1, H, W) float in [0, 1]
    grey = np.rint(data.images[:, 0] * 255).astype(np.uint8)  # (N, H, W)
    images = np.stack([resize_image(im[..., None], (size, size)) for im in grey])  # (N, S, S, 1)
    images = np.repeat(images, channels, axis=-1) if channels == 3 else images
    ids = [f"{i:05d}" for i in range(len(images))]
    return Images(np.ascontiguousarray(images), data.labels, ids, data.name, data.class_names)


def _files(root: Path) -> tuple[list[Path], list[int] | None, list[str] | None]:
    """The image files of a folder: images/ if present, else its own files, else its class sub-folders'."""
    if (root / "images").is_dir():
        root = root / "images"
    files = sorted(p for p in root.iterdir() if is_image_file(p))
    if files:
        return files, None, None
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    pairs = [(p, k) for k, c in enumerate(classes) for p in sorted((root / c).iterdir()) if is_image_file(p)]
    if not pairs:
        raise DataError(f"{root} holds no image files (nor an images/ folder or class sub-folders of them); add "
                        ".png/.jpg images.")
    return [p for p, _ in pairs], [k for _, k in pairs], classes


def _read_folder(root: Path, size: int, channels: int, max_images: int | None, seed: int,
                 progress: bool) -> Images:
    from tqdm.auto import tqdm

    files, labels, classes = _files(root)
    kept = subset_indices(len(files), max_images, seed)
    if kept is not None:
        files = [files[i] for i in kept]
        labels = [labels[i] for i in kept] if labels is not None else None
    mode = "RGB" if channels == 3 else "L"
    dtype = common_depth(depth_of(p) for p in files)  # every file kept at its depth: 16-bit ones never clipped

    def read(p: Path) -> np.ndarray:
        im = read_image(p, mode)
        return convert_depth(resize_image(im if im.ndim == 3 else im[..., None], (size, size)), dtype)

    images = np.empty((len(files), size, size, channels), dtype)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for k, im in enumerate(tqdm(pool.map(read, files), total=len(files), desc="decoding", disable=not progress,
                                    leave=False)):
            images[k] = im
    ids = [str(p.relative_to(root)) if labels is not None else p.stem for p in files]
    return Images(images, None if labels is None else np.array(labels, np.int64), ids, str(root.resolve()), classes)

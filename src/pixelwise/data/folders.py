"""Folders of images paired with masks: ``root/images/<stem>.<ext>`` and ``root/masks/<stem>.<ext>``.

Everything about the folder is checked when it is opened (pairs, sizes from the file headers), and every
file is fully decoded by :meth:`ImageMaskFolder.load` before a task writes anything, so that bad data
fails early with one sentence naming the files and nothing half-written is left behind.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from pixelwise.data.decode import common_depth, convert_depth, decode_image, depth_of, image_size, to_unit
from pixelwise.data.io import IMAGE_EXTENSIONS, is_image_file
from pixelwise.data.masks import decode_mask
from pixelwise.errors import DataError


def _short_list(items: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _files_by_stem(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    clashes = []
    for path in sorted(folder.iterdir()):
        if not is_image_file(path):
            continue
        if path.stem in found:
            clashes.append(f"{found[path.stem].name} / {path.name}")
        found[path.stem] = path
    if clashes:
        raise DataError(
            f"{folder} has several files with the same stem ({_short_list(clashes)}); keep one file per stem."
        )
    return found


def unique_stems(paths: Sequence[Path]) -> list[Path]:
    """``paths`` unchanged, or one sentence naming two inputs whose outputs would share ``<stem>.png``."""
    seen: dict[str, Path] = {}
    for p in paths:
        if p.stem in seen and seen[p.stem] != p:
            raise DataError(f"{seen[p.stem]} and {p} would both be written as {p.stem}.png; rename one, or "
                            "process them in two calls with different --out folders.")
        seen[p.stem] = p
    return list(paths)


def refuse_writing_over_inputs(paths: Sequence[Path], out: str | Path, what: str = "results") -> None:
    """One sentence if a result ``out/<stem>.png`` would replace one of the input files ``paths`` (``--out`` the
    inputs' own folder, with PNG inputs): the input would be lost, so nothing is written."""
    for p in paths:
        if (Path(out) / f"{p.stem}.png").resolve() == Path(p).resolve():
            raise DataError(f"--out {out} would write {what} over the input {p}; choose another --out (e.g. "
                            f"{Path(out) / what}).")


def list_images(paths: Sequence[str | Path]) -> list[Path]:
    """Expand files and folders into a sorted list of image files (a folder contributes its images)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if is_image_file(q))
            if not found:
                raise DataError(f"{p} holds no image files ({', '.join(IMAGE_EXTENSIONS)}); "
                                f"point to a folder of images.")
            out.extend(found)
        elif is_image_file(p):
            out.append(p)
        elif p.exists():
            raise DataError(f"{p} is not an image file ({', '.join(IMAGE_EXTENSIONS)}); "
                            f"pass images or folders of them.")
        else:
            raise DataError(f"{p} does not exist; check the path.")
    return out


@dataclass(frozen=True)
class Pair:
    stem: str
    image: Path
    mask: Path
    height: int
    width: int
    depth: np.dtype = np.dtype(np.uint8)  # what the image decodes to (pixelwise.data.decode)


class ImageMaskFolder(Dataset):
    """Pairs of images and masks with the same stem; extensions may differ (jpg, png, bmp, tif).

    Files are decoded by the rules of :mod:`pixelwise.data.decode` (bit depth, orientation) and
    :mod:`pixelwise.data.masks` (0/1, palette, grey and label masks).

    A torch ``Dataset``: ``folder[i]`` is case i as tensors, the image (C, H, W) float32 in [0, 1] and the mask
    (H, W) int64 labels, resized to ``size`` when given (images bilinear, masks as in :func:`resize_mask`), so
    that a ``DataLoader`` can batch them. :meth:`read` gives the case at its own size as uint8 arrays.

    Args:
        root: folder holding ``images/`` and ``masks/``.
        num_classes: ``None`` for binary masks (0/1 exports, palette 0/1, or grey thresholded at
            ``> threshold``); an integer K >= 2 for label masks holding integers 0..K-1 (read as stored, palette
            indices for "P" PNGs). A mask with a label >= K is an error naming the file, except ``ignore_index``.
        threshold: grey level above which a binary mask pixel is foreground (default 127).
        channels: 3 reads images as RGB, 1 as grey.
        size: (H, W) of the tensors ``folder[i]`` returns (default: each case's own size).
        ignore_index: with ``num_classes``, a label (e.g. 255) that marks pixels to leave out of losses and metrics.
    """

    def __init__(self, root: str | Path, num_classes: int | None = None, threshold: int = 127, channels: int = 3,
                 size: tuple[int, int] | None = None, ignore_index: int | None = None):
        self.root = Path(root)
        if size is not None and (len(size) != 2 or min(size) < 1):
            raise DataError(f"size={size} must be (H, W) with both >= 1, e.g. (256, 256).")
        self.size = None if size is None else (int(size[0]), int(size[1]))
        if num_classes is not None and num_classes < 2:
            raise DataError(f"num_classes={num_classes} is not a multi-class setting; "
                            f"use None for binary masks or K >= 2.")
        if channels not in (1, 3):
            raise DataError(f"channels={channels} is not supported; use 3 (RGB) or 1 (grey).")
        if not 0 <= threshold < 255:
            raise DataError(f"threshold={threshold} must lie in 0..254 so that 255 counts as foreground.")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.threshold = threshold
        self.channels = channels
        self.pairs = self._scan()

    # -- scanning and validation -------------------------------------------------------------
    def _scan(self) -> list[Pair]:
        if not self.root.is_dir():
            what = "is a file, not a folder" if self.root.exists() else "does not exist"
            raise DataError(f"data folder {self.root} {what}; pass a folder with images/ and masks/ inside.")
        img_dir, mask_dir = self.root / "images", self.root / "masks"
        for d in (img_dir, mask_dir):
            if not d.is_dir():
                raise DataError(f"{self.root} has no {d.name}/ folder; "
                                f"put images in {img_dir} and masks in {mask_dir}.")
        images, masks = _files_by_stem(img_dir), _files_by_stem(mask_dir)
        if not images:
            raise DataError(f"{img_dir} holds no image files ({', '.join(IMAGE_EXTENSIONS)}); add images.")
        no_mask = sorted(set(images) - set(masks))
        if no_mask:
            raise DataError(
                f"{len(no_mask)} image(s) in {img_dir} have no mask in {mask_dir}: {_short_list(no_mask)}; "
                "add the masks (same stem) or remove the images."
            )
        no_image = sorted(set(masks) - set(images))
        if no_image:
            raise DataError(
                f"{len(no_image)} mask(s) in {mask_dir} have no image in {img_dir}: {_short_list(no_image)}; "
                "add the images (same stem) or remove the masks."
            )
        pairs, mismatched = [], []
        for stem in sorted(images):
            hi, wi = image_size(images[stem])
            hm, wm = image_size(masks[stem])
            if (hi, wi) != (hm, wm):
                mismatched.append(f"image {images[stem].name} is {wi}x{hi} but mask {masks[stem].name} is {wm}x{hm}")
            pairs.append(Pair(stem, images[stem], masks[stem], hi, wi, depth_of(images[stem])))
        if mismatched:
            raise DataError(
                f"image and mask sizes differ in {self.root}: {_short_list(mismatched, 4)}; "
                "each mask must have its image's size."
            )
        return pairs

    # -- access --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def stems(self) -> list[str]:
        return [p.stem for p in self.pairs]

    def index(self, stems: Sequence[str]) -> list[int]:
        lookup = {p.stem: i for i, p in enumerate(self.pairs)}
        missing = [s for s in stems if s not in lookup]
        if missing:
            raise DataError(f"ids not found in {self.root}: {_short_list(missing)}; "
                            f"check the id list against the folder.")
        return [lookup[s] for s in stems]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Case i: image (C, H, W) float32 in [0, 1] and mask (H, W) int64, at ``size`` if the folder has one."""
        image, mask = self._read_resized(i, self.size) if self.size is not None else self.read(i)
        x = torch.from_numpy(to_unit(image)).permute(2, 0, 1).contiguous()  # (C, H, W)
        return x, torch.from_numpy(np.array(mask)).long()

    def read(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Case i at its original size: image (H, W, C) at its file's depth (uint8, uint16 or float32 in [0, 1];
        :func:`~pixelwise.data.decode.to_unit` maps it to [0, 1]) and mask (H, W) uint8 labels."""
        pair = self.pairs[i]
        image = decode_image(pair.image, self.channels)
        mask = decode_mask(pair.mask, self.num_classes, self.threshold, self.ignore_index)
        if mask.shape != image.shape[:2]:  # the headers agreed; EXIF orientation of one file did not
            raise DataError(f"{pair.image.name} reads as {image.shape[1]}x{image.shape[0]} but {pair.mask.name} as "
                            f"{mask.shape[1]}x{mask.shape[0]}; each mask must have its image's size as displayed.")
        return image, mask

    @property
    def depth(self) -> np.dtype:
        """The dtype that holds every image of the folder (uint8, uint16 or float32)."""
        return common_depth(p.depth for p in self.pairs)

    def _read_resized(self, i: int, size: tuple[int, int], depth=None) -> tuple[np.ndarray, np.ndarray]:
        image, mask = self.read(i)
        image = resize_image(image, size)
        return (convert_depth(image, depth) if depth is not None else image), resize_mask(
            mask, size, binary=self.num_classes is None)

    def load(self, indices: Sequence[int] | None = None, size: tuple[int, int] | None = None,
             progress: bool = True, workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Decode the cases once into memory (uint8), resized to ``size`` = (H, W).

        Returns images (N, H, W, C) at the common depth of the cases (uint8 when every image is 8-bit; see
        :attr:`depth`) and masks (N, H, W). Decoding runs in a thread pool (Pillow releases the GIL) with a
        progress bar; the arrays are the cache that training reads every epoch.
        """
        from tqdm.auto import tqdm

        indices = list(range(len(self))) if indices is None else list(indices)
        if size is None:
            sizes = {(self.pairs[i].height, self.pairs[i].width) for i in indices}
            if len(sizes) != 1:
                raise DataError(f"{self.root} has {len(sizes)} different image sizes; pass size=(H, W) to resize them.")
            size = sizes.pop()
        n = len(indices)
        depth = common_depth(self.pairs[i].depth for i in indices)
        images = np.empty((n, size[0], size[1], self.channels), dtype=depth)
        masks = np.empty((n, size[0], size[1]), dtype=np.uint8)
        workers = workers or min(8, os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = pool.map(lambda i: self._read_resized(i, size, depth), indices)
            for k, (img, msk) in enumerate(tqdm(results, total=n, desc="decoding", disable=not progress, leave=False)):
                images[k], masks[k] = img, msk
        return images, masks


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, C) -> (size[0], size[1], C) of the same dtype with antialiased bilinear resampling (8-bit images in
    8-bit arithmetic; 16-bit and float ones in 32-bit floats, rounded back for 16-bit)."""
    if image.shape[:2] == tuple(size):
        return image
    if image.dtype == np.uint8:
        chans = [np.asarray(Image.fromarray(image[..., c]).resize((size[1], size[0]), Image.BILINEAR))
                 for c in range(image.shape[2])]
        return np.stack(chans, axis=-1)
    chans = [np.asarray(Image.fromarray(image[..., c].astype(np.float32)).resize((size[1], size[0]), Image.BILINEAR))
             for c in range(image.shape[2])]
    out = np.stack(chans, axis=-1)
    return np.clip(np.rint(out), 0, 65535).astype(np.uint16) if image.dtype == np.uint16 else out.astype(image.dtype)


def resize_mask(mask: np.ndarray, size: tuple[int, int], binary: bool = True) -> np.ndarray:
    """Resize a label mask: binary masks by bilinear then > 0.5 (smooth edges), labels by nearest."""
    if mask.shape == tuple(size):
        return mask
    if binary:
        grey = Image.fromarray((mask * 255).astype(np.uint8)).resize((size[1], size[0]), Image.BILINEAR)
        return (np.asarray(grey) > 127).astype(np.uint8)
    return np.asarray(Image.fromarray(mask).resize((size[1], size[0]), Image.NEAREST))

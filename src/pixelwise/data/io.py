"""Reading and writing image files with errors that name the file.

Images are returned as ``uint8`` numpy arrays: ``(H, W, 3)`` for RGB, ``(H, W)`` for grey.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from pixelwise.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) from the file header only (no decoding)."""
    try:
        with Image.open(path) as im:
            w, h = im.size
    except (UnidentifiedImageError, OSError) as err:
        raise DataError(f"cannot read image {path}: {err}; replace or remove the file.") from None
    return h, w


def read_image(path: str | Path, mode: str = "RGB") -> np.ndarray:
    """Decode an image file fully into a uint8 array.

    mode: "RGB" -> (H, W, 3), "L" -> (H, W) grey, "labels" -> (H, W) integer labels as stored (palette
    indices for "P" images, grey values otherwise; no colour conversion).
    """
    try:
        with Image.open(path) as im:
            im.load()  # decode everything now so truncated files fail here
            if mode == "labels":
                if im.mode in ("P", "L", "I", "I;16"):
                    arr = np.asarray(im)
                else:
                    arr = np.asarray(im.convert("L"))
            else:
                arr = np.asarray(im.convert(mode))
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise DataError(f"cannot read image {path} ({err}); replace or remove the file.") from None
    if mode == "labels":
        if arr.dtype.kind == "f" or arr.min() < 0:
            raise DataError(f"label mask {path} does not hold non-negative integers; save labels as 8-bit PNG.")
        return arr.astype(np.int64)
    return np.ascontiguousarray(arr, dtype=np.uint8)


def write_image(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 (H, W) or (H, W, 3) array atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.asarray(array)
    if arr.dtype != np.uint8:
        raise ValueError(f"write_image expects uint8, got {arr.dtype}; convert with (x * 255).round().astype('uint8').")
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=path.suffix)
    os.close(fd)
    try:
        Image.fromarray(arr).save(tmp, format=_pil_format(path))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _pil_format(path: Path) -> str:
    return {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}.get(
        path.suffix.lower(), "PNG"
    )

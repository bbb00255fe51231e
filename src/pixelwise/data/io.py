"""Reading and writing image files with errors that name the file (the decoding rules themselves live in
:mod:`pixelwise.data.decode` and :mod:`pixelwise.data.masks`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from pixelwise.data.decode import decode_image, image_size  # noqa: F401 (image_size: re-exported)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def read_image(path: str | Path, mode: str = "RGB") -> np.ndarray:
    """Decode an image file by the rules of :mod:`pixelwise.data.decode`: ``mode`` "RGB" -> (H, W, 3), "L" ->
    (H, W) grey, at the file's own depth (uint8, uint16 for 16-bit files, float32 in [0, 1] for float files;
    :func:`~pixelwise.data.decode.to_unit` maps any of them to [0, 1])."""
    if mode not in ("RGB", "L"):
        raise ValueError(f"mode={mode!r} must be 'RGB' or 'L' (masks: pixelwise.data.masks.decode_mask).")
    arr = decode_image(path, 3 if mode == "RGB" else 1)
    return arr if mode == "RGB" else arr[..., 0]


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

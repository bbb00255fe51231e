"""Reading and writing image files with errors that name the file (the decoding rules themselves live in
:mod:`pixelwise.data.decode` and :mod:`pixelwise.data.masks`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from pixelwise.data.decode import decode_image, depth_of, image_size  # noqa: F401 (image_size: re-exported)

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


DEEP_SUFFIXES = (".png", ".tif", ".tiff")  # the formats that hold 16-bit grey


def write_image(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 (H, W) or (H, W, 3) array, or a uint16 (H, W) grey one (PNG or TIFF), atomically (temporary
    file, then rename)."""
    path = Path(path)
    arr = np.asarray(array)
    if arr.dtype == np.uint16:
        if arr.ndim != 2 or path.suffix.lower() not in DEEP_SUFFIXES:
            raise ValueError(f"write_image writes 16 bits as a grey (H, W) PNG or TIFF, not {arr.shape} to "
                             f"{path.name}; write colour as uint8.")
    elif arr.dtype != np.uint8:
        raise ValueError(f"write_image expects uint8 or uint16, got {arr.dtype}; convert with "
                         "(x * 255).round().astype('uint8').")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=path.suffix)
    os.close(fd)
    try:
        Image.fromarray(arr).save(tmp, format=_pil_format(path))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def depth_to_write(source: str | Path | None, channels: int) -> np.dtype:
    """The depth a result made from the image file ``source`` is written at: 16 bits when it is grey
    (``channels`` 1) and its source is deeper than 8 bits (16-bit or float), so that restoring a 16-bit scan keeps
    its depth; 8 bits otherwise (no source file: a bundled sample; colour: Pillow writes 8 bits per channel)."""
    if channels != 1 or source is None or not Path(source).is_file():
        return np.dtype(np.uint8)
    return np.dtype(np.uint8) if depth_of(source) == np.uint8 else np.dtype(np.uint16)


def _pil_format(path: Path) -> str:
    return {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}.get(
        path.suffix.lower(), "PNG"
    )

"""How a mask file becomes labels: the rules for binary masks and for label masks (the README states them too).

Binary masks (no ``num_classes``): the foreground.

- A palette (indexed) file holding only indices 0 and 1: index 1 is the foreground. A palette file with other
  indices is a label mask: refused, naming ``--num-classes``.
- A bilevel file: its set pixels.
- A lossless integer file (PNG, BMP, TIFF) holding only the values 0 and 1 (the common "0/1 export"): 1.
- Otherwise the mask is read as grey on the 8-bit scale (16-bit values * 255 / 65535; colour by ITU-R 601 luma)
  and the foreground is grey > ``threshold`` (127 by default: JPEG masks are not exactly 0/255). A mask that is
  not empty but has no pixel above the threshold (e.g. values 0 and 100, or a dark red colour mask) is refused,
  naming ``--threshold`` and ``--num-classes``: it would otherwise read as empty.

Label masks (``num_classes`` K >= 2): integer labels 0..K-1 as stored: palette indices, grey values, 16-bit
values; a colour file only if its three channels are equal. JPEG files (whose compression changes values at every
edge), float files and colour-coded masks are refused; so is a label >= K.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pixelwise.data.decode import LOSSY_SUFFIXES, SIXTEEN_BIT_MODES, _deep_array, open_image
from pixelwise.errors import DataError


def decode_mask(path: str | Path, num_classes: int | None = None, threshold: int = 127,
                ignore_index: int | None = None) -> np.ndarray:
    """``(H, W)`` uint8: 0/1 for a binary mask, labels 0..K-1 with ``num_classes`` K (see the module doc); with
    ``ignore_index`` (label masks only) that label is kept as it is, to be left out of losses and metrics."""
    im = open_image(path)
    if num_classes is None:
        return _binary(im, Path(path), threshold)
    return _labels(im, Path(path), num_classes, ignore_index)


def _shown(values: np.ndarray, limit: int = 6) -> str:
    shown = ", ".join(str(int(v)) for v in values[:limit])
    return "{" + shown + (", ..." if len(values) > limit else "") + "}"


def _binary(im: Image.Image, path: Path, threshold: int) -> np.ndarray:
    lossless = path.suffix.lower() not in LOSSY_SUFFIXES
    if im.mode == "P":
        idx = np.asarray(im)
        values = np.unique(idx)
        if set(values.tolist()) <= {0, 1}:
            return idx.astype(np.uint8)
        raise DataError(f"mask {path} is a palette (indexed) image holding the labels {_shown(values)}, not a binary "
                        f"mask; give --num-classes K (K > {int(values.max())}) to read its labels, or save the mask "
                        "as black and white.")
    if im.mode == "1":
        return np.asarray(im).astype(np.uint8)
    raw, scale = _grey_values(im, path)
    if lossless and raw.dtype.kind in "ui" and raw.size and raw.max() <= 1:
        return raw.astype(np.uint8)  # a 0/1 label export (or an empty mask)
    grey = raw.astype(np.float64) * (255.0 / scale)
    top = float(grey.max()) if grey.size else 0.0
    if 0 < top <= threshold:
        values = np.unique(raw)
        raise DataError(f"mask {path} is not empty but has no pixel above --threshold {threshold} (its values are "
                        f"{_shown(values)}); for a label mask give --num-classes K, for a faint binary mask a "
                        f"--threshold below {int(top)}.")
    return (grey > threshold).astype(np.uint8)


def _grey_values(im: Image.Image, path: Path) -> tuple[np.ndarray, float]:
    """The mask's grey values and their full scale (255, 65535, or 1 for a float file)."""
    if im.mode in (*SIXTEEN_BIT_MODES, "I"):
        return _deep_array(im, path), 65535.0
    if im.mode == "F":
        return _deep_array(im, path), 1.0
    return np.asarray(im.convert("L") if im.mode != "L" else im), 255.0


def _labels(im: Image.Image, path: Path, num_classes: int, ignore_index: int | None = None) -> np.ndarray:
    if path.suffix.lower() in LOSSY_SUFFIXES:
        raise DataError(f"label mask {path} is a JPEG, whose compression changes label values at every edge; save "
                        "label masks as PNG (or read binary masks without --num-classes).")
    if im.mode in ("P", "L", "1"):
        labels = np.asarray(im).astype(np.int64)
    elif im.mode in (*SIXTEEN_BIT_MODES, "I"):
        labels = _deep_array(im, path).astype(np.int64)
    elif im.mode in ("RGB", "RGBA", "LA"):
        labels = _same_channels(im, path)
    else:
        raise DataError(f"label mask {path} is a {im.mode} image; label masks hold integers: save it as an 8-bit "
                        "grey or palette PNG.")
    counted = labels if ignore_index is None else labels[labels != ignore_index]
    top = int(counted.max()) if counted.size else 0
    if top >= num_classes:
        hint = ("; it looks like a binary 0/255 mask: leave out --num-classes" if set(np.unique(labels).tolist())
                <= {0, 255} else ", or name the label with --ignore-index")
        raise DataError(f"mask {path} holds label {top} but num_classes={num_classes}; raise --num-classes or fix the "
                        f"mask{hint}.")
    return labels.astype(np.uint8)


def _same_channels(im: Image.Image, path: Path) -> np.ndarray:
    arr = np.asarray(im.convert("RGB"))
    if not (np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2])):
        raise DataError(f"label mask {path} is a colour (RGB) image with different colours; label masks are "
                        "single-channel integer or palette images: convert its colours to labels 0..K-1 first.")
    return arr[..., 0].astype(np.int64)

"""How a file becomes an array: the one set of decoding rules every recipe uses (the README's "What pixelwise
accepts" states the same rules).

Images (:func:`decode_image`):

- 8-bit files (grey, RGB, palette, bilevel, CMYK, CIE L*a*b*): 8-bit values, read as they are; colour is
  converted with Pillow (palette -> its colours, RGBA -> the colour channels without alpha, CMYK and L*a*b* -> RGB;
  RGB -> grey by the ITU-R 601 luma L = 0.299 R + 0.587 G + 0.114 B).
- 16-bit integer files (PNG, TIFF): 16-bit values, kept at their depth; in [0, 1] they are value / 65535 (the
  type's maximum; a 12-bit camera image stored in 16 bits is therefore dark, not clipped). 32-bit integer files
  are read the same way when every value fits in 16 bits, and refused otherwise.
- Float files (TIFF): values must already lie in [0, 1] (the stated convention); anything else (NaN, infinity,
  a value outside [0, 1]) is refused with the fix.
- Colour (or grey with alpha) stored at 16 bits per channel (48- and 64-bit PNG and TIFF) is refused with the fix:
  Pillow decodes such files to 8 bits per channel, dropping the low byte without a word, and pixelwise reads
  what it decodes at its depth or not at all. So are TIFF and PNG files of several pages (Pillow reads the first)
  and TIFF files with extra channels that are not alpha (Pillow reads the grey or colour ones).
- EXIF orientation is applied: every file is read as it is displayed, the way an annotation tool shows it.
- A header that claims more pixels than Pillow's decompression-bomb limit (about 89 million) is refused.

:func:`to_unit` maps any decoded array to float32 in [0, 1] by its dtype (uint8 / 255, uint16 / 65535, float as
is).

Masks (:func:`decode_mask`): binary masks (no number of classes) and label masks (K classes) by the rules in the
function's docstring; what no rule can read is refused in one sentence naming ``--threshold`` or
``--num-classes``.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pixelwise.errors import DataError

SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
LOSSY_SUFFIXES = (".jpg", ".jpeg")
SCALES = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0, np.dtype(np.float32): 1.0}
_FAILURES = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError, EOFError)


def _bomb(path, err) -> DataError:
    return DataError(f"image {path} claims more pixels than pixelwise decodes ({err}); it is damaged or not an "
                     "image for this tool: replace it, or tile it into smaller files.")


def open_image(path: str | Path) -> Image.Image:
    """The fully decoded image as displayed (EXIF orientation applied); one sentence for anything unreadable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # within 2x of the limit: refuse too
            with Image.open(path) as im:
                _refuse_what_pillow_drops(im, path)
                im.load()  # decode everything now, so that a truncated file fails here
                oriented = ImageOps.exif_transpose(im)
                return oriented if oriented is not im else im.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise _bomb(path, err) from None
    except DataError:
        raise
    except _FAILURES as err:
        raise DataError(f"cannot read image {path} ({err}); replace or remove the file.") from None


ORIENTATION_TAG = 0x0112  # EXIF orientation; values 5 to 8 turn the picture by a quarter
# Pillow's raw modes of 16 bits per channel (big-, little- or native-endian: "RGB;16B", "RGBA;16L", "LA;16B",
# "CMYK;16N"), which it unpacks to 8 bits unless the mode itself is 16-bit; "BGR;16" (packed 5-6-5) is not one
DEEP_CHANNELS = re.compile(r";16[BLN]$")
SAMPLES_PER_PIXEL_TAG, EXTRA_SAMPLES_TAG = 277, 338  # TIFF 6.0; an extra sample of kind 0 is data, not alpha
UNSPECIFIED_SAMPLE = 0


def _raw_mode(im: Image.Image) -> str:
    """The raw mode of the first tile Pillow would decode ('' once decoded, or if it has none)."""
    if not im.tile:
        return ""
    args = im.tile[0][3]
    first = args if isinstance(args, str) else (args[0] if isinstance(args, tuple) and args else "")
    return first if isinstance(first, str) else ""


def _refuse_what_pillow_drops(im: Image.Image, path) -> None:
    """One sentence, before decoding, for a file of which Pillow would return less than it holds without a word:
    colour at 16 bits per channel (it keeps 8), a TIFF or PNG of several pages (it reads the first), a TIFF with
    extra channels that are not alpha (it reads the grey or colour ones)."""
    raw = _raw_mode(im)
    if im.mode not in (*SIXTEEN_BIT_MODES, "I", "F") and DEEP_CHANNELS.search(raw):
        channels = raw.split(";")[0]
        raise DataError(f"image {path} stores {channels} at 16 bits per channel, which pixelwise cannot read at its "
                        f"depth (its decoder, Pillow, keeps 8 bits of each); save it at 8 bits per channel (e.g. "
                        f"`magick {Path(path).name} -depth 8 out.png`), or as a 16-bit grey image if one channel "
                        "carries the data.")
    pages = getattr(im, "n_frames", 1) if im.format in ("TIFF", "PNG") else 1  # a JPEG's extra pictures (MPO) aside
    if pages > 1:
        raise DataError(f"image {path} holds {pages} pages (a stack, a time series or an animation), and pixelwise "
                        "reads one 2-D image per file; save each page as its own file (e.g. "
                        f"`magick {Path(path).name} page-%d.png`).")
    if im.format == "TIFF":
        extra = im.tag_v2.get(EXTRA_SAMPLES_TAG, ())
        extra = extra if isinstance(extra, tuple) else (extra,)
        if UNSPECIFIED_SAMPLE in extra:
            total = im.tag_v2.get(SAMPLES_PER_PIXEL_TAG, 1)
            raise DataError(f"image {path} holds {total} channels per pixel, {extra.count(UNSPECIFIED_SAMPLE)} of "
                            "them neither grey, colour nor alpha, which pixelwise would drop; save the channels you "
                            "need as grey images of their own (or three of them as an RGB image).")


def _header(path: str | Path) -> tuple[str, int, int, int]:
    """(mode, width, height, EXIF orientation) from the file header only (no decoding)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                _refuse_what_pillow_drops(im, path)
                return im.mode, im.size[0], im.size[1], im.getexif().get(ORIENTATION_TAG, 1)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise _bomb(path, err) from None
    except DataError:
        raise
    except _FAILURES as err:
        raise DataError(f"cannot read image {path} ({err}); replace or remove the file.") from None


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) as displayed, from the file header only (no decoding)."""
    _, w, h, orientation = _header(path)
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def _deep_array(im: Image.Image, path) -> np.ndarray:
    """(H, W) of a 16-bit, 32-bit integer or float file, by the rules of the module docstring."""
    if im.mode in SIXTEEN_BIT_MODES:
        return np.asarray(im).astype(np.uint16)
    arr = np.asarray(im)
    if im.mode == "I":
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise DataError(f"image {path} holds integers from {arr.min()} to {arr.max()}, beyond 16 bits (0 to "
                            "65535); shift and scale them into that range and save as 16-bit (CT in Hounsfield "
                            "units: add 1024), or save a float TIFF scaled to [0, 1].")
        return arr.astype(np.uint16)
    arr = arr.astype(np.float32)  # mode "F"
    if not np.isfinite(arr).all():
        raise DataError(f"image {path} holds NaN or infinite values; replace them (e.g. by 0) before using it.")
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise DataError(f"float image {path} has values from {arr.min():.4g} to {arr.max():.4g}; float images must "
                        "lie in [0, 1]: rescale it, or save it as 8- or 16-bit integers.")
    return arr


def decode_image(path: str | Path, channels: int = 3) -> np.ndarray:
    """``(H, W, channels)`` at the file's own depth: uint8, uint16 (16-bit files) or float32 in [0, 1] (float
    files); ``channels`` 3 (RGB; a grey file repeated) or 1 (grey; colour by ITU-R 601 luma)."""
    if channels not in (1, 3):
        raise ValueError(f"channels={channels} must be 1 or 3.")
    im = open_image(path)
    if im.mode in (*SIXTEEN_BIT_MODES, "I", "F"):
        grey = _deep_array(im, path)[..., None]  # (H, W, 1)
        return np.repeat(grey, 3, axis=-1) if channels == 3 else grey
    target = "RGB" if channels == 3 else "L"
    try:  # CIE L*a*b* has no direct way to grey in Pillow: through RGB, like every colour file
        converted = im.convert("RGB").convert(target) if im.mode == "LAB" else im.convert(target)
    except ValueError as err:
        raise DataError(f"image {path} is in Pillow's {im.mode} mode, which pixelwise cannot convert to "
                        f"{'colour' if channels == 3 else 'grey'} ({err}); save it as 8-bit grey or RGB.") from None
    arr = np.asarray(converted, dtype=np.uint8)
    return arr if arr.ndim == 3 else arr[..., None]


def native_channels(path: str | Path) -> int:
    """1 for a grey (or bilevel, or 16-bit, or float) file, 3 for a colour one (from the header)."""
    return 1 if _header(path)[0] in ("1", "L", "LA", "I", "F", *SIXTEEN_BIT_MODES) else 3


def depth_of(path: str | Path) -> np.dtype:
    """The dtype :func:`decode_image` returns for this file (from the header)."""
    mode = _header(path)[0]
    if mode == "F":
        return np.dtype(np.float32)
    return np.dtype(np.uint16) if mode in (*SIXTEEN_BIT_MODES, "I") else np.dtype(np.uint8)


def common_depth(dtypes) -> np.dtype:
    """The dtype that holds every one of ``dtypes`` without loss (uint8 < uint16 < float32)."""
    order = [np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32)]
    return max((np.dtype(d) for d in dtypes), key=order.index, default=order[0])


def convert_depth(arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``arr`` at the (deeper) ``dtype``, the same values in [0, 1] (uint8 -> uint16 multiplies by 257)."""
    dtype = np.dtype(dtype)
    if arr.dtype == dtype:
        return arr
    if dtype == np.float32:
        return to_unit(arr)
    if dtype == np.uint16 and arr.dtype == np.uint8:
        return arr.astype(np.uint16) * 257
    raise ValueError(f"cannot hold {arr.dtype} values as {dtype} without loss.")


def unit_scale(dtype) -> float:
    """What a value of ``dtype`` is divided by to lie in [0, 1]."""
    try:
        return SCALES[np.dtype(dtype)]
    except KeyError:
        raise ValueError(f"no decoding rule for arrays of {np.dtype(dtype)}") from None


def to_unit(arr: np.ndarray) -> np.ndarray:
    """A decoded array as a new float32 array in [0, 1] (uint8 / 255, uint16 / 65535, float32 as is), made with
    one allocation (a large image is not held twice)."""
    scale = unit_scale(arr.dtype)
    out = np.array(arr, dtype=np.float32, copy=True)
    if scale != 1:
        out /= np.float32(scale)
    return out

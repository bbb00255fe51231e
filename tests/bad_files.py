"""A corpus of real-world and broken input files, generated on the fly, with what pixelwise must do with each:
read it by a stated rule (and the expected values), or refuse it in one sentence naming the file or value (exit 2
from the command line, nothing written).

Extend it by adding a function with the ``@decoding`` or ``@command`` decorator:

- ``@decoding(name)``: ``fn(folder) -> (call, expected)``; ``call()`` decodes a file; ``expected`` is a numpy
  array (the exact values it must return), a callable that checks what it returns, or ``Refused("words")``.
- ``@command(name)``: ``fn(folder, run) -> (argv, expected)``; ``argv`` runs ``pixelwise``; ``expected`` is
  ``Refused("words")`` (exit 2, one line holding the words, nothing new written under ``folder``) or a callable
  given the folder that checks what a successful run wrote. ``run`` is a small trained segmentation run (a fixture)
  for the cases that damage a run folder.
"""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pixelwise.data.decode import decode_image, image_size
from pixelwise.data.folders import ImageMaskFolder
from pixelwise.data.masks import decode_mask

DECODING: dict[str, Callable] = {}
COMMANDS: dict[str, Callable] = {}


@dataclass(frozen=True)
class Refused:
    words: str


def decoding(name: str):
    def register(fn):
        DECODING[name] = fn
        return fn
    return register


def command(name: str):
    def register(fn):
        COMMANDS[name] = fn
        return fn
    return register


# --- writers --------------------------------------------------------------------------------------------------
def save(path: Path, arr: np.ndarray, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kwargs)
    return path


def palette(path: Path, idx: np.ndarray, colours=((0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0))) -> Path:
    im = Image.fromarray(idx.astype(np.uint8), mode="P")
    flat = [c for rgb in colours for c in rgb]
    im.putpalette(flat + [255, 255, 255] * (256 - len(colours)))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path


def with_exif(path: Path, arr: np.ndarray, orientation: int) -> Path:
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, exif=exif, quality=100)
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb(path: Path, side: int = 100000) -> Path:
    """A tiny PNG whose header claims side x side pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + _chunk(b"IEND", b""))
    return path


def png_by_hand(path: Path, arr: np.ndarray, colour_type: int, depth: int) -> Path:
    """A PNG written byte by byte (unfiltered rows): ``colour_type`` 0 grey, 2 RGB, 4 grey + alpha, 6 RGBA, at
    ``depth`` 8 or 16 bits per channel (Pillow writes no 16-bit colour)."""
    h, w = arr.shape[:2]
    data = np.ascontiguousarray(arr, dtype=">u2" if depth == 16 else np.uint8)
    rows = b"".join(b"\0" + data[i].tobytes() for i in range(h))
    header = struct.pack(">IIBBBBB", w, h, depth, colour_type, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows))
                     + _chunk(b"IEND", b""))
    return path


def tiff_by_hand(path: Path, arr: np.ndarray, extra: tuple[int, ...] = ()) -> Path:
    """An uncompressed little-endian TIFF of ``arr`` (H, W, S), uint8 or uint16, written byte by byte (TIFF 6.0,
    one strip): grey (S - len(extra) == 1) or RGB (3), then ``extra`` samples of the kinds of tag 338 (0: data,
    1: associated alpha, 2: unassociated alpha). Pillow writes neither 16-bit colour nor unspecified channels."""
    h, w, samples = arr.shape
    bits = 16 if arr.dtype == np.uint16 else 8
    pixels = np.ascontiguousarray(arr, dtype="<u2" if bits == 16 else np.uint8).tobytes()
    colour = samples - len(extra)
    tags = 11 if extra else 10
    bits_at = 8 + 2 + 12 * tags + 4  # BitsPerSample's values (and ExtraSamples') follow the IFD
    extra_at = bits_at + 2 * samples
    data_at = extra_at + 2 * len(extra)

    def entry(tag: int, kind: int, value: int) -> bytes:  # kind 3: SHORT (value left-justified), 4: LONG
        return struct.pack("<HHIHH", tag, 3, 1, value, 0) if kind == 3 else struct.pack("<HHII", tag, 4, 1, value)

    def shorts(tag: int, values: tuple[int, ...], at: int) -> bytes:  # one or two SHORTs fit in the entry
        if len(values) <= 2:
            return struct.pack("<HHI", tag, 3, len(values)) + struct.pack("<HH", *values, *(0,) * (2 - len(values)))
        return struct.pack("<HHII", tag, 3, len(values), at)

    entries = [entry(256, 4, w), entry(257, 4, h), shorts(258, (bits,) * samples, bits_at), entry(259, 3, 1),
               entry(262, 3, 2 if colour == 3 else 1), entry(273, 4, data_at), entry(277, 3, samples),
               entry(278, 4, h), entry(279, 4, len(pixels)), entry(284, 3, 1)]
    if extra:
        entries.append(shorts(338, extra, extra_at))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", tags) + b"".join(entries)
                     + struct.pack("<I", 0) + struct.pack(f"<{samples}H", *(bits,) * samples)
                     + struct.pack(f"<{len(extra)}H", *extra) + pixels)
    return path


def pages(path: Path, arrays: list[np.ndarray]) -> Path:
    """A file of several pages (a TIFF stack, an animated PNG) holding ``arrays``, one a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    first, *rest = (Image.fromarray(a) for a in arrays)
    first.save(path, save_all=True, append_images=rest)
    return path


def truncated(path: Path, source: Path) -> Path:
    data = source.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: len(data) // 2])
    return path


RNG = np.random.default_rng(0)
GREY = (np.arange(20 * 24).reshape(20, 24) % 251).astype(np.uint8)
RGB = RNG.integers(0, 256, (20, 24, 3), dtype=np.uint8)
DISC = ((np.mgrid[0:20, 0:24][0] - 10) ** 2 + (np.mgrid[0:20, 0:24][1] - 12) ** 2 < 36).astype(np.uint8)  # 0/1


def seg_folder(root: Path, n: int = 4, image=None, mask=None, size=(20, 24)) -> Path:
    """``root/images`` and ``root/masks`` with ``n`` cases; ``image(path, i)`` / ``mask(path, i)`` write a file
    (default: an 8-bit RGB PNG and a 0/255 disc)."""
    for i in range(n):
        (image or (lambda p, i: save(p.with_suffix(".png"), RGB)))(root / "images" / f"c{i}", i)
        (mask or (lambda p, i: save(p.with_suffix(".png"), DISC * 255)))(root / "masks" / f"c{i}", i)
    return root


def first_case(root: Path, **kwargs):
    folder = ImageMaskFolder(root, **kwargs)
    return lambda: folder.read(0)


# --- images: bit depth, float range, colour modes --------------------------------------------------------------
@decoding("8-bit grey png as grey")
def _(d):
    return lambda: decode_image(save(d / "g.png", GREY), 1)[..., 0], GREY


@decoding("8-bit grey png repeated to rgb")
def _(d):
    return lambda: decode_image(save(d / "g.png", GREY), 3), np.repeat(GREY[..., None], 3, -1)


@decoding("8-bit rgb png to grey by BT.601 luma")
def _(d):
    luma = np.asarray(Image.fromarray(RGB).convert("L"))
    return lambda: decode_image(save(d / "c.png", RGB), 1)[..., 0], luma


@decoding("16-bit grey png keeps its depth")
def _(d):
    arr = (np.arange(20 * 24).reshape(20, 24) * 131).astype(np.uint16)
    return lambda: decode_image(save(d / "g16.png", arr), 1)[..., 0], arr


@decoding("16-bit grey tiff keeps its depth")
def _(d):
    arr = (np.arange(20 * 24).reshape(20, 24) * 97 + 1000).astype(np.uint16)
    return lambda: decode_image(save(d / "g16.tif", arr), 1)[..., 0], arr


@decoding("16-bit white is 1.0, not clipped")
def _(d):
    from pixelwise.data.decode import to_unit

    arr = np.full((5, 7), 65535, np.uint16)
    arr[0, 0] = 32768
    return lambda: to_unit(decode_image(save(d / "w.png", arr), 1))[..., 0], arr / np.float32(65535)


@decoding("32-bit integer tiff within 16 bits")
def _(d):
    arr = (np.arange(35).reshape(5, 7) * 1000).astype(np.int32)
    return lambda: decode_image(save(d / "i32.tif", arr), 1)[..., 0], arr.astype(np.uint16)


@decoding("32-bit integer tiff beyond 16 bits")
def _(d):
    arr = np.full((5, 7), 70000, np.int32)
    return lambda: decode_image(save(d / "big.tif", arr), 1), Refused("beyond 16 bits")


@decoding("float tiff in [0, 1]")
def _(d):
    arr = np.linspace(0, 1, 35, dtype=np.float32).reshape(5, 7)
    return lambda: decode_image(save(d / "f.tif", arr), 1)[..., 0], arr


@decoding("float tiff above 1")
def _(d):
    arr = np.linspace(0, 4, 35, dtype=np.float32).reshape(5, 7)
    return lambda: decode_image(save(d / "f.tif", arr), 1), Refused("must lie in [0, 1]")


@decoding("float tiff below 0")
def _(d):
    arr = np.linspace(-1, 1, 35, dtype=np.float32).reshape(5, 7)
    return lambda: decode_image(save(d / "f.tif", arr), 1), Refused("must lie in [0, 1]")


@decoding("float tiff with NaN")
def _(d):
    arr = np.zeros((5, 7), np.float32)
    arr[2, 3] = np.nan
    return lambda: decode_image(save(d / "f.tif", arr), 1), Refused("NaN or infinite")


@decoding("float tiff with infinity")
def _(d):
    arr = np.zeros((5, 7), np.float32)
    arr[0, 0] = np.inf
    return lambda: decode_image(save(d / "f.tif", arr), 1), Refused("NaN or infinite")


@decoding("rgba png drops alpha")
def _(d):
    rgba = np.concatenate([RGB, np.full((20, 24, 1), 7, np.uint8)], -1)
    return lambda: decode_image(save(d / "a.png", rgba), 3), RGB


@decoding("palette image reads as its colours")
def _(d):
    idx = (np.arange(20 * 24).reshape(20, 24) % 4).astype(np.uint8)
    colours = np.array([(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0)], np.uint8)
    return lambda: decode_image(palette(d / "p.png", idx), 3), colours[idx]


@decoding("bilevel image reads as 0 and 255")
def _(d):
    im = Image.fromarray(DISC.astype(bool))
    path = d / "b.png"
    d.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return lambda: decode_image(path, 1)[..., 0], DISC * 255


@decoding("cmyk jpeg converts to rgb")
def _(d):
    path = d / "cmyk.jpg"
    d.mkdir(parents=True, exist_ok=True)
    Image.new("CMYK", (6, 4), (0, 255, 255, 0)).save(path)
    return lambda: decode_image(path, 3)[0, 0], np.array([255, 0, 0], np.uint8)


@decoding("16-bit rgb png refused (Pillow keeps 8 bits)")
def _(d):
    arr = (RNG.integers(0, 65536, (5, 7, 3))).astype(np.uint16)
    return lambda: decode_image(png_by_hand(d / "c48.png", arr, 2, 16), 3), Refused("16 bits per channel")


@decoding("16-bit rgba png refused")
def _(d):
    arr = (RNG.integers(0, 65536, (5, 7, 4))).astype(np.uint16)
    return lambda: decode_image(png_by_hand(d / "c64.png", arr, 6, 16), 1), Refused("RGBA at 16 bits")


@decoding("16-bit grey + alpha png refused")
def _(d):
    arr = (RNG.integers(0, 65536, (5, 7, 2))).astype(np.uint16)
    return lambda: decode_image(png_by_hand(d / "la.png", arr, 4, 16), 1), Refused("LA at 16 bits")


@decoding("16-bit grey png by hand keeps its depth")
def _(d):
    arr = (RNG.integers(0, 65536, (5, 7))).astype(np.uint16)
    return lambda: decode_image(png_by_hand(d / "g16.png", arr, 0, 16), 1)[..., 0], arr


@decoding("8-bit rgb png by hand")
def _(d):
    return lambda: decode_image(png_by_hand(d / "c24.png", RGB, 2, 8), 3), RGB


@decoding("16-bit rgb tiff refused")
def _(d):
    arr = (RNG.integers(0, 65536, (5, 7, 3))).astype(np.uint16)
    return lambda: decode_image(tiff_by_hand(d / "c48.tif", arr), 3), Refused("RGB at 16 bits per channel")


@decoding("8-bit rgb tiff by hand")
def _(d):
    return lambda: decode_image(tiff_by_hand(d / "c24.tif", RGB), 3), RGB


@decoding("size of a 16-bit rgb png refused from the header")
def _(d):
    arr = (RNG.integers(0, 65536, (5, 7, 3))).astype(np.uint16)
    return lambda: image_size(png_by_hand(d / "c48.png", arr, 2, 16)), Refused("16 bits per channel")


@decoding("two-channel tiff refused (Pillow reads the first)")
def _(d):
    arr = RNG.integers(0, 256, (5, 7, 2), dtype=np.uint8)
    return lambda: decode_image(tiff_by_hand(d / "two.tif", arr, extra=(0,)), 1), Refused("2 channels per pixel")


@decoding("rgb tiff with a fourth data channel refused")
def _(d):
    arr = RNG.integers(0, 256, (5, 7, 4), dtype=np.uint8)
    return lambda: decode_image(tiff_by_hand(d / "four.tif", arr, extra=(0,)), 3), Refused("neither grey, colour")


@decoding("rgba tiff by hand drops its alpha")
def _(d):
    rgba = np.concatenate([RGB, np.full((20, 24, 1), 9, np.uint8)], -1)
    return lambda: decode_image(tiff_by_hand(d / "rgba.tif", rgba, extra=(2,)), 3), RGB


@decoding("multi-page tiff refused (Pillow reads the first)")
def _(d):
    stack = pages(d / "stack.tif", [GREY // (k + 1) for k in range(3)])
    return lambda: decode_image(stack, 1), Refused("holds 3 pages")


@decoding("animated png refused")
def _(d):
    anim = pages(d / "anim.png", [GREY // (k + 1) for k in range(2)])
    return lambda: decode_image(anim, 1), Refused("holds 2 pages")


@decoding("size of a multi-page tiff refused from the header")
def _(d):
    stack = pages(d / "stack.tif", [GREY, GREY])
    return lambda: image_size(stack), Refused("holds 2 pages")


@decoding("cie lab tiff to grey through rgb")
def _(d):
    d.mkdir(parents=True, exist_ok=True)
    Image.fromarray(RGB).convert("LAB").save(d / "lab.tif")
    as_rgb = np.asarray(Image.open(d / "lab.tif").convert("RGB"))  # Pillow's L*a*b* -> RGB, then the stated luma
    return lambda: decode_image(d / "lab.tif", 1)[..., 0], np.asarray(Image.fromarray(as_rgb).convert("L"))


@decoding("cie lab tiff to rgb")
def _(d):
    d.mkdir(parents=True, exist_ok=True)
    Image.fromarray(RGB).convert("LAB").save(d / "lab.tif")
    return lambda: decode_image(d / "lab.tif", 3), np.asarray(Image.open(d / "lab.tif").convert("RGB"))


@decoding("bmp rgb")
def _(d):
    return lambda: decode_image(save(d / "c.bmp", RGB), 3), RGB


# EXIF orientation: the picture as displayed (Pillow's exif_transpose convention)
_TURNS = ((3, lambda a: np.rot90(a, 2)), (6, lambda a: np.rot90(a, -1)), (8, lambda a: np.rot90(a, 1)),
          (2, lambda a: a[:, ::-1]), (4, lambda a: a[::-1]), (5, lambda a: a.T), (7, lambda a: np.rot90(a, 2).T))
for _tag, _turn in _TURNS:
    def _exif_case(d, tag=_tag, turn=_turn):
        return lambda: decode_image(with_exif(d / "o.png", GREY, tag), 1)[..., 0], turn(GREY)
    decoding(f"exif orientation {_tag} applied")(_exif_case)


@decoding("exif orientation 6 turns the header size")
def _(d):
    return lambda: image_size(with_exif(d / "o.jpg", GREY, 6)), np.array((24, 20))


# --- broken files --------------------------------------------------------------------------------------------
@decoding("decompression bomb header")
def _(d):
    return lambda: decode_image(bomb(d / "bomb.png")), Refused("claims more pixels")


@decoding("decompression bomb in the warning zone")
def _(d):
    return lambda: decode_image(bomb(d / "bomb.png", 12000)), Refused("claims more pixels")


@decoding("decompression bomb: size from the header")
def _(d):
    return lambda: image_size(bomb(d / "bomb.png")), Refused("claims more pixels")


@decoding("truncated png")
def _(d):
    return lambda: decode_image(truncated(d / "t.png", save(d / "full.png", RGB))), Refused("cannot read image")


@decoding("truncated jpeg")
def _(d):
    big = RNG.integers(0, 256, (200, 200, 3), dtype=np.uint8)
    return lambda: decode_image(truncated(d / "t.jpg", save(d / "full.jpg", big))), Refused("cannot read image")


@decoding("empty file")
def _(d):
    d.mkdir(parents=True, exist_ok=True)
    (d / "e.png").write_bytes(b"")
    return lambda: decode_image(d / "e.png"), Refused("cannot read image")


@decoding("text file named png")
def _(d):
    d.mkdir(parents=True, exist_ok=True)
    (d / "t.png").write_text("not an image\n")
    return lambda: decode_image(d / "t.png"), Refused("cannot read image")


# --- binary masks ---------------------------------------------------------------------------------------------
@decoding("mask 0/255 png")
def _(d):
    return lambda: decode_mask(save(d / "m.png", DISC * 255)), DISC


@decoding("mask 0/1 png (label export)")
def _(d):
    return lambda: decode_mask(save(d / "m.png", DISC)), DISC


@decoding("mask 0/1 bmp")
def _(d):
    return lambda: decode_mask(save(d / "m.bmp", DISC)), DISC


@decoding("mask 0/1 tiff")
def _(d):
    return lambda: decode_mask(save(d / "m.tif", DISC)), DISC


@decoding("mask 0/1 16-bit png")
def _(d):
    return lambda: decode_mask(save(d / "m.png", DISC.astype(np.uint16))), DISC


@decoding("mask 0/65535 16-bit png")
def _(d):
    return lambda: decode_mask(save(d / "m.png", DISC.astype(np.uint16) * 65535)), DISC


@decoding("mask 0/1000 16-bit png, below the 8-bit threshold")
def _(d):
    return lambda: decode_mask(save(d / "m.png", DISC.astype(np.uint16) * 1000)), Refused("--threshold 127")


@decoding("mask palette 0/1")
def _(d):
    return lambda: decode_mask(palette(d / "m.png", DISC)), DISC


@decoding("mask palette with VOC labels")
def _(d):
    idx = DISC * 15
    idx[0, :3] = 255
    return lambda: decode_mask(palette(d / "m.png", idx)), Refused("--num-classes")


@decoding("mask bilevel")
def _(d):
    path = d / "m.png"
    d.mkdir(parents=True, exist_ok=True)
    Image.fromarray(DISC.astype(bool)).save(path)
    return lambda: decode_mask(path), DISC


@decoding("mask dark red colour")
def _(d):
    rgb = np.zeros((20, 24, 3), np.uint8)
    rgb[DISC == 1] = (128, 0, 0)
    return lambda: decode_mask(save(d / "m.png", rgb)), Refused("no pixel above --threshold")


@decoding("mask white on black rgb")
def _(d):
    return lambda: decode_mask(save(d / "m.png", np.repeat(DISC[..., None] * 255, 3, -1))), DISC


@decoding("mask grey 0/100")
def _(d):
    return lambda: decode_mask(save(d / "m.png", DISC * 100)), Refused("--threshold")


@decoding("mask grey 0/100 with --threshold 50")
def _(d):
    return lambda: decode_mask(save(d / "m.png", DISC * 100), threshold=50), DISC


@decoding("mask jpeg 0/255")
def _(d):
    return lambda: decode_mask(save(d / "m.jpg", DISC * 255, quality=90)), lambda got: (got == DISC).mean() > 0.95


@decoding("mask jpeg 0/1 is no label export")
def _(d):
    return lambda: decode_mask(save(d / "m.jpg", DISC, quality=100)), Refused("no pixel above --threshold")


@decoding("mask all zero is empty")
def _(d):
    return lambda: decode_mask(save(d / "m.png", np.zeros((20, 24), np.uint8))), np.zeros((20, 24), np.uint8)


@decoding("mask float tiff 0/1")
def _(d):
    return lambda: decode_mask(save(d / "m.tif", DISC.astype(np.float32))), DISC


@decoding("mask float tiff out of range")
def _(d):
    return lambda: decode_mask(save(d / "m.tif", DISC.astype(np.float32) * 3)), Refused("must lie in [0, 1]")


@decoding("mask rgba white")
def _(d):
    rgba = np.concatenate([np.repeat(DISC[..., None] * 255, 3, -1), np.full((20, 24, 1), 255, np.uint8)], -1)
    return lambda: decode_mask(save(d / "m.png", rgba)), DISC


@decoding("mask with exif orientation")
def _(d):
    return lambda: decode_mask(with_exif(d / "m.png", DISC * 255, 6)), np.rot90(DISC, -1)


@decoding("mask decompression bomb")
def _(d):
    return lambda: decode_mask(bomb(d / "m.png")), Refused("claims more pixels")


@decoding("16-bit rgb mask refused")
def _(d):
    rgb = np.repeat(DISC.astype(np.uint16)[..., None] * 65535, 3, -1)
    return lambda: decode_mask(png_by_hand(d / "m48.png", rgb, 2, 16)), Refused("16 bits per channel")


# --- label masks ------------------------------------------------------------------------------------------------
LABELS = (np.arange(20 * 24).reshape(20, 24) // 120).astype(np.uint8)  # 0..3


@decoding("labels palette")
def _(d):
    return lambda: decode_mask(palette(d / "m.png", LABELS), 4), LABELS


@decoding("labels grey png")
def _(d):
    return lambda: decode_mask(save(d / "m.png", LABELS), 4), LABELS


@decoding("labels 16-bit png")
def _(d):
    return lambda: decode_mask(save(d / "m.png", LABELS.astype(np.uint16)), 4), LABELS


@decoding("labels rgb with equal channels")
def _(d):
    return lambda: decode_mask(save(d / "m.png", np.repeat(LABELS[..., None], 3, -1)), 4), LABELS


@decoding("labels colour coded")
def _(d):
    colours = np.array([(0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255)], np.uint8)
    return lambda: decode_mask(save(d / "m.png", colours[LABELS]), 4), Refused("convert its colours to labels")


@decoding("labels jpeg")
def _(d):
    return lambda: decode_mask(save(d / "m.jpg", LABELS, quality=100), 4), Refused("is a JPEG")


@decoding("labels float tiff")
def _(d):
    return lambda: decode_mask(save(d / "m.tif", LABELS.astype(np.float32)), 4), Refused("label masks hold integers")


@decoding("labels above num_classes")
def _(d):
    return lambda: decode_mask(save(d / "m.png", LABELS), 3), Refused("holds label 3 but num_classes=3")


@decoding("labels 0/255 given num_classes 2")
def _(d):
    return lambda: decode_mask(save(d / "m.png", DISC * 255), 2), Refused("leave out --num-classes")


# --- folders of images and masks ------------------------------------------------------------------------------
@decoding("folder: 16-bit images with 0/1 masks")
def _(d):
    arr = (GREY.astype(np.uint16) * 200)
    root = seg_folder(d, 2, lambda p, i: save(p.with_suffix(".png"), arr),
                      lambda p, i: save(p.with_suffix(".png"), DISC))
    return lambda: (lambda c: (c[0][..., 0], c[1]))(first_case(root, channels=1)()), (arr, DISC)


@decoding("folder: exif-rotated photo beside a mask drawn as displayed")
def _(d):
    root = seg_folder(d, 1, lambda p, i: with_exif(p.with_suffix(".jpg"), RGB, 6),
                      lambda p, i: save(p.with_suffix(".png"), np.rot90(DISC, -1) * 255))
    return lambda: first_case(root)()[1], np.rot90(DISC, -1)


@decoding("folder: mixed 8- and 16-bit images load at 16 bits")
def _(d):
    def image(p, i):
        return save(p.with_suffix(".png"), GREY if i == 0 else GREY.astype(np.uint16) * 257)

    root = seg_folder(d, 2, image)
    folder = ImageMaskFolder(root, channels=1)
    return lambda: folder.load(progress=False)[0][..., 0], np.stack([GREY.astype(np.uint16) * 257] * 2)


# --- commands: every recipe's inputs --------------------------------------------------------------------------
SEG = ["segment", "train", "--size", "16", "--base-channels", "2", "--depth", "1", "--epochs", "1", "--batch-size",
       "2", "--quiet", "--split", "0.5,0.25,0.25"]


def seg(d: Path, root: Path, *extra: str) -> list[str]:
    return [*SEG, "--data", str(root), "--out", str(d / "run"), *extra]


@command("segment train: a decompression bomb among the images")
def _(d, run):
    root = seg_folder(d / "data", 4)
    bomb(root / "images" / "c2.png")
    return seg(d, root), Refused("claims more pixels")


@command("segment train: a decompression bomb among the masks")
def _(d, run):
    root = seg_folder(d / "data", 4)
    bomb(root / "masks" / "c1.png")
    return seg(d, root), Refused("claims more pixels")


@command("segment train: a truncated image")
def _(d, run):
    root = seg_folder(d / "data", 4)
    truncated(root / "images" / "c3.png", save(d / "big.png", RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)))
    return seg(d, root), Refused("c3.png")


@command("segment train: a 16-bit colour image among the images")
def _(d, run):
    root = seg_folder(d / "data", 4)
    (root / "images" / "c1.png").unlink()
    png_by_hand(root / "images" / "c1.png", RNG.integers(0, 65536, (20, 24, 3)).astype(np.uint16), 2, 16)
    return seg(d, root), Refused("c1.png stores RGB at 16 bits per channel")


@command("segment train: a multi-page tiff among the images")
def _(d, run):
    root = seg_folder(d / "data", 4)
    (root / "images" / "c2.png").unlink()
    pages(root / "images" / "c2.tif", [RGB, RGB])
    return seg(d, root), Refused("c2.tif holds 2 pages")


@command("segment train: palette masks with VOC labels")
def _(d, run):
    root = seg_folder(d / "data", 4, mask=lambda p, i: palette(p.with_suffix(".png"), DISC * 15))
    return seg(d, root), Refused("--num-classes")


@command("segment train: dark red colour masks")
def _(d, run):
    def red(p, i):
        rgb = np.zeros((20, 24, 3), np.uint8)
        rgb[DISC == 1] = (128, 0, 0)
        return save(p.with_suffix(".png"), rgb)
    return seg(d, seg_folder(d / "data", 4, mask=red)), Refused("--threshold")


@command("segment train: every training mask empty")
def _(d, run):
    root = seg_folder(d / "data", 4, mask=lambda p, i: save(p.with_suffix(".png"), np.zeros((20, 24), np.uint8)))
    return seg(d, root), Refused("--allow-empty-masks")


@command("segment train: float images above 1")
def _(d, run):
    root = seg_folder(d / "data", 4, lambda p, i: save(p.with_suffix(".tif"), np.full((20, 24), 3.0, np.float32)))
    return seg(d, root, "--channels", "1"), Refused("must lie in [0, 1]")


@command("segment train: label masks as JPEG")
def _(d, run):
    root = seg_folder(d / "data", 4, mask=lambda p, i: save(p.with_suffix(".jpg"), LABELS, quality=100))
    return seg(d, root, "--num-classes", "4"), Refused("is a JPEG")


@command("segment train: --size beyond memory")
def _(d, run):
    return seg(d, seg_folder(d / "data", 4), "--size", "100000"), Refused("more than the")


@command("segment train: 16-bit grey images and 0/1 masks train")
def _(d, run):
    root = seg_folder(d / "data", 4, lambda p, i: save(p.with_suffix(".png"), GREY.astype(np.uint16) * 200),
                      lambda p, i: save(p.with_suffix(".png"), DISC))

    def check(folder):
        config = json.loads((folder / "run" / "config.json").read_text())
        assert 0.1 < config["norm_mean"][0] < 0.9  # read as value / 65535: not clipped white (1.0), not black
        assert json.loads((folder / "run" / "metrics.json").read_text())["n_cases"] >= 1
    return seg(d, root, "--channels", "1"), check


@command("segment predict: one damaged image among the inputs writes nothing")
def _(d, run):
    inputs = d / "in"
    for i in range(3):
        save(inputs / f"x{i}.png", RGB)
    truncated(inputs / "x3.png", save(d / "big.png", RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)))
    return ["segment", "predict", "--run", str(run), str(inputs), "--out", str(d / "masks"), "--quiet"], \
        Refused("x3.png")


@command("segment predict: a decompression bomb input")
def _(d, run):
    return ["segment", "predict", "--run", str(run), str(bomb(d / "in" / "b.png")), "--out", str(d / "masks"),
            "--quiet"], Refused("claims more pixels")


@command("segment predict: a 16-bit input")
def _(d, run):
    path = save(d / "in" / "deep.png", GREY.astype(np.uint16) * 250)

    def check(folder):
        assert Image.open(folder / "masks" / "deep.png").size == (24, 20)
    return ["segment", "predict", "--run", str(run), str(path), "--out", str(d / "masks"), "--quiet"], check


@command("segment predict: --out the inputs' own folder would replace them")
def _(d, run):
    save(d / "in" / "a.png", RGB)
    save(d / "in" / "b.jpg", RGB)
    return ["segment", "predict", "--run", str(run), str(d / "in"), "--out", str(d / "in"), "--quiet"], Refused(
        "would write masks over the input")


@command("segment eval: other data with palette VOC masks")
def _(d, run):
    root = seg_folder(d / "data", 2, mask=lambda p, i: palette(p.with_suffix(".png"), DISC * 15))
    return ["segment", "eval", "--run", str(run), "--data", str(root), "--out", str(d / "eval"), "--quiet"], \
        Refused("--num-classes")


def _damaged_run(d: Path, run: Path) -> Path:
    copy = d / "run"
    shutil.copytree(run, copy)
    return copy


def _config_with(d, run, **changes) -> Path:
    copy = _damaged_run(d, run)
    config = json.loads((copy / "config.json").read_text())
    config.update(changes)
    (copy / "config.json").write_text(json.dumps(config))
    return copy


@command("run folder: config.json with a string size")
def _(d, run):
    return ["segment", "eval", "--run", str(_config_with(d, run, size="big")), "--quiet"], \
        Refused("size = 'big' is not a whole number")


@command("run folder: config.json with a null depth")
def _(d, run):
    return ["segment", "eval", "--run", str(_config_with(d, run, depth=None)), "--quiet"], \
        Refused("depth = None is not a whole number")


@command("run folder: config.json with a string normalisation mean")
def _(d, run):
    return ["segment", "eval", "--run", str(_config_with(d, run, norm_mean="0.5")), "--quiet"], \
        Refused("norm_mean = '0.5' is not a list")


@command("run folder: split.json is not JSON")
def _(d, run):
    copy = _damaged_run(d, run)
    (copy / "split.json").write_text("{train: [")
    return ["segment", "eval", "--run", str(copy), "--quiet"], Refused("split.json is not valid JSON")


@command("run folder: a truncated training state on --resume")
def _(d, run):
    copy = _damaged_run(d, run)
    state = copy / "checkpoints" / "last_state.pt"
    state.write_bytes(state.read_bytes()[:100])
    config = json.loads((copy / "config.json").read_text())
    return ["segment", "train", "--out", str(copy), "--epochs", str(config["epochs"] + 1), "--resume", "--quiet"], \
        Refused("last_state.pt")


@command("run folder: a truncated best checkpoint")
def _(d, run):
    copy = _damaged_run(d, run)
    best = copy / "checkpoints" / "best.safetensors"
    best.write_bytes(best.read_bytes()[:50])
    return ["segment", "eval", "--run", str(copy), "--quiet"], Refused("best.safetensors")


IMG = (np.arange(24 * 24).reshape(24, 24) % 200).astype(np.uint8)


@command("solve: a decompression bomb image")
def _(d, run):
    return ["solve", str(bomb(d / "b.png")), "--operator", "denoise", "--out", str(d / "out")], \
        Refused("claims more pixels")


@command("solve: a float image with NaN")
def _(d, run):
    arr = np.full((24, 24), 0.5, np.float32)
    arr[3, 3] = np.nan
    return ["solve", str(save(d / "f.tif", arr)), "--operator", "denoise", "--out", str(d / "out")], \
        Refused("NaN or infinite")


@command("solve: a measurement with NaN")
def _(d, run):
    y = np.zeros((1, 24, 24), np.float32)
    y[0, 1, 1] = np.nan
    np.save(d / "y.npy", y)
    return ["solve", "--measured", str(d / "y.npy"), "--operator", "denoise", "--out", str(d / "out")], \
        Refused("NaN or infinite")


@command("solve: a measurement with infinity")
def _(d, run):
    y = np.zeros((1, 24, 24), np.float32)
    y[0, 1, 1] = -np.inf
    np.save(d / "y.npy", y)
    return ["solve", "--measured", str(d / "y.npy"), "--operator", "denoise", "--out", str(d / "out")], \
        Refused("NaN or infinite")


@command("solve: a truncated measurement file")
def _(d, run):
    np.save(d / "full.npy", np.zeros((1, 24, 24), np.float32))
    truncated(d / "y.npy", d / "full.npy")
    return ["solve", "--measured", str(d / "y.npy"), "--operator", "denoise", "--out", str(d / "out")], \
        Refused("not a readable .npy")


@command("solve: an inpainting mask with VOC labels")
def _(d, run):
    image = save(d / "x.png", IMG)
    mask = palette(d / "m.png", (np.arange(24 * 24).reshape(24, 24) % 3) * 7)
    return ["solve", str(image), "--operator", "inpaint", "--mask", str(mask), "--out", str(d / "out")], \
        Refused("--num-classes")


@command("solve: a 0/1 inpainting mask is read as kept/missing")
def _(d, run):
    image = save(d / "x.png", IMG)
    keep = (np.arange(24 * 24).reshape(24, 24) % 2).astype(np.uint8)
    mask = save(d / "m.png", keep)

    def check(folder):
        written = np.asarray(Image.open(folder / "out" / "mask.png"))
        np.testing.assert_array_equal(written, keep * 255)
    return ["solve", str(image), "--operator", "inpaint", "--mask", str(mask), "--method", "adjoint", "--out",
            str(d / "out")], check


@command("solve --grey: a CIE L*a*b* tiff")
def _(d, run):
    d.mkdir(parents=True, exist_ok=True)
    Image.fromarray(RNG.integers(0, 256, (24, 24, 3), dtype=np.uint8)).convert("LAB").save(d / "lab.tif")

    def solved(folder):
        assert json.loads((folder / "out" / "metrics.json").read_text())["methods"]["tv"]["psnr"] > 0

    return ["solve", str(d / "lab.tif"), "--grey", "--operator", "blur", "--method", "tv", "--out",
            str(d / "out"), "--quiet"], solved


@command("solve: a 16-bit image")
def _(d, run):
    image = save(d / "x.png", IMG.astype(np.uint16) * 300)

    def check(folder):
        naive = json.loads((folder / "out" / "metrics.json").read_text())["naive"]["psnr"]
        assert 30 < naive < 60  # sigma 2/255 noise on the image's own range, not on a clipped white one
    return ["solve", str(image), "--operator", "denoise", "--method", "adjoint", "--out", str(d / "out")], check


@command("restore train: a decompression bomb in the data folder")
def _(d, run):
    save(d / "data" / "a.png", IMG)
    bomb(d / "data" / "b.png")
    return ["restore", "train", "--data", str(d / "data"), "--epochs", "1", "--out", str(d / "run"), "--quiet"], \
        Refused("claims more pixels")


@command("restore train: float images out of range")
def _(d, run):
    save(d / "data" / "a.tif", np.full((48, 48), 2.0, np.float32))
    return ["restore", "train", "--data", str(d / "data"), "--epochs", "1", "--out", str(d / "run"), "--quiet"], \
        Refused("must lie in [0, 1]")


@command("restore train: --size beyond memory")
def _(d, run):
    return ["restore", "train", "--task", "ct", "--data", "phantoms", "--size", "100000", "--out", str(d / "run"),
            "--quiet"], Refused("more than the")


@command("restore train: --batch-size beyond memory")
def _(d, run):
    save(d / "data" / "a.png", IMG)
    save(d / "data" / "b.png", IMG)
    return ["restore", "train", "--task", "denoise", "--data", str(d / "data"), "--patch", "16", "--batch-size",
            "100000000000", "--out", str(d / "run"), "--quiet"], Refused("a training step of --batch-size")


@command("latent train: --latent-dim beyond memory")
def _(d, run):
    return ["latent", "train", "--data", "digits", "--model", "ae", "--latent-dim", "100000000000", "--epochs", "1",
            "--out", str(d / "run"), "--quiet"], Refused("out of memory")


@command("restore dip: a truncated image")
def _(d, run):
    source = save(d / "big.png", RNG.integers(0, 256, (64, 64), dtype=np.uint8))
    return ["restore", "dip", str(truncated(d / "t.png", source)), "--out", str(d / "dip"), "--quiet"], \
        Refused("cannot read image")


def _npz(d: Path, **arrays) -> Path:
    np.savez(d / "set.npz", **arrays)
    return d / "set.npz"


DIGITS = RNG.integers(0, 256, (12, 8, 8), dtype=np.uint8)
LATENT = ["latent", "train", "--model", "ae", "--epochs", "1", "--quiet"]


@command("latent train: npz images with NaN")
def _(d, run):
    images = DIGITS.astype(np.float32) / 255
    images[0, 0, 0] = np.nan
    return [*LATENT, "--data", str(_npz(d, images=images)), "--out", str(d / "run")], Refused("NaN or infinite")


@command("latent train: npz images with infinity")
def _(d, run):
    images = DIGITS.astype(np.float32) / 255
    images[1, 2, 3] = np.inf
    return [*LATENT, "--data", str(_npz(d, images=images)), "--out", str(d / "run")], Refused("NaN or infinite")


@command("latent train: npz float images above 1")
def _(d, run):
    images = DIGITS.astype(np.float32)
    return [*LATENT, "--data", str(_npz(d, images=images)), "--out", str(d / "run")], Refused("must lie in [0, 1]")


@command("latent train: npz int32 images")
def _(d, run):
    return [*LATENT, "--data", str(_npz(d, images=DIGITS.astype(np.int32))), "--out", str(d / "run")], \
        Refused("store uint8")


@command("latent train: npz float labels")
def _(d, run):
    labels = np.arange(12, dtype=np.float32)
    return [*LATENT, "--data", str(_npz(d, images=DIGITS, labels=labels)), "--out", str(d / "run")], \
        Refused("integer label")


@command("latent train: a truncated npz")
def _(d, run):
    full = _npz(d, images=RNG.integers(0, 256, (300, 28, 28), dtype=np.uint8))
    return [*LATENT, "--data", str(truncated(d / "cut.npz", full)), "--out", str(d / "run")], \
        Refused("not a valid .npz")


@command("latent train: an npz without images")
def _(d, run):
    return [*LATENT, "--data", str(_npz(d, pictures=DIGITS)), "--out", str(d / "run")], Refused("no 'images'")


@command("latent train: 16-bit npz images are read as value / 65535")
def _(d, run):
    deep = DIGITS.astype(np.uint16) * 257

    def check(folder):
        assert json.loads((folder / "run" / "metrics.json").read_text())["n_cases"] >= 1
    return [*LATENT, "--data", str(_npz(d, images=deep)), "--out", str(d / "run")], check


@command("latent train: a folder with a decompression bomb")
def _(d, run):
    for i in range(3):
        save(d / "data" / f"d{i}.png", DIGITS[i])
    bomb(d / "data" / "d9.png")
    return [*LATENT, "--data", str(d / "data"), "--out", str(d / "run")], Refused("claims more pixels")


@command("latent train: a folder with float tiffs out of range")
def _(d, run):
    for i in range(3):
        save(d / "data" / f"d{i}.tif", DIGITS[i].astype(np.float32))
    return [*LATENT, "--data", str(d / "data"), "--out", str(d / "run")], Refused("must lie in [0, 1]")


@command("latent train: a folder of images at --size beyond memory")
def _(d, run):
    for i in range(3):
        save(d / "data" / f"d{i}.png", DIGITS[i])
    return [*LATENT, "--data", str(d / "data"), "--size", "100000", "--out", str(d / "run")], Refused("more than the")


@command("diffuse train: npz images with NaN")
def _(d, run):
    images = DIGITS.astype(np.float32) / 255
    images[0, 0, 0] = np.nan
    return ["diffuse", "train", "--data", str(_npz(d, images=images)), "--epochs", "1", "--out", str(d / "run"),
            "--quiet"], Refused("NaN or infinite")


@command("diffuse train: a truncated npz")
def _(d, run):
    full = _npz(d, images=RNG.integers(0, 256, (300, 28, 28), dtype=np.uint8))
    return ["diffuse", "train", "--data", str(truncated(d / "cut.npz", full)), "--epochs", "1", "--out",
            str(d / "run"), "--quiet"], Refused("not a valid .npz")


@command("diffuse train: --lr inf")
def _(d, run):
    return ["diffuse", "train", "--lr", "inf", "--out", str(d / "run"), "--quiet"], Refused("--lr=inf")


@command("segment train: --lr inf")
def _(d, run):
    return seg(d, seg_folder(d / "data", 4), "--lr", "inf"), Refused("--lr=inf")

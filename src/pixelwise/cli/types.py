"""argparse value types shared by the command groups."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def seed(text: str) -> int:
    """argparse type of ``--seed``: a whole number >= 0 (numpy's generators refuse negative seeds)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give a seed >= 0, e.g. 0") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; give a seed >= 0, e.g. 0")
    return value


def threads(text: str) -> int:
    """argparse type of ``--threads``: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of threads >= 1, e.g. 2")
    return value


def spacing(text: str) -> tuple[float, float]:
    """argparse type of ``--spacing``: two numbers (rows, columns) > 0, written ``0.5,0.5``."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 2 or not min(values) > 0 or not all(v < float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"{text!r} is not a pixel spacing; give two numbers > 0 (rows, columns), "
                                         "e.g. 0.5,0.5")
    return values


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg", ".tif", ".tiff")


def check_output(path: str | Path, folder: bool) -> Path:
    """Refuse, before any work, an ``--out`` that cannot be written: a file where a folder is asked for (or the
    reverse), a path under a file, a folder without write permission, or an image name matplotlib cannot save."""
    from pixelwise.errors import PixelwiseError

    if not str(path).strip():
        raise PixelwiseError("--out is empty; give a path, e.g. --out runs/out.")
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise PixelwiseError(f"--out {path} is a file; give a folder (new or existing) instead.")
    if not folder:
        if path.is_dir():
            raise PixelwiseError(f"--out {path} is a folder; give a file name such as {path / 'samples.png'}.")
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise PixelwiseError(f"--out {path} does not end in an image type that can be written; use one of "
                                 f"{', '.join(IMAGE_SUFFIXES)}, e.g. {path.with_suffix('.png')}.")
    ancestor = path if folder else path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise PixelwiseError(f"--out {path} cannot be created: {ancestor} is a file; choose another --out.")
    if not os.access(ancestor, os.W_OK):
        raise PixelwiseError(f"--out {path} cannot be written: no permission in {ancestor}; choose another --out.")
    return path

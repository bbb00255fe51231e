"""Real photographs available offline, the Shepp-Logan phantom, and loading any image file or folder.

Bundled images (``pixelwise/data/images/``, licences in ``LICENSES.md`` next to them; both are
from scikit-image's ``skimage.data`` and carry no copyright restrictions):

- ``camera``: 512 x 512 grey photograph (CC0, Lav Varshney);
- ``astronaut``: Eileen Collins, NASA, public domain; 256 x 256 RGB (resized from 512 to keep the
  package small).

The Shepp-Logan head phantom is drawn from its ellipse table rather than stored: :func:`shepp_logan`.
Images come back as float32 tensors ``(C, H, W)`` in [0, 1].
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from pixelwise.data.decode import decode_image, native_channels, to_unit
from pixelwise.data.io import is_image_file, read_image
from pixelwise.errors import DataError, PixelwiseError

# name -> (file in pixelwise/data/images, native mode)
SAMPLES = {
    "camera": ("camera.png", "L"),
    "astronaut": ("astronaut.png", "RGB"),
}
PHANTOM_NAMES = ("shepp_logan",)

# Shepp & Logan (1974), "The Fourier reconstruction of a head section", IEEE TNS 21(3), Table 1:
# (intensity, semi-axis a (x), semi-axis b (y), centre x, centre y, rotation in degrees) on [-1, 1]^2,
# y pointing up. The intensities are additive where ellipses overlap.
SHEPP_LOGAN_ORIGINAL = (
    (2.00, 0.6900, 0.9200, 0.00, 0.0000, 0.0),
    (-0.98, 0.6624, 0.8740, 0.00, -0.0184, 0.0),
    (-0.02, 0.1100, 0.3100, 0.22, 0.0000, -18.0),
    (-0.02, 0.1600, 0.4100, -0.22, 0.0000, 18.0),
    (0.01, 0.2100, 0.2500, 0.00, 0.3500, 0.0),
    (0.01, 0.0460, 0.0460, 0.00, 0.1000, 0.0),
    (0.01, 0.0460, 0.0460, 0.00, -0.1000, 0.0),
    (0.01, 0.0460, 0.0230, -0.08, -0.6050, 0.0),
    (0.01, 0.0230, 0.0230, 0.00, -0.6060, 0.0),
    (0.01, 0.0230, 0.0460, 0.06, -0.6050, 0.0),
)
# Toft (1996), "The Radon transform: theory and implementation" (PhD thesis, DTU): the same ellipses
# with intensities raised so that the inner structures are visible (values in [0, 1]).
_TOFT_INTENSITIES = (1.0, -0.8, -0.2, -0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1)
SHEPP_LOGAN_MODIFIED = tuple((v,) + e[1:] for v, e in zip(_TOFT_INTENSITIES, SHEPP_LOGAN_ORIGINAL))


def sample_names() -> tuple[str, ...]:
    return tuple(SAMPLES) + PHANTOM_NAMES


def sample(name: str, grey: bool | None = None, size: int | None = None) -> torch.Tensor:
    """A bundled image as ``(C, H, W)`` float32 in [0, 1].

    ``grey=True`` converts colour to one channel (PIL's ITU-R 601 luma), ``grey=False`` gives 3
    channels, ``None`` keeps the native mode. ``size`` crops the centre ``size x size`` square
    (cropping, not resizing, keeps the photograph's own statistics).
    """
    if name in PHANTOM_NAMES:
        img = shepp_logan(size or 256)[None]
        return img.expand(3, -1, -1).clone() if grey is False else img
    if name not in SAMPLES:
        raise PixelwiseError(f"unknown sample {name!r}; choose one of {', '.join(sample_names())}.")
    file, native = SAMPLES[name]
    mode = native if grey is None else ("L" if grey else "RGB")
    with resources.as_file(resources.files("pixelwise.data") / "images" / file) as path:
        arr = read_image(path, mode=mode)
    img = to_tensor(arr)
    if size is not None:
        img = center_crop(img, size)
    return img


def to_tensor(arr: np.ndarray) -> torch.Tensor:
    """A decoded ``(H, W)`` or ``(H, W, C)`` image (uint8, uint16 or float32; :mod:`pixelwise.data.decode`) ->
    float32 ``(C, H, W)`` in [0, 1]."""
    t = torch.from_numpy(to_unit(arr))
    return t[None] if t.dim() == 2 else t.permute(2, 0, 1).contiguous()  # (H, W, C) -> (C, H, W)


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """float ``(C, H, W)`` in [0, 1] -> uint8 ``(H, W)`` or ``(H, W, 3)`` (clipped and rounded)."""
    return to_depth(img, np.uint8)


def to_depth(img: torch.Tensor, dtype=np.uint8) -> np.ndarray:
    """float ``(C, H, W)`` in [0, 1] -> ``(H, W)`` or ``(H, W, 3)`` of uint8 (x 255) or uint16 (x 65535), clipped
    and rounded."""
    top = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}.get(np.dtype(dtype))
    if top is None:
        raise ValueError(f"dtype {np.dtype(dtype)} must be uint8 or uint16.")
    arr = (img.detach().to(torch.float64).clamp(0, 1) * top).round().numpy().astype(dtype)
    return arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)


def center_crop(img: torch.Tensor, size: int) -> torch.Tensor:
    """The centre ``size x size`` square of ``(C, H, W)``."""
    h, w = img.shape[-2:]
    if int(size) != size or size < 1 or size > min(h, w):
        raise PixelwiseError(
            f"crop size {size} must be a whole number between 1 and {min(h, w)} for a {h}x{w} image."
        )
    top, left = (h - size) // 2, (w - size) // 2
    return img[..., top : top + size, left : left + size]


def load_image(path: str | Path, grey: bool | None = False) -> torch.Tensor:
    """Any image file as ``(C, H, W)`` float32 in [0, 1] by the decoding rules of :mod:`pixelwise.data.decode`
    (C = 1 with ``grey``, 3 with ``grey=False``, the file's own with ``None``)."""
    channels = native_channels(path) if grey is None else (1 if grey else 3)
    return to_tensor(decode_image(path, channels))


def load_folder(folder: str | Path, grey: bool = False) -> list[tuple[str, torch.Tensor]]:
    """Every image in ``folder`` (sorted by name, not recursive) as ``(stem, image)`` pairs."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; give a folder of images.")
    files = sorted(p for p in folder.iterdir() if is_image_file(p))
    if not files:
        raise DataError(f"no images (.png, .jpg, .bmp, .tif) in {folder}.")
    return [(p.stem, load_image(p, grey)) for p in files]


def shepp_logan(size: int = 256, modified: bool = True) -> torch.Tensor:
    """The Shepp-Logan phantom ``(size, size)`` float32, drawn from its ellipse table at pixel centres.

    ``modified=True`` uses Toft's intensities (values in [0, 1]); ``False`` the original ones
    (values in [0, 2], inner contrast of 1-2 %).
    """
    if int(size) != size or size < 2:
        raise PixelwiseError(f"phantom size {size} must be a whole number >= 2.")
    table = SHEPP_LOGAN_MODIFIED if modified else SHEPP_LOGAN_ORIGINAL
    coords = (torch.arange(size, dtype=torch.float64) + 0.5) / size * 2 - 1  # pixel centres in [-1, 1]
    y = -coords[:, None]  # rows go down, y goes up
    x = coords[None, :]
    img = torch.zeros(size, size, dtype=torch.float64)
    for value, a, b, x0, y0, phi in table:
        c, s = math.cos(math.radians(phi)), math.sin(math.radians(phi))
        u = (x - x0) * c + (y - y0) * s  # coordinates in the ellipse's own axes
        v = -(x - x0) * s + (y - y0) * c
        img = img + value * ((u / a) ** 2 + (v / b) ** 2 <= 1.0)
    if modified:
        img = img.clamp(min=0.0)  # 1 - 0.8 - 0.2 leaves -1e-17 in the ventricles
    return img.to(torch.float32)

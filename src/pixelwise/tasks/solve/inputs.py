"""The files ``pixelwise solve`` reads, each checked and refused in one sentence naming it: the clean image, a
measurement file, an inpainting mask and the validation photographs of ``--lambda auto``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pixelwise.data.folders import list_images
from pixelwise.data.masks import decode_mask
from pixelwise.data.samples import center_crop, load_image, sample
from pixelwise.errors import PixelwiseError
from pixelwise.physics import imresize
from pixelwise.tasks.solve.config import SolveConfig

PRODUCER = "`pixelwise solve`"


def _existing_file(path: str, what: str, fix: str) -> Path:
    path = Path(path)
    if path.is_dir():
        raise PixelwiseError(f"{what} {path} is a folder; {fix}")
    if not path.is_file():
        raise PixelwiseError(f"{what} {path} does not exist; {fix}")
    return path


def load_truth(config: SolveConfig) -> torch.Tensor | None:
    """The clean image as (1, C, H, W) float64 in [0, 1] (centre-cropped to ``size``), or None without one. C is
    the file's own (1 for a grey file, 3 for a colour one), or 1 with ``grey``."""
    if config.image is None:
        return None
    path = _existing_file(config.image, "image", "give the path of one image file.")
    img = load_image(path, grey=True if config.grey else None)
    if config.size is not None:
        img = center_crop(img, config.size)
    return img[None].double()  # (1, C, H, W)


def load_measured(config: SolveConfig) -> torch.Tensor:
    """A measurement file as (1, ...) float64: the ``measurement.npy`` of an earlier run ((C, H, W), or
    (C, H, W, 2) k-space for MRI), or an image for the operators whose measurement is an image."""
    operator = config.measurement.operator
    path = _existing_file(config.measured, "measurement", f"give the .npy file written by {PRODUCER}.")
    if path.suffix.lower() != ".npy":
        if operator in ("mri", "ct"):
            raise PixelwiseError(f"measurement {path} is not a .npy file; a {operator} measurement must be the "
                                 f"measurement.npy written by {PRODUCER}.")
        return load_image(path, grey=True if config.grey else None)[None].double()
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise PixelwiseError(f"measurement {path} is not a readable .npy array ({err}); give the measurement.npy "
                             f"written by {PRODUCER}.") from None
    expected = 4 if operator == "mri" else 3  # (C, H, W), and MRI's k-space has a last axis of 2
    if arr.ndim != expected or arr.dtype.kind not in "fiu":
        raise PixelwiseError(f"measurement {path} holds a {arr.dtype} array of shape {arr.shape}; a {operator} "
                             f"measurement is {expected}-D numbers, as in the measurement.npy written by "
                             f"{PRODUCER}.")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise PixelwiseError(f"measurement {path} holds {bad} NaN or infinite value(s); a solver cannot use them: "
                             "repair or mask the measurement first.")
    return torch.from_numpy(np.asarray(arr, dtype=np.float64))[None]  # (1, ...)


def read_mask(config: SolveConfig, size: tuple[int, int]) -> torch.Tensor | None:
    """The inpainting mask file as (H, W) float64 0/1 (the kept pixels, read by the binary-mask rules of
    :mod:`pixelwise.data.masks`: 0/1 files, palette 0/1, or grey > 127), checked against the image ``size``; None
    without one (the operator then draws a random mask)."""
    if config.mask is None:
        return None
    path = _existing_file(config.mask, "mask", "give a mask image of the image's size (white = kept).")
    mask = torch.from_numpy(decode_mask(path)).double()
    if tuple(mask.shape) != tuple(size):
        raise PixelwiseError(f"mask {path} is {mask.shape[0]}x{mask.shape[1]} but the image is {size[0]}x{size[1]}; "
                             "give a mask of the image's size.")
    return mask


def image_shape(config: SolveConfig, y: torch.Tensor) -> tuple[int, int, int]:
    """(C, H, W) of the image behind a measurement ``y`` read without its clean image: ``image_size`` if given,
    else what the operator's measurement says (refused where it cannot say)."""
    m, c = config.measurement, y.shape[1]
    if config.image_size is not None:
        return (c, *config.image_size)
    if m.operator == "mri":
        return (c, y.shape[-3], y.shape[-2])  # k-space (1, C, H, W, 2)
    if m.operator == "downsample":
        return (c, y.shape[-2] * m.scale, y.shape[-1] * m.scale)
    if m.operator == "ct" or (m.operator == "blur" and m.boundary == "valid"):
        raise PixelwiseError(f"the image size of a {m.operator} measurement is ambiguous; give --image-size HxW "
                             "or the clean IMAGE.")
    return (c, y.shape[-2], y.shape[-1])


def validation_images(config: SolveConfig, shape: tuple[int, int, int]) -> list[torch.Tensor]:
    """The photographs ``--lambda auto`` scores its weights on, each as (1, C, H, W) of the image's ``shape``: the
    ``validation`` file, every image of the ``validation`` folder (sorted by name), or the bundled astronaut,
    resized. The image being reconstructed is refused among them: a weight chosen on its own truth reports an
    optimistic score."""
    c, h, w = shape
    if config.validation is None:
        found = [sample("astronaut", grey=(c == 1))]
    else:
        path = Path(config.validation)
        if not path.exists():
            raise PixelwiseError(f"validation image {path} does not exist; give the path of an image file or of a "
                                 "folder of them.")
        paths = list_images([path])
        if config.image is not None and Path(config.image).resolve() in {p.resolve() for p in paths}:
            raise PixelwiseError(f"validation {path} holds the image being reconstructed ({config.image}), whose "
                                 "score would then be optimistic; validate on other images.")
        found = [load_image(p, grey=(c == 1)) for p in paths]
    images = []
    for img in found:
        img = img[None].double()
        if tuple(img.shape[-2:]) != (h, w):
            img = imresize(img, size=(h, w)).clamp(0, 1)
        images.append(img)
    return images

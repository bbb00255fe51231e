"""Restoration data: clean images (a folder, the bundled photographs or random phantoms), measured pairs,
the seeded split, random patches and simulated measurements."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from pixelwise.data.io import is_image_file
from pixelwise.data.memory import check_fits
from pixelwise.data.phantoms import random_ellipses
from pixelwise.data.samples import load_image, sample
from pixelwise.errors import DataError
from pixelwise.metrics.image import rgb_to_y
from pixelwise.physics import BicubicDownsample, Identity, LinearOperator, imresize
from pixelwise.tasks.restore.config import RestorationConfig

PHANTOM_SEEDS = {"train": 0, "val": 1, "test": 2}  # training, validation and test phantoms: different draws


def grey(img: torch.Tensor, operator: str) -> torch.Tensor:
    """(3, H, W) -> (1, H, W): BT.601 Y (MATLAB rgb2ycbcr) for super-resolution, so that training matches the
    SR protocol; plain luma otherwise."""
    if operator == "downsample":
        return rgb_to_y(img, 1.0).to(torch.float32)
    return (0.299 * img[0:1] + 0.587 * img[1:2] + 0.114 * img[2:3]).to(torch.float32)


def with_channels(config: RestorationConfig, img: torch.Tensor) -> torch.Tensor:
    """A (C, H, W) image with the run's channels. A grey image stays its own grey levels (repeated for a colour
    run): the SR protocol scores a one-channel file on its grey levels, as MATLAB does, never on the Y of an RGB
    copy (16..235, which inflated PSNR by over 1 dB); a colour image becomes grey as :func:`grey`."""
    if img.shape[0] == 1:
        return img if config.channels == 1 else img.expand(3, -1, -1).clone()
    return grey(img, config.operator) if config.channels == 1 else img


def read_clean(config: RestorationConfig, path: Path) -> torch.Tensor:
    """An image file as (C, H, W) in [0, 1] with the run's channels (see :func:`with_channels`)."""
    return with_channels(config, load_image(path, grey=None))  # the file's own channels


def fit_to_operator(config: RestorationConfig, img: torch.Tensor) -> torch.Tensor:
    """MRI / CT: the centre square resized to ``size``; super-resolution: cropped to a multiple of the scale."""
    h, w = img.shape[-2:]
    if config.fixed_size:
        s = min(h, w)
        img = img[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        if s != config.size:
            img = imresize(img[None].double(), size=(config.size, config.size))[0].clamp(0, 1).float()
        return img
    if config.operator == "downsample":
        scale = config.measurement.scale
        img = img[..., : h - h % scale, : w - w % scale]
    return img


def clean_images(config: RestorationConfig, source: str, role: str) -> list[tuple[str, torch.Tensor]]:
    """``(name, (C, H, W))`` clean images from a folder, "bundled" or "phantoms" (``role``, one of train, val and
    test, picks the draw of the phantoms)."""
    if source == "phantoms":
        count = {"train": config.phantoms, "val": max(2, config.phantoms // 8), "test": 8}[role]
        check_fits(count * config.size**2 * 4 * 4, f"{count} phantoms at --size {config.size}", "use a smaller --size.")
        g = torch.Generator().manual_seed(config.seed + PHANTOM_SEEDS[role] * 7919)
        imgs = random_ellipses(count, config.size, g)  # (count, 1, size, size)
        return [(f"phantom{i:03d}", imgs[i]) for i in range(count)]
    if source == "bundled":
        found = [(name, sample(name)) for name in ("camera", "astronaut")]  # camera is grey, astronaut colour
        return [(n, fit_to_operator(config, with_channels(config, x))) for n, x in found]
    folder = Path(source)
    if not folder.is_dir():
        raise DataError(f"--data {folder} is not a folder; give a folder of images, 'bundled' or 'phantoms'.")
    files = sorted(p for p in folder.iterdir() if is_image_file(p))
    if not files:
        raise DataError(f"no images (.png, .jpg, .bmp, .tif) in {folder}; add images or give another --data.")
    if config.fixed_size:
        check_fits(len(files) * config.size**2 * 4 * config.channels * 4, f"{len(files)} images at --size "
                   f"{config.size}", "use a smaller --size.")
    return [(p.stem, fit_to_operator(config, read_clean(config, p))) for p in files]


def split_images(config: RestorationConfig, images: list) -> tuple[list, list]:
    """A seeded train / validation split of a folder's images; with one image (or phantoms, whose validation
    images are a draw of their own) both are all of them."""
    if config.data == "phantoms" or len(images) < 2:
        return images, images
    n_val = max(1, round(config.val_fraction * len(images))) if config.val_fraction > 0 else 0
    if n_val == 0:
        return images, images[:1]
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(config.seed)).tolist()
    return [images[i] for i in order[n_val:]], [images[i] for i in order[:n_val]]


def training_images(config: RestorationConfig) -> tuple[list, list]:
    """The training and validation images ``[(name, (C, H, W))]`` of a run, each at least a training crop."""
    if config.data == "phantoms":
        train, val = clean_images(config, "phantoms", "train"), clean_images(config, "phantoms", "val")
    else:
        train, val = split_images(config, clean_images(config, config.data, "train"))
    p = config.train_size
    small = [name for name, x in train if min(x.shape[-2:]) < p]
    if small:
        raise DataError(f"{len(small)} training image(s) of {config.data} (e.g. {small[0]}) are smaller than the "
                        f"{p}-pixel patch; lower --patch.")
    return train, val


def validation_images(config: RestorationConfig) -> list[tuple[str, torch.Tensor]]:
    """The run's validation images (phantoms: the validation draw), as :func:`training_images` splits them."""
    if config.data == "phantoms":
        return clean_images(config, "phantoms", "val")
    return split_images(config, clean_images(config, config.data, "train"))[1]


def random_patches(images: Sequence[torch.Tensor], n: int, p: int, generator: torch.Generator,
                   augment: bool) -> torch.Tensor:
    """``(n, C, p, p)`` crops at random places of random images, with random flips and quarter turns."""
    out = []
    for _ in range(n):
        img = images[int(torch.randint(len(images), (), generator=generator))]
        h, w = img.shape[-2:]
        top = int(torch.randint(h - p + 1, (), generator=generator))
        left = int(torch.randint(w - p + 1, (), generator=generator))
        crop = img[:, top:top + p, left:left + p]
        if augment:
            if torch.rand((), generator=generator) < 0.5:
                crop = crop.flip(-1)
            crop = torch.rot90(crop, int(torch.randint(4, (), generator=generator)), (-2, -1))
        out.append(crop)
    return torch.stack(out)  # (n, C, p, p)


def sigmas(config: RestorationConfig, n: int, generator: torch.Generator) -> torch.Tensor:
    """``(n,)`` noise levels in [0, 1] units: ``sigma / 255``, or drawn uniformly from ``sigma_range``."""
    if config.sigma_range is None:
        return torch.full((n,), config.sigma / 255.0)
    lo, hi = config.sigma_range
    return (lo + (hi - lo) * torch.rand(n, generator=generator)) / 255.0


def simulate(op: LinearOperator, x: torch.Tensor, sigma: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``A x + sigma_i n`` with ``n ~ N(0, I)`` and one sigma per image (no clipping)."""
    y = op.A(x)
    noise = torch.randn(y.shape, generator=generator, dtype=y.dtype)
    return y + sigma.to(y.dtype).view(-1, *([1] * (y.dim() - 1))) * noise


def pairs_operator(config: RestorationConfig) -> LinearOperator:
    """The pairs regime has no A: only this operator's naive step is used (bicubic pre-upsampling for SR)."""
    return BicubicDownsample(config.measurement.scale) if config.operator == "downsample" else Identity()


def load_pairs(config: RestorationConfig, folder: str | Path) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """``(stem, input, target)`` from ``folder/input`` and ``folder/target`` (the same stems; the target the
    input's size, or ``scale`` times it for super-resolution), each checked before any is used."""
    folder = Path(folder)
    found = {}
    for side in ("input", "target"):
        sub = folder / side
        if not sub.is_dir():
            raise DataError(f"the pairs regime needs {sub}; put measurements in input/ and clean images in target/.")
        found[side] = {p.stem: p for p in sorted(sub.iterdir()) if is_image_file(p)}
    stems = sorted(found["input"])
    if not stems or set(stems) != set(found["target"]):
        raise DataError(f"input/ and target/ in {folder} must hold images with the same names (and at least one).")
    r = config.measurement.scale if config.operator == "downsample" else 1
    out = []
    for s in stems:
        y, x = read_clean(config, found["input"][s]), read_clean(config, found["target"][s])
        x = x[..., : y.shape[-2] * r, : y.shape[-1] * r]
        if tuple(x.shape[-2:]) != (y.shape[-2] * r, y.shape[-1] * r):
            raise DataError(f"pair {s}: the target {tuple(x.shape[-2:])} is not {r} x the input "
                            f"{tuple(y.shape[-2:])}; give aligned pairs.")
        if min(x.shape[-2:]) < config.patch:
            raise DataError(f"pair {s} is smaller than --patch {config.patch}; use a smaller patch.")
        out.append((s, y, x))
    return out

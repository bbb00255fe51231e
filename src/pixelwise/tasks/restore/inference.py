"""A trained restoration run from its folder, and applied to measured images."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from pixelwise.data.folders import list_images, refuse_writing_over_inputs, unique_stems
from pixelwise.data.io import depth_to_write, write_image
from pixelwise.data.samples import to_depth
from pixelwise.errors import PixelwiseError
from pixelwise.models.ensemble import dihedral_mean
from pixelwise.models.tiling import Tiles, sliding_window
from pixelwise.physics import LinearOperator
from pixelwise.physics.presets import build_operator
from pixelwise.tasks.restore.config import IMAGE_MEASUREMENTS, RestorationConfig, check_sigma
from pixelwise.tasks.restore.data import read_clean
from pixelwise.tasks.restore.models import Restorer, build_model
from pixelwise.train.checkpoint import load_weights
from pixelwise.train.devices import device_of, resolve_device
from pixelwise.train.runs import checkpoint_path, read_config

OPERATOR_SEED = 7  # the fixed operator of a run (an MRI mask) draws from config.seed + this
APPLICABLE = tuple(op for op in IMAGE_MEASUREMENTS if op != "inpaint")  # an inpainting mask is not in a picture


def fixed_operator(config: RestorationConfig) -> LinearOperator:
    """The operator a run trains with at its training size (MRI: its one mask), seeded by the run."""
    p = config.train_size
    return build_operator(config.measurement, (p, p), torch.Generator().manual_seed(config.seed + OPERATOR_SEED))


def load_run(run_dir: str | Path, which: str = "best", device: str = "cpu"
             ) -> tuple[RestorationConfig, Restorer, LinearOperator]:
    """The config, the trained network (``which`` = "best" or "last", eval mode, on ``device``: a name as in
    :mod:`pixelwise.train.devices`) and the fixed operator of a run folder; a folder that is not a restore run,
    or a damaged checkpoint, is refused in one sentence."""
    config = read_config(RestorationConfig, run_dir)
    target = resolve_device(device)
    op = fixed_operator(config)
    model = build_model(config, op if config.model == "unrolled" else None)
    load_weights(model, checkpoint_path(run_dir, which))
    return config, model.eval().to(target), op


def check_ensemble(config: RestorationConfig) -> None:
    """Refuse the x8 self-ensemble (:mod:`pixelwise.models.ensemble`) where the task lacks the square's symmetries:
    MRI's Cartesian lines and motion blur have a direction, CT's views a start, and the unrolled network takes the
    operator itself. Allowed: denoising, down-sampling, inpainting, and Gaussian or box blur."""
    m = config.measurement
    if config.model == "unrolled" or m.operator in ("mri", "ct") or (m.operator == "blur" and m.kernel == "motion"):
        what = "the unrolled network" if config.model == "unrolled" else (
            "motion blur" if m.operator == "blur" else m.operator.upper())
        raise PixelwiseError(f"--ensemble averages the network over flips and quarter turns, which {what} is not "
                             "symmetric under; leave out --ensemble (it serves denoise, sr, inpaint and Gaussian or "
                             "box blur runs).")


def minimum_tile(config: RestorationConfig) -> int:
    """The smallest window a run's network takes: one pixel at the residual U-Net's deepest level, else 8."""
    return 2 ** (config.depth or 3) if config.model == "unet" else 8


def check_tiles(config: RestorationConfig, tiles: Tiles, images: Sequence[tuple[str, tuple[int, int]]]) -> None:
    """Refuse a window that the network cannot take, or that is larger than one of the ``images`` (name,
    (height, width) of what the network is fed), before anything is written."""
    if tiles.tile is None:
        return
    if config.model == "unrolled":
        raise PixelwiseError(f"tile={tiles.tile}: the unrolled network applies the operator A to the whole image, "
                             "so it cannot predict window by window; leave out --tile.")
    if tiles.tile < minimum_tile(config):
        raise PixelwiseError(f"tile={tiles.tile} is smaller than the smallest window this {config.model} takes, "
                             f"{minimum_tile(config)} pixels; use --tile {minimum_tile(config)} or more.")
    for name, (h, w) in images:
        if tiles.tile > min(h, w):
            raise PixelwiseError(f"tile={tiles.tile} is larger than {name}, {h}x{w} as the network sees it; use a "
                                 f"--tile below {min(h, w) + 1}, or leave --tile out.")


@torch.no_grad()
def restore(model: Restorer, y: torch.Tensor, op: LinearOperator, tiles: Tiles | None = None,
            ensemble: bool = False) -> torch.Tensor:
    """The network's image of measurements ``y`` (N, ...) of ``op``, on the CPU: whole, on the network's device, or
    with ``tiles`` window by window (:func:`~pixelwise.models.tiling.sliding_window`) over the naive image
    (or, for post-upsampling, over the measurement, the windows scaled up by the network's factor). ``ensemble``:
    the network averaged over the eight flips and quarter turns of what it is fed (of each window when tiled)."""
    device = device_of(model)
    tiled = tiles is not None and tiles.tile is not None
    if not (tiled or ensemble):
        return model((y.to(device), op)).cpu()
    if model.input == "operator":
        raise PixelwiseError("the unrolled network cannot predict window by window; leave out --tile.")
    source = y if model.input == "measurement" else op.naive(y).to(y.dtype)
    net = model.image_net()
    if ensemble:
        net = lambda v, f=net: dihedral_mean(f, v)  # noqa: E731
    if not tiled:
        return net(source.to(device)).cpu()
    scale = getattr(model.net, "scale", 1) if model.input == "measurement" else 1  # PostUpsample's factor
    return sliding_window(net, source, tiles.tile, tiles.overlap, tiles.batch, scale=scale, device=device)


def apply(run_dir: str | Path, inputs: Sequence[str | Path], out: str | Path, which: str = "best",
          progress: bool = True, log: Callable[[str], None] = print, tiles: Tiles | None = None,
          device: str = "auto", sigma: float | None = None, ensemble: bool = False) -> list[Path]:
    """Restore measured images (noisy, low-resolution or blurred pictures) with a run's network and write
    ``out/<stem>.png``. Every input is read (and the ``tiles`` window checked against it) before anything is
    written. A grey run (``channels=1``) reads colour files as grey (the BT.601 Y channel for super-resolution)
    and writes grey results, at 16 bits for an input deeper than 8 (16-bit or float), else at 8. ``device``:
    where the network runs (:mod:`pixelwise.train.devices`). ``sigma``: the pictures' noise level in grey levels,
    told to a network trained with a noise map (default: the run's). ``ensemble``: the x8 self-ensemble
    (:func:`check_ensemble` says where it is refused)."""
    from tqdm.auto import tqdm

    tiles = tiles or Tiles()
    config, model, _ = load_run(run_dir, which, device)
    if sigma is not None:
        if model.noise_level is None:
            raise PixelwiseError(f"--sigma {sigma} tells a network the noise level, but {run_dir} was trained without "
                                 "--noise-map; leave out --sigma.")
        model.noise_level = check_sigma(sigma) / 255.0
    if config.operator not in APPLICABLE:
        raise PixelwiseError(f"apply restores pictures measured by {', '.join(APPLICABLE)}; this {config.operator} "
                             "run needs its operator's measurements: use `pixelwise restore eval`.")
    if ensemble:
        check_ensemble(config)
    paths = unique_stems(list_images(list(inputs)))
    refuse_writing_over_inputs(paths, out, "restored")
    images = [(p.stem, read_clean(config, p)) for p in paths]
    scale = config.measurement.scale if config.operator == "downsample" else 1
    fed = [(p.name, y.shape[-2:] if config.model == "post" else (y.shape[-2] * scale, y.shape[-1] * scale))
           for p, (_, y) in zip(paths, images)]  # what the network is fed: the measurement, or the naive image
    check_tiles(config, tiles, fed)
    out = Path(out)
    written, deep = [], 0
    for path, (stem, y) in tqdm(list(zip(paths, images)), desc="restoring", disable=not progress, leave=False):
        h, w = y.shape[-2:]
        op = build_operator(config.measurement, (h * scale, w * scale), torch.Generator().manual_seed(config.seed))
        x = restore(model, y[None], op, tiles, ensemble)[0]
        depth = depth_to_write(path, config.channels)
        deep += depth == np.uint16
        write_image(out / f"{stem}.png", to_depth(x.clamp(0, 1), depth))
        written.append(out / f"{stem}.png")
    log(f"wrote {len(written)} images to {out}" + (f" ({deep} at 16 bits, as their inputs)" if deep else ""))
    return written

"""A trained restoration run from its folder, and applied to measured images."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from pixelwise.data.folders import list_images, unique_stems
from pixelwise.data.io import write_image
from pixelwise.data.samples import to_uint8
from pixelwise.errors import PixelwiseError
from pixelwise.physics import LinearOperator
from pixelwise.physics.presets import build_operator
from pixelwise.tasks.restore.config import IMAGE_MEASUREMENTS, RestorationConfig
from pixelwise.tasks.restore.data import read_clean
from pixelwise.tasks.restore.models import Restorer, build_model
from pixelwise.train.checkpoint import load_weights
from pixelwise.train.runs import checkpoint_path, read_config

OPERATOR_SEED = 7  # the fixed operator of a run (an MRI mask) draws from config.seed + this
APPLICABLE = tuple(op for op in IMAGE_MEASUREMENTS if op != "inpaint")  # an inpainting mask is not in a picture


def fixed_operator(config: RestorationConfig) -> LinearOperator:
    """The operator a run trains with at its training size (MRI: its one mask), seeded by the run."""
    p = config.train_size
    return build_operator(config.measurement, (p, p), torch.Generator().manual_seed(config.seed + OPERATOR_SEED))


def load_run(run_dir: str | Path, which: str = "best") -> tuple[RestorationConfig, Restorer, LinearOperator]:
    """The config, the trained network (``which`` = "best" or "last", eval mode) and the fixed operator of a run
    folder; a folder that is not a restore run, or a damaged checkpoint, is refused in one sentence."""
    config = read_config(RestorationConfig, run_dir)
    op = fixed_operator(config)
    model = build_model(config, op if config.model == "unrolled" else None)
    load_weights(model, checkpoint_path(run_dir, which))
    return config, model.eval(), op


def apply(run_dir: str | Path, inputs: Sequence[str | Path], out: str | Path, which: str = "best",
          progress: bool = True, log: Callable[[str], None] = print) -> list[Path]:
    """Restore measured images (noisy, low-resolution or blurred pictures) with a run's network and write
    ``out/<stem>.png``. Every input is read before anything is written. A grey run (``channels=1``) reads colour
    files as grey (the BT.601 Y channel for super-resolution) and writes grey results."""
    from tqdm.auto import tqdm

    config, model, _ = load_run(run_dir, which)
    if config.operator not in APPLICABLE:
        raise PixelwiseError(f"apply restores pictures measured by {', '.join(APPLICABLE)}; this {config.operator} "
                             "run needs its operator's measurements: use `pixelwise restore eval`.")
    paths = unique_stems(list_images(list(inputs)))
    images = [(p.stem, read_clean(config, p)) for p in paths]
    scale = config.measurement.scale if config.operator == "downsample" else 1
    out = Path(out)
    written = []
    for stem, y in tqdm(images, desc="restoring", disable=not progress, leave=False):
        h, w = y.shape[-2:]
        op = build_operator(config.measurement, (h * scale, w * scale), torch.Generator().manual_seed(config.seed))
        with torch.no_grad():
            x = model((y[None], op))[0]
        write_image(out / f"{stem}.png", to_uint8(x.clamp(0, 1)))
        written.append(out / f"{stem}.png")
    log(f"wrote {len(written)} images to {out}")
    return written

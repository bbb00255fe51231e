"""``run(config)``: two images -> the registration, the warped image, the transform, scores and a figure."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from pixelwise.data.decode import native_channels
from pixelwise.data.io import depth_to_write, read_image, write_image
from pixelwise.data.samples import to_depth
from pixelwise.data.tensors import unit_tensor
from pixelwise.errors import PixelwiseError
from pixelwise.registration import MEASURES, Registration, inverse_consistency, register
from pixelwise.registration.warp import affine_grid
from pixelwise.tasks.register.config import RegisterConfig
from pixelwise.train.files import write_json
from pixelwise.train.runs import RunFolder, RunResult

CONVENTION = ("T(p) = A p + t + u(p) maps points of the fixed image to points of the moving image, and "
              "warped(p) = moving(T(p)); p = (x, y) = (column + 1/2 - W/2, row + 1/2 - H/2) in pixels of each image "
              "(SimpleITK's convention with each image's origin at its centre); u is displacement.npy (2, H, W), "
              "x then y components, on the fixed grid. pixel_matrix maps (column, row, 1) of the fixed image to "
              "(column, row, 1) of the moving image (the linear part only).")


def channels_of(path: str) -> int:
    """1 for a grey image file, 3 for a colour one (read from the header by the decoding rules)."""
    p = Path(path)
    if not p.is_file():
        what = "is a folder" if p.is_dir() else "does not exist"
        raise PixelwiseError(f"image {p} {what}; give the path of an image file.")
    return native_channels(p)


def read_pair(config: RegisterConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed and moving images as (1, C, H, W) floats in [0, 1], refused if their channels differ."""
    cf, cm = channels_of(config.fixed), channels_of(config.moving)
    if cf != cm and not config.grey:
        raise PixelwiseError(f"{config.fixed} has {cf} channel(s) but {config.moving} has {cm}; register images "
                             "with the same channels, or pass --grey to register both as grey.")
    mode = "L" if config.grey or cf == 1 else "RGB"

    def tensor(path: str) -> torch.Tensor:
        x = read_image(path, mode)
        x = x[..., None] if x.ndim == 2 else x
        return unit_tensor(x[None])

    return tensor(config.fixed), tensor(config.moving)


def similarities(fixed: torch.Tensor, warped: torch.Tensor, config: RegisterConfig) -> dict:
    """Every similarity measure of the pair (SSD, SAD, NCC, local NCC, NMI)."""
    options = {"nmi": {"bins": config.bins}, "lncc": {"window": config.window}}
    return {name: float(fn(fixed, warped, **options.get(name, {}))[0]) for name, (fn, _) in MEASURES.items()}


def _register(fixed: torch.Tensor, moving: torch.Tensor, config: RegisterConfig, bar) -> Registration:
    return register(fixed, moving, config.transform, config.metric, config.levels, config.iterations, config.lr,
                    config.regulariser, config.weight, deformable_lr=config.deformable_lr,
                    measure_options=config.measure_options(), callback=lambda entry: bar.update(1))


def pixel_matrix(reg: Registration) -> list[list[float]]:
    """The 3 x 3 map of (column, row, 1) of the fixed image to the moving image: [A | t + c_m - A c_f], with c the
    centre (W/2 - 1/2, H/2 - 1/2) of each image in pixel indices."""
    a, t = reg.matrix[0].double(), reg.translation[0].double()
    c_f = torch.tensor([reg.fixed_shape[1] / 2 - 0.5, reg.fixed_shape[0] / 2 - 0.5], dtype=torch.float64)
    c_m = torch.tensor([reg.moving_shape[1] / 2 - 0.5, reg.moving_shape[0] / 2 - 0.5], dtype=torch.float64)
    top = torch.cat([a, (t + c_m - a @ c_f)[:, None]], dim=1)
    return [*top.tolist(), [0.0, 0.0, 1.0]]


def run(config: RegisterConfig, overwrite: bool = False, progress: bool = True,
        log: Callable[[str], None] = print) -> RunResult:
    """Register, then write warped.png, transform.json (and displacement.npy), metrics.json, figure.png and
    config.json into the new folder ``config.out``; both images are read and checked before anything is written."""
    from tqdm.auto import tqdm

    from pixelwise.report.registration import write_figure

    t0 = time.perf_counter()
    folder = RunFolder(config, overwrite=overwrite)
    fixed, moving = read_pair(config)
    stages = (2 if config.transform == "deformable" else 1) * config.levels * (2 if config.inverse else 1)
    with tqdm(total=stages, desc="registering", unit="level", disable=not progress, leave=False) as bar:
        reg = _register(fixed, moving, config, bar)
        back = _register(moving, fixed, config, bar) if config.inverse else None
    out = folder.create()
    with torch.no_grad():
        identity = affine_grid(torch.eye(2)[None], torch.zeros(1, 2), reg.fixed_shape, reg.moving_shape)
        before = torch.nn.functional.grid_sample(moving, identity, padding_mode="border", align_corners=False)
        warped = reg.warp(moving)
        jac = reg.jacobian()
    write_image(out / "warped.png", to_depth(warped[0], depth_to_write(config.moving, warped.shape[1])))
    transform = {"convention": CONVENTION, "transform": config.transform, "matrix": reg.matrix[0].tolist(),
                 "translation": reg.translation[0].tolist(), "fixed_shape": list(reg.fixed_shape),
                 "moving_shape": list(reg.moving_shape), "pixel_matrix": pixel_matrix(reg),
                 "displacement": "displacement.npy" if reg.displacement is not None else None}
    if reg.displacement is not None:
        np.save(out / "displacement.npy", reg.displacement[0].numpy())
    write_json(out / "transform.json", transform)
    metrics = {"metric": config.metric, "before": similarities(fixed, before, config),
               "after": similarities(fixed, warped, config), "history": reg.history,
               "jacobian": {"min": float(jac.min()), "max": float(jac.max()),
                            "folded_fraction": float((jac <= 0).float().mean())},
               "inverse_consistency": inverse_consistency(reg, back) if back is not None else None,
               "seconds": time.perf_counter() - t0}
    write_json(out / "metrics.json", metrics)
    write_figure(out / "figure.png", fixed, moving, before, warped, reg, config.metric, metrics)
    b, a = metrics["before"][config.metric], metrics["after"][config.metric]
    ic = metrics["inverse_consistency"]
    log(f"{config.transform} registration by {config.metric}: {b:.4f} -> {a:.4f}"
        + (f"; inverse consistency {ic['mean']:.3f} px mean, {ic['max']:.3f} px max" if ic else ""))
    return RunResult(out, metrics, [], time.perf_counter() - t0)

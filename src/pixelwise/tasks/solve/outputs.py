"""What ``pixelwise solve`` writes besides ``config.json`` and ``metrics.json``: the measurement (``.npy`` and a
picture of it), the inpainting or k-space mask, the naive and the solver reconstructions as PNGs, the figure
(truth, measurement, naive, reconstructions with PSNR / SSIM), and the plain-text table the command prints."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from pixelwise.data.io import write_image
from pixelwise.data.samples import to_depth, to_uint8
from pixelwise.physics import MRI, Inpainting, LinearOperator
from pixelwise.report.reconstruction import measurement_picture, side_by_side, to_display


def write_picture(path: Path, x: torch.Tensor, depth=np.uint8) -> None:
    """A (1, C, H, W) reconstruction as a PNG of ``depth`` (uint8, or uint16 for grey), clipped to [0, 1] as the
    scores see it."""
    write_image(path, to_depth(x[0].clamp(0, 1), depth))


def write_measurement(out: Path, op: LinearOperator, y: torch.Tensor, naive: torch.Tensor, depth=np.uint8) -> None:
    """``measurement.npy`` (reusable with ``--measured``), ``measurement.png``, ``naive.png`` (at ``depth``) and,
    for inpainting and MRI, ``mask.png`` (white = kept pixels or sampled k-space lines)."""
    np.save(out / "measurement.npy", y[0].numpy().astype(np.float32))
    picture = np.atleast_3d(measurement_picture(op, y)).transpose(2, 0, 1)  # (C, H, W)
    write_image(out / "measurement.png", to_uint8(torch.from_numpy(picture.copy())))
    if isinstance(op, (Inpainting, MRI)):
        size = naive.shape[-2:]
        mask = op.mask if op.mask.dim() == 2 else op.mask[None, :].expand(size[0], -1)  # MRI: lines -> (H, W)
        write_image(out / "mask.png", (mask.numpy() * 255).astype(np.uint8))
    write_picture(out / "naive.png", naive, depth)


def label(name: str, row: dict) -> str:
    """A panel title: the name, and PSNR / SSIM when the truth is known."""
    if "psnr" not in row:
        return name
    value = "inf" if math.isinf(row["psnr"]) else f"{row['psnr']:.2f}"
    return f"{name}\nPSNR {value} dB" + ("" if row.get("ssim") is None else f", SSIM {row['ssim']:.3f}")


def write_figure(path: Path, truth: torch.Tensor | None, op: LinearOperator, y: torch.Tensor,
                 naive: tuple[dict, torch.Tensor], methods: dict[str, tuple[dict, torch.Tensor]], title: str) -> None:
    """One row: the truth (if known), the measurement, the naive reconstruction and each method's, titled with
    their scores; ``naive`` and each of ``methods`` are ``(row of metrics.json, image)``."""
    panels = [] if truth is None else [("truth", to_display(truth[0]))]
    panels.append(("measurement", measurement_picture(op, y)))
    row, image = naive
    panels.append((label(f"naive ({row['name']})", row), to_display(image[0])))
    panels += [(label(method, row), to_display(x[0])) for method, (row, x) in methods.items()]
    side_by_side(panels, path, title=title)


def format_table(metrics: dict) -> str:
    """A plain-text table of the naive baseline and the methods: PSNR, SSIM, lambda, iterations, seconds (PnP named
    with its loop, e.g. "pnp admm")."""
    lines = [f"{'method':10s} {'PSNR':>8s} {'SSIM':>7s} {'lambda':>10s} {'iters':>6s} {'seconds':>8s}"]
    naive = metrics["naive"]
    if "psnr" in naive:
        lines.append(f"{'naive':10s} {naive['psnr']:8.2f} {_ssim(naive)} {'-':>10s} {'-':>6s} {'-':>8s}")
    for method, row in metrics["methods"].items():
        lam = "-" if row.get("lambda") is None else f"{row['lambda']:.3g}"
        p = f"{row['psnr']:8.2f}" if "psnr" in row else f"{'-':>8s}"
        name = f"{method} {row['pnp_algorithm']}" if "pnp_algorithm" in row else method
        lines.append(f"{name:10s} {p} {_ssim(row)} {lam:>10s} {row['iterations']:6d} {row['seconds']:8.2f}")
    return "\n".join(lines)


def _ssim(row: dict) -> str:
    """The SSIM column: a dash without a truth or for an image smaller than SSIM's window."""
    return f"{'-':>7s}" if row.get("ssim") is None else f"{row['ssim']:7.3f}"

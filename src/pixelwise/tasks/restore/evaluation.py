"""Evaluation of a restoration run: the network beside the naive inverse and TV on the same measurements, with
bootstrap intervals and paired gains; metrics.json, per_case.csv, plots/ and report.html."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from pixelwise.errors import PixelwiseError
from pixelwise.metrics.aggregate import paired_summaries
from pixelwise.metrics.protocols import PROTOCOLS, score
from pixelwise.models.tiling import Tiles
from pixelwise.physics import MRI, LinearOperator, Radon
from pixelwise.physics.presets import NAIVE_NAMES, build_operator
from pixelwise.tasks.restore.baseline import run_tv
from pixelwise.tasks.restore.config import NAMED_DATA, RestorationConfig, check_sigma
from pixelwise.tasks.restore.data import (
    clean_images,
    load_pairs,
    pairs_operator,
    simulate,
    split_images,
    validation_images,
)
from pixelwise.tasks.restore.inference import check_ensemble, check_tiles, load_run, restore
from pixelwise.train.files import read_csv, write_csv, write_json
from pixelwise.train.runs import evaluation_dir

CASE_SEED = 1000  # evaluation case i is measured with the generator seeded config.seed + CASE_SEED + i
KEYS = ("psnr", "ssim")


def evaluation_cases(config: RestorationConfig, fixed_op: LinearOperator | None, data: str | None,
                     protocol: str) -> tuple[list[tuple[str, torch.Tensor, LinearOperator, torch.Tensor]], str]:
    """The cases of :func:`evaluate`: ``([(name, measurement, operator, truth)], source)``, each measurement
    simulated with its own seeded generator (``seed + 1000 + i``), so that a peer method run later (BM3D in
    ``benchmarks/restore_quality.py``) sees exactly the same noisy inputs."""
    source = _source(config, data)
    if config.regime == "pairs":
        pairs = load_pairs(config, data) if data is not None else split_images(config, load_pairs(config,
                                                                                                   config.data))[1]
        return [(name, y[None], pairs_operator(config), x[None]) for name, y, x in pairs], source
    if data is None:
        images = validation_images(config) if config.data != "phantoms" else clean_images(config, "phantoms", "test")
    else:
        images = clean_images(config, data, "test")
    cases = []
    for i, (name, x) in enumerate(images):
        g = torch.Generator().manual_seed(config.seed + CASE_SEED + i)
        x = x[None].double()
        if protocol == "denoise" or (protocol == "sr" and config.channels == 1):
            x = (x * 255).round() / 255  # the 8-bit clean image (for sr: MATLAB's uint8 rgb2ycbcr Y)
        op = fixed_op if config.fixed_size else build_operator(config.measurement, x.shape[-2:], g)
        cases.append((name, simulate(op, x, torch.full((1,), config.sigma / 255.0), g), op, x))
    return cases, source


def _source(config: RestorationConfig, data: str | None) -> str:
    if (data or config.data) == "phantoms":
        return "a test draw of phantoms"
    if data is None:
        return "the run's validation images"
    return "the bundled photographs" if data == "bundled" else str(Path(data).resolve())


def evaluate(run_dir: str | Path, data: str | None = None, protocol: str | None = None, which: str = "best",
             name: str | None = None, out: str | Path | None = None, progress: bool = True,
             log: Callable[[str], None] = print, tiles: Tiles | None = None, device: str = "auto",
             sigma: float | None = None, ensemble: bool = False) -> dict:
    """Score a run's network next to the naive and TV baselines; write ``metrics.json`` (per image, and the
    mean, median and bootstrap interval of each method and of the network's paired gain over each baseline),
    ``per_case.csv``, ``plots/figure.png`` and ``report.html``, and return the metrics.

    Without ``data`` and with the run's own settings (its protocol, the best checkpoint) the run's validation
    images (phantoms: a test draw) are scored and the results are the run's own, in the run folder. Any other
    evaluation (``data``: a folder of clean images, "bundled" or "phantoms"; in the pairs regime a folder with
    input/ and target/; or another ``protocol``, or ``which="last"``) goes to ``out``, or to
    ``RUN/evaluations/NAME`` (``name`` defaults to the data's name and the settings), and never replaces them.
    ``tiles``: the network window by window (another setting: ``evaluations/NAME-tile-T``); ``device``: where
    the network runs (:mod:`pixelwise.train.devices`). ``sigma``: the noise level of the measurements in grey levels
    (default: the run's; another goes to ``evaluations/NAME-sigma-S``), told to a network with a noise map.
    ``ensemble``: the network's x8 self-ensemble (flips and quarter turns; ``evaluations/NAME-x8``).
    """
    run_dir = Path(run_dir)
    tiles = tiles or Tiles()
    config, model, fixed_op = load_run(run_dir, which, device)
    protocol = protocol or config.eval_protocol
    if protocol not in PROTOCOLS:
        raise PixelwiseError(f"protocol {protocol!r} is not known; use one of {', '.join(PROTOCOLS)}.")
    if sigma is not None:
        config.sigma = check_sigma(sigma)
        model.noise_level = None if model.noise_level is None else config.sigma / 255.0
    if ensemble:
        check_ensemble(config)
    own = (data is None and protocol == config.eval_protocol and which == "best" and tiles.tile is None
           and sigma is None and not ensemble)
    label = name or (_name(data, protocol, which) + (f"-tile-{tiles.tile}" if tiles.tile is not None else "")
                     + (f"-sigma-{sigma:g}" if sigma is not None else "") + ("-x8" if ensemble else ""))
    dest = run_dir if own and out is None else evaluation_dir(run_dir, label, out)
    cases, source = evaluation_cases(config, fixed_op, data, protocol)
    if not cases:
        raise PixelwiseError(f"there are no images to evaluate in {source}; give --data a folder of images.")
    check_tiles(config, tiles, [(name, (y if config.model == "post" else x).shape[-2:]) for name, y, _, x in cases])
    methods = ("naive", "network") if config.regime == "pairs" else ("naive", "tv", "network")
    tv, tv_record = run_tv(config, fixed_op, cases, progress, log) if "tv" in methods else (None, None)
    rows, panels, seconds = _score_cases(config, model, cases, tv, methods, protocol, progress, tiles, ensemble)
    for row, used in zip(rows, tv_record["iterations_run"] if tv_record else []):
        row["tv_iterations"] = used
    metrics = {"task": config.operator, "model": config.model, "regime": config.regime, "protocol": protocol,
               "checkpoint": which, "sigma": config.sigma, "ensemble": ensemble, "source": source, "count": len(rows),
               "naive_name": NAIVE_NAMES[config.operator], "tv": tv_record,
               "tv_lambda": tv_record["lambda"] if tv_record else None, "mean": _means(rows, methods),
               **_summaries(rows, methods, config.seed), "network_seconds_per_image": seconds / len(rows),
               "per_case": rows}
    _write(dest, run_dir, config, metrics, panels)
    _log_summary(metrics, methods, dest, log)
    return metrics


def _name(data: str | None, protocol: str, which: str) -> str:
    """e.g. "bundled-plain-last": the data (or "validation"), then the protocol, then a checkpoint other than best."""
    parts = [data if data in NAMED_DATA else Path(data).resolve().name] if data is not None else ["validation"]
    return "-".join([*parts, protocol, *([which] if which != "best" else [])])


def _score_cases(config: RestorationConfig, model, cases: list, tv: list | None, methods: tuple, protocol: str,
                 progress: bool, tiles: Tiles, ensemble: bool = False) -> tuple[list[dict], list, float]:
    """Per-case scores of every method, the figure's rows, and the network's seconds in all."""
    from tqdm.auto import tqdm

    from pixelwise.report.reconstruction import measurement_picture, to_display

    rows, panels, seconds = [], [], 0.0
    for i, (name, y, op, x) in enumerate(tqdm(cases, desc="scoring", disable=not progress, leave=False)):
        with torch.no_grad():
            t = time.perf_counter()
            out = restore(model, y.float(), op, tiles, ensemble).double()
            seconds += time.perf_counter() - t
            recon = {"naive": op.naive(y.double()), "network": out, **({"tv": tv[i]} if tv is not None else {})}
        row = {"case": name}
        for m in methods:
            s = score(recon[m], x, protocol, config.measurement.scale)
            row[f"psnr_{m}"], row[f"ssim_{m}"] = s["psnr"], s["ssim"]
        rows.append(row)
        if i < config.figure_count:
            pictured = isinstance(op, (MRI, Radon)) or y.shape == x.shape  # else (SR) the bicubic image stands in
            picture = measurement_picture(op, y) if pictured else to_display(recon["naive"])
            err = (out.clamp(0, 1) - x).abs() * 5
            panels.append([("measurement", picture)]
                          + [(f"{NAIVE_NAMES[config.operator] if m == 'naive' else m}\n{row[f'psnr_{m}']:.2f} dB",
                              to_display(recon[m])) for m in methods]
                          + [("truth", to_display(x)), ("|network - truth| x5", to_display(err))])
    return rows, panels, seconds


def _means(rows: list[dict], methods: tuple) -> dict:
    """Each method's mean PSNR / SSIM; infinite when a case is perfect (a finite mean would hide it)."""
    def mean(values: list[float]) -> float:
        return float(np.mean(values)) if all(math.isfinite(v) for v in values) else float("inf")

    return {m: {k: mean([r[f"{k}_{m}"] for r in rows]) for k in KEYS} for m in methods}


def _summaries(rows: list[dict], methods: tuple, seed: int) -> dict:
    """The paired summaries (:func:`~pixelwise.metrics.aggregate.paired_summaries`: each method, and the
    network's gain over each baseline paired by image), and every summary also under ``metrics`` by the
    per-case column's name (``psnr_network``, ...), as every recipe's metrics.json has them."""
    out = paired_summaries(rows, methods, KEYS, "network", seed)
    out["metrics"] = {f"{k}_{m}": out["summary"][m][k] for m in methods for k in KEYS}
    return out


def _write(dest: Path, run_dir: Path, config: RestorationConfig, metrics: dict, panels: list) -> None:
    from pixelwise.report.reconstruction import grid, write_report

    write_json(dest / "metrics.json", metrics)
    write_csv(dest / "per_case.csv", metrics["per_case"])
    grid(panels, dest / "plots" / "figure.png", title=f"{config.operator} / {config.model} "
         f"({metrics['protocol']} protocol)")
    history = read_csv(run_dir / "history.csv") if dest == run_dir and (run_dir / "history.csv").is_file() else []
    write_report(dest, metrics, history)


def _log_summary(metrics: dict, methods: tuple, dest: Path, log: Callable[[str], None]) -> None:
    stats, gain = metrics["summary"], metrics["gain"]
    log("  ".join(f"{m} {stats[m]['psnr']['mean']:.2f} dB [{stats[m]['psnr']['ci_low']:.2f}, "
                  f"{stats[m]['psnr']['ci_high']:.2f}] / {stats[m]['ssim']['mean']:.3f}" for m in methods)
        + f" on {metrics['count']} images; network - "
        + ", ".join(f"{b} {gain[b]['psnr']['mean']:+.2f} dB [{gain[b]['psnr']['ci_low']:+.2f}, "
                    f"{gain[b]['psnr']['ci_high']:+.2f}]" for b in gain) + f"; report {dest / 'report.html'}")

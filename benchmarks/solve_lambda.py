"""Benchmark: ``pixelwise solve --method tv --lambda auto`` against the search it replaced (prints JSON).

On one photograph (``--image``, default the bundled ``camera`` centre-cropped to ``--size`` 256, grey), for Gaussian
deblurring (the default blur: sigma 1.6, circular) and 60-view CT, both with noise sigma 2/255:

- ``new``: the solve recipe as the command line runs it (``SolveConfig(method="tv", lam="auto")``): the bracketing
  search on log lambda with warm starts and float32 solves on the validation photograph (the bundled astronaut),
  then the final TV solve of the image. Wall-clock seconds of the whole ``run`` (reading, search, solve, files).
- ``reference``: the search as it was before (git ad0ab1f): seven weights, the default times 1/30 ... 30 evenly in
  log scale, each a cold 200-iteration Chambolle-Pock solve (tau / sigma = 1, tolerance 1e-4) in float64 of the
  validation measurement; the best one solved the same way on the image. ``--reference-size N`` runs it on a
  centre crop of N x N instead, next to ``new`` at that size too; ``--no-reference`` skips it. (The issue's 3.5
  and 10+ minutes were on the grey photograph read as three identical channels; ``solve`` now keeps a grey file's
  one channel. At full size on 2 cores, 2026-12-05: reference 18 s blur / 112 s CT, new 1.2 s / 17.8 s, +0.9 dB /
  +4.5 dB.)

Targets: ``new.seconds < 20`` for each case at 256 x 256 on 2 cores, and ``new.psnr >= reference.psnr - 0.1``
(the JSON has ``psnr_gain`` = new - reference and ``speedup``).

``--denoiser RUN`` (a ``restore`` denoiser, e.g. one trained with ``--noise-map``) adds plug-and-play
(``--method pnp --lambda auto``, which searches its loop and level count with its weight) on ``--pnp-cases``
(Gaussian deblurring, x4 super-resolution, 4x MRI): ``new`` with today's menu of levels (8 or 24), ``reference`` with
the menu before (8, 24 or 40: git 31dde93, set for that run), each timed as a whole run with the chosen loop and
PSNR beside. ``--validation`` is the photograph (or folder) PnP's searches score on (default: the bundled astronaut).

    python benchmarks/solve_lambda.py                     # full size, with the reference (slow)
    python benchmarks/solve_lambda.py --reference-size 128 # the reference at 128 x 128 (and new at both sizes)
    python benchmarks/solve_lambda.py --size 32 --reference-size 16 --threads 1   # a toy run (the smoke test)
    python benchmarks/solve_lambda.py --cases "" --denoiser runs/told-unet --validation ihc.png --size 240  # PnP

Time it on an otherwise idle machine: with the cores shared, torch's threads wait on each other and a small
convolution can take a hundred times its idle time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import emit, machine

from pixelwise.data.io import write_image
from pixelwise.data.samples import center_crop, load_image, sample, to_uint8
from pixelwise.metrics.image import psnr
from pixelwise.physics.presets import Measurement
from pixelwise.solvers.lambda_search import log_grid
from pixelwise.solvers.methods import default_lambda
from pixelwise.solvers.tv import tv_pdhg
from pixelwise.tasks.solve import SolveConfig, prepare, run

CASES = {"blur": Measurement(operator="blur"), "ct": Measurement(operator="ct", views=60)}
PNP_CASES = {"blur": Measurement(operator="blur"), "sr4": Measurement(operator="downsample", scale=4),
             "mri": Measurement(operator="mri", acceleration=4)}
PNP_MENU_BEFORE = (8, 24, 40)  # the denoiser level counts --lambda auto searched until git 31dde93


def new(image_path: Path, measurement: Measurement, out: Path) -> dict:
    config = SolveConfig(image=str(image_path), out=str(out), method="tv", lam="auto", measurement=measurement)
    t0 = time.perf_counter()
    result = run(config, overwrite=True, progress=False, log=lambda line: None)
    row = result.metrics["methods"]["tv"]
    return {"seconds": round(time.perf_counter() - t0, 2), "psnr": round(row["psnr"], 3), "lambda": row["lambda"],
            "weights_tried": len(row["lambda_search"]), "search_seconds": round(row["search_seconds"], 2),
            "final_solve_seconds": round(row["seconds"], 2)}


def pnp(image_path: Path, measurement: Measurement, out: Path, args, menu: tuple[int, ...] | None = None) -> dict:
    """``solve --method pnp --lambda auto`` as the command line runs it, whole, with the level counts ``menu``
    searched (None: today's)."""
    from pixelwise.tasks.solve import solving

    config = SolveConfig(image=str(image_path), out=str(out), method="pnp", lam="auto", measurement=measurement,
                         denoiser=args.denoiser, noise_sigma=2.0,
                         validation=str(args.validation) if args.validation else None)
    today = solving.PNP_SEARCHED_ITERATIONS
    solving.PNP_SEARCHED_ITERATIONS = menu or today
    try:
        t0 = time.perf_counter()
        result = run(config, overwrite=True, progress=False, log=lambda line: None)
    finally:
        solving.PNP_SEARCHED_ITERATIONS = today
    row = result.metrics["methods"]["pnp"]
    return {"seconds": round(time.perf_counter() - t0, 2), "psnr": round(row["psnr"], 3), "lambda": row["lambda"],
            "loop": [row["pnp_algorithm"], row["iterations"]], "loops_searched": len(row["pnp_search"]),
            "search_seconds": round(row["search_seconds"], 2)}


def pnp_cases(args, path: Path, folder: Path) -> dict:
    """Plug-and-play's searched loop with today's menu of level counts and with the one before, on each case."""
    results = {}
    for name in args.pnp_cases.split(","):
        m = PNP_CASES[name]
        row = {"new": pnp(path, m, folder / f"pnp-{name}", args),
               "reference": pnp(path, m, folder / f"pnp-{name}-ref", args, PNP_MENU_BEFORE)}
        row["psnr_gain"] = round(row["new"]["psnr"] - row["reference"]["psnr"], 3)
        row["speedup"] = round(row["reference"]["seconds"] / row["new"]["seconds"], 2)
        results[name] = row
    return results


def reference(image_path: Path, measurement: Measurement, out: Path) -> dict:
    """The search of git ad0ab1f, written out: the same problem (operator, noise, validation) as ``new``."""
    t0 = time.perf_counter()
    config = SolveConfig(image=str(image_path), out=str(out), method="tv", lam="auto", measurement=measurement)
    problem = prepare(config)
    [(image, y_val)] = problem.validation  # the one validation photograph
    lam0 = default_lambda(measurement.operator, "tv", config.sigma)
    table = []
    for lam in [lam0 * f for f in log_grid(1 / 30, 30.0, 7)]:
        x = tv_pdhg(problem.op, y_val, lam, iterations=200)  # as reconstruct(..., "tv") ran it then
        table.append((lam, psnr(x.clamp(0, 1)[0], image[0], 1.0)))
    lam = max(table, key=lambda row: row[1])[0]
    x = tv_pdhg(problem.op, problem.y, lam, iterations=200)
    score = psnr(x.clamp(0, 1)[0], problem.truth[0], 1.0)
    return {"seconds": round(time.perf_counter() - t0, 2), "psnr": round(score, 3),
            "lambda": lam, "weights_tried": 7}


def crop_file(source: torch.Tensor, size: int, folder: Path) -> Path:
    path = folder / f"image{size}.png"
    write_image(path, to_uint8(center_crop(source, size)))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=None, help="a photograph (default: the bundled camera)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--cases", default="blur,ct")
    parser.add_argument("--reference-size", type=int, default=None, help="run the old search at this size")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--denoiser", default=None, help="a restore denoiser run: adds plug-and-play's search")
    parser.add_argument("--pnp-cases", default=",".join(PNP_CASES))
    parser.add_argument("--validation", type=Path, default=None, help="validation photograph or folder (default: "
                        "the bundled astronaut)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    source = load_image(args.image, grey=True) if args.image else sample("camera", grey=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in filter(None, args.cases.split(",")):
            m = CASES[name]
            row = {"new": new(crop_file(source, args.size, folder), m, folder / f"{name}-new")}
            if not args.no_reference:
                size = args.reference_size or args.size
                path = crop_file(source, size, folder)
                row["reference_size"] = size
                row["reference"] = reference(path, m, folder / f"{name}-ref")
                row["new_at_reference_size"] = row["new"] if size == args.size else new(path, m, folder / f"{name}-n")
                same = row["new_at_reference_size"]
                row["psnr_gain"] = round(same["psnr"] - row["reference"]["psnr"], 3)
                row["speedup"] = round(row["reference"]["seconds"] / same["seconds"], 2)
            row["target_seconds_met"] = row["new"]["seconds"] < 20 if args.size >= 256 else None
            results[name] = row
        pnp_results = pnp_cases(args, crop_file(source, args.size, folder), folder) if args.denoiser else None
    emit({"benchmark": "solve_lambda", "image": str(args.image or "bundled camera"), "size": args.size,
          "noise_sigma": 2.0, "machine": machine(), "cases": results, "pnp": pnp_results,
          "targets": "new.seconds < 20 at 256x256 on 2 cores; psnr_gain >= -0.1 dB"})


if __name__ == "__main__":
    main()

"""Benchmark: learned reconstruction quality against wall-clock training time (prints JSON).

Parts (``--parts``, each trained for ``--minutes`` with the recipe ``pixelwise.tasks.restore``):

- ``denoise``: grey Gaussian denoising at sigma = 25 with the residual U-Net (``model="unet"``: depth 3, 32
  channels, patch 40, batch 16) trained on ``--train`` (e.g. ``../shared/data/train400``), scored on
  ``--denoise-test`` (a folder of standard test images, e.g. the 68-image BSD set; default the bundled
  photographs) with the DnCNN protocol (8-bit, peak 255, no crop). References: BM3D 28.57 dB, DnCNN 29.23 dB
  on BSD68.
- ``dncnn``: the same task with DnCNN-17 (64 channels, batch norm, patch 40, batch 32), the paper's network.
  It was the ``denoise`` part until 2026-12-01. Measured on the twelve-photograph stand-in (below), 60 minutes
  each, 2 threads, BM3D 30.33 dB on the same noisy images: DnCNN 3,486 steps, 30.31 dB (validation PSNR
  28.55 dB); the U-Net 9,157 steps, 30.52 dB (validation 28.87 dB; it passed DnCNN's final validation
  figure after 13 minutes; a second seed: 30.51 dB against BM3D's 30.31). The U-Net runs most of its
  convolutions at reduced resolution, so a step costs about a third of DnCNN's per pixel: on a CPU budget it
  simply sees more data. Those U-Net runs used 64 x 64 patches. The part now uses 40 x 40: in 7-minute
  probes on one machine (an AMD Zen 5, about twice as fast as the one above) 40 x 40 took 4,800 steps to
  64 x 64's 2,100 and reached 28.68 against 28.58 dB validation PSNR. On that machine, 60 minutes with 40 x 40
  gave 40,203 steps and 30.60 dB against BM3D's 30.33 (+0.27 dB, paired 95% interval 0.08 to 0.44, better on
  10 of 12; validation 28.46 / 28.71 / 28.85 / 28.91 / 28.93 dB at 5 / 15 / 30 / 45 / 60 minutes). The same hour
  with 64 x 64 on that machine: 15,792 steps, 30.61 dB (+0.27 dB over BM3D, interval 0.09 to 0.44), validation
  28.93 dB: over an hour the two patches tie, and the gain over the earlier 30.52 dB is the faster machine's.
  One seed each.
- ``sr``: x3 super-resolution with the post-upsampling network on ``--train`` (Y channel), scored on
  ``--sr-test`` (e.g. Set5; default the bundled photographs) with the Y-channel, scale-shave protocol.
  References on Set5: bicubic 30.39 dB, SRCNN 32.75 dB.
- ``srcnn``: the same task, data and training settings with the SRCNN-sized network (9-1-5, 64 and 32 feature
  maps; Dong et al. 2016) on the bicubic up-sampling. With both ``sr`` and ``srcnn`` in ``--parts`` the JSON
  adds ``sr_minus_srcnn``: the paired PSNR gain of the ``sr`` network over it on the same test images, and
  ``moonshot_met`` (at least 0.9 dB: VDSR's margin over SRCNN on Set5, issue 25). Measured on the twelve-photograph
  stand-in (below) with train400, 30 minutes each on 2 cores (2026-12-06): the sr network 48,178 steps, 29.81 dB;
  the SRCNN-sized one 53,748 steps, 29.30 dB (bicubic 27.95, TV 28.70); +0.51 dB, paired 95% interval -0.03 to
  0.90, better on 11 of 12: the moonshot is not met. With ``--reuse --ensemble`` (both x8): 29.92 against 29.38 dB,
  +0.55 dB (0.02 to 0.95).
- ``ct`` and ``mri``: the unrolled network on random-ellipse phantoms (CT with 30 views, MRI at 4x
  acceleration) against TV (Chambolle-Pock) on a separate draw of test phantoms. Target: +1 dB over TV
  (``target_met``; the paired 95% interval of the gain is reported next to it).

Noise for ``ct`` and ``mri`` (``--relative-noise R``, default 0.05): white Gaussian noise whose standard
deviation is R times the mean magnitude of the noise-free measurements, the setting of Adler and Oktem
("Learned Primal-Dual Reconstruction", IEEE TMI 2018: 5% of the mean of the noise-free data). The level is
fixed once per part from 64 phantoms of a separate draw and reported in grey levels (``sigma``); with 30
views of 64 x 64 phantoms it is about 120 grey levels on the sinogram, and about 2 for MRI at 4x (orthonormal
k-space). ``--relative-noise none`` keeps each part's fixed ``sigma`` (2 grey levels: nearly noise-free CT,
where converged TV reaches about 55 dB on these piecewise-constant phantoms).

The TV baseline is tuned to be a fair opponent (``tv_lambda="auto"``, see
``pixelwise.tasks.restore.baseline.search_tv_lambda``): its weight has the best mean PSNR on four validation
images (never the test images), searched on a log grid two decades either side of the heuristic of
``pixelwise solve``, widened by a decade while the best lies at an edge, then refined to a sixth of a decade;
every TV solve (search and test) runs until it has converged (``TV_TOL``: a relative change of 1e-7 for
Chambolle-Pock, 1e-4 for FGP; 10000 iterations at most). The JSON reports the chosen lambda, whether the first
grid's best was at its edge (and so was widened), whether the final best is still at an edge, and how many
test solves stopped by the tolerance rather than the cap. (Before this was checked, TV stopped after 100
iterations and chose its weight on a 7-point grid one decade either side of the heuristic. On four validation
phantoms that TV scored about 33.8 dB for MRI and 30.2 dB for CT, against 38.6 and 53.8 dB for converged TV
at the searched weight; for CT the old grid's best sat at its upper edge, and for MRI the converged optimum
lies at the old grid's lower edge.)

Each part reports the mean PSNR / SSIM of the naive baseline, TV and the network, and the validation PSNR
after every epoch against the minutes spent (the learning curve). Runs go under ``--runs``; ``--reuse``
scores the runs already there instead of training them again.

``--bm3d`` (the denoise and dncnn parts): BM3D (Dabov et al., "Image denoising by sparse 3-D transform-domain
collaborative filtering", IEEE TIP 2007; the ``bm3d`` package of its authors' group, ``pip install bm3d``, both
stages, the true sigma) runs in the same process on exactly the same noisy test images (the same seeds), scored
with the same protocol, and the network's paired gain over it is reported with a bootstrap interval. Where BSD68
is not at hand, ``benchmarks/skimage_testset.py`` writes a stand-in test set of twelve real photographs; there
the comparison is BM3D against the network side by side, not against the published 28.57 dB. ``moonshot_met``:
the network at least 0.6 dB above BM3D (issue 25: DnCNN's margin on BSD68). ``--ensemble`` scores the network's
x8 self-ensemble (``restore eval --ensemble``: averaged over the flips and quarter turns of its input; the
training is unchanged, the prediction takes eight times as long) for the denoise, dncnn and sr parts.

    python benchmarks/restore_quality.py --train ../shared/data/train400 --minutes 60 --parts denoise --bm3d
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import emit, machine

from pixelwise.metrics.aggregate import bootstrap_interval
from pixelwise.metrics.protocols import score
from pixelwise.physics.presets import Measurement, build_operator
from pixelwise.tasks.restore import RestorationConfig, evaluate, evaluation_cases, load_run, run
from pixelwise.train.files import read_csv, read_json
from pixelwise.train.runs import RunResult

PARTS = {
    # name -> (settings: the recipe's and the measurement's, flat; test-data argument)
    "denoise": (dict(operator="denoise", model="unet", sigma=25.0, depth=3, width=32, patch=40, batch_size=16,
                     steps_per_epoch=100, lr=1e-3), "denoise_test"),
    "dncnn": (dict(operator="denoise", model="dncnn", sigma=25.0, depth=17, width=64, patch=40, batch_size=32,
                   steps_per_epoch=100, lr=1e-3), "denoise_test"),
    "sr": (dict(operator="downsample", model="post", scale=3, depth=8, width=64, patch=48, batch_size=32,
                steps_per_epoch=100, lr=1e-3, loss="l1"), "sr_test"),
    "srcnn": (dict(operator="downsample", model="srcnn", scale=3, width=64, patch=48, batch_size=32,
                   steps_per_epoch=100, lr=1e-3, loss="l1"), "sr_test"),
    "ct": (dict(operator="ct", model="unrolled", data="phantoms", views=30, size=64, phantoms=256, iterations=5,
                width=32, depth=4, batch_size=8, steps_per_epoch=50, lr=1e-3, sigma=2.0), None),
    "mri": (dict(operator="mri", model="unrolled", data="phantoms", acceleration=4.0, size=64, phantoms=256,
                 iterations=5, width=32, depth=4, batch_size=8, steps_per_epoch=50, lr=1e-3, sigma=2.0), None),
}
MEASUREMENT = {f.name for f in dataclasses.fields(Measurement)}


def measurement_of(settings: dict) -> Measurement:
    """The measurement named by a part's flat settings (the recipe's x3 default scale unless given)."""
    return Measurement(**{"scale": 3, **{k: v for k, v in settings.items() if k in MEASUREMENT}})


def restore_config(settings: dict) -> RestorationConfig:
    """A part's flat settings -> the recipe's config, the measurement's settings in its Measurement."""
    return RestorationConfig(measurement=measurement_of(settings),
                             **{k: v for k, v in settings.items() if k not in MEASUREMENT})


def _parse(value: str):
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(value.lower(), value)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="denoise,sr,ct,mri")
    parser.add_argument("--minutes", type=float, default=60.0, help="training budget per part")
    parser.add_argument("--train", default="bundled", help="folder of clean training images (denoise, sr)")
    parser.add_argument("--denoise-test", default="bundled")
    parser.add_argument("--sr-test", default="bundled")
    parser.add_argument("--runs", default=None, help="folder for the run folders (default: a temporary one)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--reuse", action="store_true", help="score the runs already under --runs (no training)")
    parser.add_argument("--bm3d", action="store_true",
                        help="denoise, dncnn: BM3D on the same noisy images (pip install bm3d)")
    parser.add_argument("--ensemble", action="store_true",
                        help="denoise, dncnn, sr: score the network's x8 self-ensemble (flips and quarter turns)")
    parser.add_argument("--relative-noise", default="0.05",
                        help="ct, mri: noise sigma as this fraction of the mean |A x| (Adler & Oktem 2018), "
                             "or 'none' for each part's fixed sigma")
    parser.add_argument("--set", action="append", default=[], metavar="PART.KEY=VALUE",
                        help="override a part's setting, e.g. --set denoise.depth=10 --set denoise.width=48")
    return parser.parse_args()


def _overrides(items: list[str]) -> dict[str, dict]:
    """``--set PART.KEY=VALUE`` items as {part: {key: value}}."""
    overrides: dict[str, dict] = {}
    for item in items:
        try:
            key, value = item.split("=", 1)
            part, name = key.split(".", 1)
        except ValueError:
            raise SystemExit(f"--set {item!r} is not PART.KEY=VALUE") from None
        overrides.setdefault(part, {})[name] = _parse(value)
    return overrides


def main() -> None:
    args = _arguments()
    overrides = _overrides(args.set)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.reuse and not args.runs:
        raise SystemExit("--reuse needs --runs, the folder that holds the earlier runs")
    runs = Path(args.runs or tempfile.mkdtemp(prefix="restore_quality_"))
    results, cases = {}, {}
    for part in args.parts.split(","):
        if part not in PARTS:
            raise SystemExit(f"unknown part {part!r}; choose from {', '.join(PARTS)}")
        keywords, test_arg = PARTS[part]
        data = keywords.get("data", args.train)
        keywords = dict(keywords)
        noise_rule = f"sigma = {keywords.get('sigma', 'the default of the operator,')} grey levels"
        if part in ("ct", "mri") and args.relative_noise.lower() != "none" and "sigma" not in overrides.get(part, {}):
            relative = float(args.relative_noise)
            keywords["sigma"] = round(relative_sigma(keywords, relative), 3)
            noise_rule = f"{relative:g} x mean |A x| over 64 phantoms (Adler & Oktem 2018)"
        cfg = restore_config({**keywords, "data": data, **overrides.get(part, {}), "out": str(runs / part),
                              "minutes": args.minutes, "epochs": 100_000, "figure_count": 2, "tv_lambda": "auto"})
        if args.reuse:
            history = read_csv(runs / part / "history.csv")
            result = RunResult(runs / part, {}, history, sum(r["seconds"] for r in history))
        else:
            result = run(cfg, overwrite=True, progress=False, log=lambda s: None, evaluate_after=False)
        test = None if test_arg is None else getattr(args, test_arg)  # None: a fresh draw of test phantoms
        metrics = evaluate(result.run_dir, test, progress=False, log=lambda s: None,  # other data: evaluations/
                           ensemble=args.ensemble and keywords["operator"] in ("denoise", "downsample"))
        cases[part] = metrics["per_case"]
        settings = _reused_config(result.run_dir) if args.reuse else {**keywords, **overrides.get(part, {})}
        results[part] = _part_report(result, metrics) | {"config": settings, "noise": noise_rule}
        if part in ("ct", "mri"):
            results[part]["target_met"] = results[part]["network_minus_tv_db"] >= 1.0
        if keywords["operator"] == "denoise" and args.bm3d:
            results[part]["bm3d"] = bm3d_peer(result.run_dir, test, metrics)
    if "sr" in cases and "srcnn" in cases:
        results["sr_minus_srcnn"] = sr_over_srcnn(cases["sr"], cases["srcnn"])
    emit({"benchmark": "restore_quality", "minutes_per_part": args.minutes, "train": args.train,
          "ensemble": args.ensemble, "results": results, "load_average": os.getloadavg(), "machine": machine()})


def _part_report(result: RunResult, metrics: dict) -> dict:
    """One part's JSON: the network's scores and gains over TV and the naive inverse, TV's weight search, the
    validation curve against wall time and the training's length."""
    elapsed, curve = 0.0, []
    for row in result.history:
        elapsed += row["seconds"]
        curve.append({"minutes": round(elapsed / 60, 2), "val_psnr": round(row["val_psnr"], 3)})
    gain, tv, count = metrics["gain"], metrics["tv"], metrics["count"]
    search = tv["search"] or {}
    tv_report = {"lambda": tv["lambda"], "lambda_rule": tv["lambda_rule"], "first_grid": search.get("first_grid"),
                 "first_grid_best_at_edge": search.get("first_grid_best_at_edge"),
                 "searched": search.get("searched"), "best_at_edge": search.get("best_at_edge"),
                 "validation_psnr": search.get("validation_psnr"), "search_table": search.get("table"),
                 "tol": tv["tol"], "max_iterations": tv["max_iterations"], "step_ratio": tv["step_ratio"],
                 "test_solves_stopped_by_tolerance": f"{tv['stopped_by_tolerance']} of {count}",
                 "iterations_run": tv["iterations_run"], "seconds_per_image": round(tv["seconds_per_image"], 3)}
    return {"protocol": metrics["protocol"], "test_images": count,
            "mean": metrics["mean"], "network_minus_tv_db": gain["tv"]["psnr"]["mean"],
            "network_minus_tv_ci95_db": [gain["tv"]["psnr"]["ci_low"], gain["tv"]["psnr"]["ci_high"]],
            "network_minus_naive_db": gain["naive"]["psnr"]["mean"],
            "network_minus_naive_ci95_db": [gain["naive"]["psnr"]["ci_low"], gain["naive"]["psnr"]["ci_high"]],
            "network_better_than_tv_on": f"{gain['tv']['network_better']} of {count}",
            "tv": tv_report, "network_seconds_per_image": round(metrics["network_seconds_per_image"], 4),
            "training_minutes": round(result.seconds / 60, 2),
            "steps": sum(r["steps"] for r in result.history), "curve": curve, "run": str(result.run_dir)}


def bm3d_peer(run_dir: Path, data: str | None, metrics: dict) -> dict:
    """BM3D on the evaluation's own noisy images (rebuilt from the same seeds by ``evaluation_cases``), scored
    with the same protocol; the network's per-image PSNRs come from ``metrics`` (the evaluation just run)."""
    import bm3d

    cfg, _, fixed_op = load_run(run_dir, "best")
    protocol = metrics["protocol"]
    cases, _ = evaluation_cases(cfg, fixed_op, data, protocol)
    rows, seconds = [], 0.0
    for (name, y, _, x), net in zip(cases, metrics["per_case"], strict=True):
        if net["case"] != name:
            raise RuntimeError(f"case order differs: {net['case']} against {name}")
        t = time.perf_counter()
        estimate = bm3d.bm3d(y[0, 0].numpy(), sigma_psd=cfg.sigma / 255.0, stage_arg=bm3d.BM3DStages.ALL_STAGES)
        seconds += time.perf_counter() - t
        s = score(torch.from_numpy(np.asarray(estimate, dtype=np.float64))[None, None], x, protocol)
        rows.append({"case": name, "psnr_bm3d": s["psnr"], "ssim_bm3d": s["ssim"],
                     "psnr_network": net["psnr_network"], "ssim_network": net["ssim_network"]})
    gain = [r["psnr_network"] - r["psnr_bm3d"] for r in rows]
    return {"method": "bm3d package, both stages, sigma_psd = the true sigma", "version": bm3d_version(),
            "mean_psnr": round(float(np.mean([r["psnr_bm3d"] for r in rows])), 3),
            "mean_ssim": round(float(np.mean([r["ssim_bm3d"] for r in rows])), 4),
            "network_minus_bm3d_db": round(float(np.mean(gain)), 3),
            "network_minus_bm3d_ci95_db": [round(v, 3) for v in bootstrap_interval(np.asarray(gain), 0.95, 2000,
                                                                                  cfg.seed)],
            "network_better_than_bm3d_on": f"{sum(g > 0 for g in gain)} of {len(gain)}",
            "seconds_per_image": round(seconds / len(rows), 2), "target_met": float(np.mean(gain)) >= 0.0,
            "moonshot_met": float(np.mean(gain)) >= MOONSHOT_DB,
            "per_case": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]}


def sr_over_srcnn(sr: list[dict], srcnn: list[dict], seed: int = 0) -> dict:
    """The sr part's network against the SRCNN-sized one, paired by test image (both scored on the same
    measurements: the x3 down-sampling is deterministic). ``moonshot_met``: a mean gain of at least 0.9 dB
    (issue 25: VDSR's margin over SRCNN on Set5, 33.66 - 32.75 dB)."""
    pairs = {row["case"]: row["psnr_network"] for row in srcnn}
    if sorted(pairs) != sorted(row["case"] for row in sr):
        raise RuntimeError("the sr and srcnn parts were scored on different test images")
    gain = np.asarray([row["psnr_network"] - pairs[row["case"]] for row in sr])
    return {"mean_db": round(float(gain.mean()), 3),
            "ci95_db": [round(v, 3) for v in bootstrap_interval(gain, 0.95, 2000, seed)],
            "sr_better_on": f"{int((gain > 0).sum())} of {gain.size}", "moonshot_db": SR_MOONSHOT_DB,
            "moonshot_met": float(gain.mean()) >= SR_MOONSHOT_DB}


def _reused_config(run_dir: Path) -> dict:
    """The settings a reused run was trained with (its own config.json, not the part's defaults)."""
    saved = read_json(Path(run_dir) / "config.json")
    keys = ("model", "depth", "width", "patch", "batch_size", "sigma", "sigma_range", "noise_map", "data", "minutes")
    return {k: saved.get(k) for k in keys} | {"operator": saved["measurement"]["operator"]}


SR_MOONSHOT_DB = 0.9  # issue 25: VDSR's margin over SRCNN on Set5 (33.66 - 32.75 dB), same budget for both
MOONSHOT_DB = 0.6  # issue 25: DnCNN's margin over BM3D on BSD68 (29.23 - 28.57 dB), within an hour on 2 cores


def bm3d_version() -> str:
    from importlib.metadata import version

    return version("bm3d")


def relative_sigma(keywords: dict, relative: float) -> float:
    """``relative`` x the mean magnitude of noise-free measurements of 64 phantoms (a draw of their own, seed
    12345), in grey levels (x 255). Magnitudes of complex k-space entries, over the sampled entries only."""
    from pixelwise.data.phantoms import random_ellipses

    size = keywords["size"]
    x = random_ellipses(64, size, torch.Generator().manual_seed(12345))
    op = build_operator(measurement_of(keywords), (size, size), torch.Generator().manual_seed(12345))
    y = op.A(x)
    if keywords["operator"] == "mri":
        y = y.pow(2).sum(-1).sqrt()
        y = y[y > 0]
    return 255.0 * relative * float(y.abs().mean())


if __name__ == "__main__":
    main()

"""Classical segmentation beside a trained network on the same test cases (Kvasir-SEG polyps).

Runs every classical method of ``pixelwise segment baseline`` (Otsu, multi-level Otsu, adaptive threshold, region
growing, watershed; channel and polarity chosen on training cases) and multi-atlas segmentation with 1, 5 and 15
atlases (majority and locally weighted votes) on the test split of a trained ``segment`` run, then prints JSON:
each method's Dice and IoU (mean, bootstrap 95% interval, case categories, Dice by structure size) and the
network's gain over it with a paired bootstrap interval (cases resampled together), plus seconds per image.
The honest expectation is that the network wins clearly; the point is the size of the gap and where the
classical methods fail (the size bins and the categories say where).

    python benchmarks/segment_baselines.py --run runs/kvasir --data ../shared/data/kvasir-seg-880 \
        --out runs/kvasir-baselines

``--run`` is a folder made by ``pixelwise segment train`` (e.g. by ``benchmarks/kvasir.py``) whose
``per_case.csv`` holds the network's scores on its test split; each baseline goes to ``OUT/NAME`` as a run
folder of its own (``report.html`` beside the network's). ``--methods`` and ``--atlases`` choose a part.

Kvasir-SEG: D. Jha et al., "Kvasir-SEG: A Segmented Polyp Dataset", MMM 2020, LNCS 11962, pp. 451-462.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

from _common import emit, machine

from pixelwise.metrics import paired_summaries
from pixelwise.tasks.segment import BaselineConfig, run_baseline

CLASSICAL = ("otsu", "multiotsu", "adaptive", "region", "watershed")


def variants(methods: list[str], atlases: list[int]) -> list[tuple[str, dict]]:
    """(name, settings) of every baseline to run."""
    out = [(m, {"method": m, "channel": "auto", "polarity": "auto"}) for m in methods if m in CLASSICAL]
    if "atlas" in methods:
        for n in atlases:
            for fusion in (("majority",) if n == 1 else ("majority", "weighted")):
                out.append((f"atlas-{n}-{fusion}", {"method": "atlas", "atlases": n, "fusion": fusion}))
    return out


def per_case(path: Path) -> dict[str, dict]:
    with open(path, newline="") as f:
        return {row["id"]: row for row in csv.DictReader(f)}


def summary_of(metrics: dict) -> dict:
    m = metrics["metrics"]
    by_size = {name: round(b["metrics"]["dice"]["mean"], 4) for name, b in metrics["by_size"]["bins"].items()
               if b["n_cases"]}
    return {"dice": {k: round(m["dice"][k], 4) for k in ("mean", "median", "ci_low", "ci_high")},
            "iou": round(m["iou"]["mean"], 4), "hd95": round(m["hd95"]["mean"], 2),
            "categories": metrics["categories"], "dice_by_size": by_size,
            "seconds_per_image": round(metrics["seconds_per_image"], 4), "tuning": {
                k: metrics["tuning"].get(k) for k in ("channel", "polarity", "seconds")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a trained segment run folder (its test split is scored)")
    parser.add_argument("--data", default=None, help="its data folder (default: the run's)")
    parser.add_argument("--out", default="runs/baselines", help="folder for the baselines' run folders")
    parser.add_argument("--methods", default=",".join([*CLASSICAL, "atlas"]))
    parser.add_argument("--atlases", default="1,5,15", help="numbers of atlases to fuse")
    parser.add_argument("--work-size", type=int, default=256)
    parser.add_argument("--atlas-size", type=int, default=96)
    parser.add_argument("--iterations", type=int, default=100, help="atlas: optimiser steps per pyramid level")
    parser.add_argument("--transform", default="affine", help="atlas: rigid, affine or deformable")
    args = parser.parse_args()
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731 (progress on stderr, the JSON alone on stdout)
    run = Path(args.run)
    network = per_case(run / "per_case.csv")
    chosen = variants(args.methods.split(","), [int(n) for n in args.atlases.split(",")])
    results, scores = {}, {}
    t0 = time.perf_counter()
    for name, settings in chosen:
        config = BaselineConfig(data=args.data or "", out=str(Path(args.out) / name), like=str(run),
                                work_size=args.work_size, atlas_size=args.atlas_size, iterations=args.iterations,
                                transform=args.transform, **settings)
        result = run_baseline(config, overwrite=True, progress=False, log=log)
        results[name] = summary_of(result.metrics)
        scores[name] = per_case(result.run_dir / "per_case.csv")
    ids = list(next(iter(scores.values())))
    rows = [{**{f"{k}_network": float(network[i][k]) for k in ("dice", "iou")},
             **{f"{k}_{name}": float(scores[name][i][k]) for name in scores for k in ("dice", "iou")}} for i in ids]
    paired = paired_summaries(rows, ["network", *scores], ["dice", "iou"], "network", seed=0)
    for name in results:
        gain = paired["gain"][name]
        results[name]["network_gain_dice"] = {k: round(gain["dice"][k], 4) for k in ("mean", "ci_low", "ci_high")}
        results[name]["network_better_cases"] = gain["network_better"]
    emit({"benchmark": "segment_baselines", "machine": machine(), "run": str(run.resolve()), "cases": len(ids),
          "network": {"dice": round(paired["summary"]["network"]["dice"]["mean"], 4),
                      "iou": round(paired["summary"]["network"]["iou"]["mean"], 4)},
          "methods": results, "bootstrap": paired["bootstrap"],
          "minutes": round((time.perf_counter() - t0) / 60, 2)})


if __name__ == "__main__":
    main()

"""Multi-atlas fusion where anatomy corresponds: single atlas against 5 and 15 fused atlases (prints JSON).

On Kvasir-SEG (``benchmarks/segment_baselines.py``) fusing more atlases made things worse: a polyp has no fixed
place in an endoscopy frame, so other patients' masks say little about this one. Atlas-based segmentation was
made for the opposite case: every subject has the same organs in roughly the same places, and the intensity
alone does not show where an organ ends. This benchmark generates that case (``pixelwise.data.synthetic.anatomy``:
one template of five ellipses, each subject drawn with its own shape changes, affine pose, smooth deformation,
bias field and noise; the labelled organ touches a neighbour of nearly its brightness), writes it as an image/mask
folder, and runs ``segment baseline`` on one seeded split: Otsu (the intensity alone), then multi-atlas
segmentation with 1, 5 and 15 atlases (majority vote, and the locally weighted vote for several). It prints
each method's Dice (mean, bootstrap 95% interval) and, paired by case, each fusion's gain over the single atlas.
Expectation (the multi-atlas literature: Rohlfing et al. 2004, Heckemann et al. 2006): fusion beats the single
atlas, as the registration errors of different atlases are partly independent and the vote averages them out.

    python benchmarks/atlas_fusion.py [--subjects 80] [--size 96] [--transform affine] [--out runs/atlas-fusion]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import emit, machine
from segment_baselines import per_case, variants

from pixelwise.data.synthetic import write_anatomy_folder
from pixelwise.metrics import summarise
from pixelwise.tasks.segment import BaselineConfig, run_baseline


def rounded(summary: dict) -> dict:
    return {k: round(summary[k], 4) for k in ("mean", "median", "ci_low", "ci_high")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=80)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--deform", type=float, default=0.06, help="smooth deformation, in half image widths")
    parser.add_argument("--atlases", default="1,5,15")
    parser.add_argument("--split", default="0.5,0.1,0.4", help="train (the atlases), validation, test")
    parser.add_argument("--transform", default="affine", help="rigid, affine or deformable")
    parser.add_argument("--iterations", type=int, default=100, help="optimiser steps per pyramid level")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="keep the data and run folders here (default: a temporary one)")
    args = parser.parse_args()
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731 (progress on stderr, the JSON alone on stdout)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        data = write_anatomy_folder(root / "data", args.subjects, args.size, args.seed, args.deform)
        split = tuple(float(v) for v in args.split.split(","))
        results, dice = {}, {}
        for name, settings in variants(["otsu", "atlas"], [int(n) for n in args.atlases.split(",")]):
            config = BaselineConfig(data=str(data), out=str(root / name), split=split, seed=args.seed,
                                    work_size=args.size, atlas_size=args.size, iterations=args.iterations,
                                    transform=args.transform, **settings)
            result = run_baseline(config, overwrite=True, progress=False, log=log)
            m = result.metrics
            results[name] = {"dice": rounded(m["metrics"]["dice"]), "categories": m["categories"],
                             "seconds_per_image": round(m["seconds_per_image"], 4)}
            dice[name] = {i: float(row["dice"]) for i, row in per_case(result.run_dir / "per_case.csv").items()}
    single = dice.get("atlas-1-majority")
    for name in results:
        if single is None or name in ("otsu", "atlas-1-majority"):
            continue
        gain = [dice[name][i] - single[i] for i in single]
        results[name]["gain_over_single_atlas"] = {**rounded(summarise(gain, seed=args.seed)),
                                                   "better": sum(g > 0 for g in gain),
                                                   "worse": sum(g < 0 for g in gain)}
    emit({"benchmark": "atlas_fusion", "machine": machine(), "subjects": args.subjects, "size": args.size,
          "deform": args.deform, "transform": args.transform, "test_cases": len(single or {}),
          "methods": results, "minutes": round((time.perf_counter() - t0) / 60, 2)})


if __name__ == "__main__":
    main()

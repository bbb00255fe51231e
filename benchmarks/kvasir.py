"""Kvasir-SEG polyp segmentation within a time budget on this machine.

Trains with the segmentation recipe on a folder of Kvasir-SEG images (e.g. ../shared/data/kvasir-seg-880,
the 880 training ids of the official split), holding out a test part that the model never sees, and prints
JSON: test Dice/IoU (at each image's original size, with bootstrap intervals), validation IoU per epoch,
training images/s and the minutes used. Target (issue 2): mean Dice >= 0.80 on unseen images after at most
60 minutes of training on 2 cores.

    python benchmarks/kvasir.py --data ../shared/data/kvasir-seg-880 --minutes 60 [--out runs/kvasir]
        [--tta flips] [--test-data DIR_WITH_THE_120_OFFICIAL_TEST_IMAGES]

The held-out part of ``--data`` is always scored without test-time augmentation; ``--tta flips|dihedral``
adds a second score of the same model with its predictions averaged over symmetries (4 or 8 passes), and
``--test-data`` scores the model on another folder (e.g. the 120 official Kvasir-SEG test ids), both ways.

Measured 2026-12-01 (AMD Zen 5, 2 cores, defaults, ``fit()`` with ``tune_malloc``): 135 epochs in 59.9 minutes
at 23.1 training images/s; test Dice 0.833 (bootstrap 95% interval 0.798-0.865, 3 of 176 cases missed), 0.845
with flips TTA. Before the malloc setting the same recipe managed 75 epochs at 12.9 images/s and Dice 0.831.

Kvasir-SEG: D. Jha et al., "Kvasir-SEG: A Segmented Polyp Dataset", MMM 2020, LNCS 11962, pp. 451-462.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from _common import emit, machine

from pixelwise.data.splits import parse_fractions
from pixelwise.tasks.segment import TTA_MODES, SegmentationConfig, evaluate, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--out", default="runs/kvasir")
    parser.add_argument("--model", default="unet")
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--base-channels", type=int, default=16)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--schedule", default="onecycle")
    parser.add_argument("--split", default="0.7,0.1,0.2", help="train,val,test; the test part is never trained on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tta", default="flips", choices=TTA_MODES, help="also score with test-time augmentation")
    parser.add_argument("--test-data", default=None, help="also score on this folder of images/ and masks/")
    args = parser.parse_args()
    config = SegmentationConfig(
        data=args.data, out=args.out, model=args.model, size=args.size, base_channels=args.base_channels,
        depth=args.depth, batch_size=args.batch_size, lr=args.lr, schedule=args.schedule, minutes=args.minutes,
        epochs=1000, split=parse_fractions(args.split), seed=args.seed)
    t = time.perf_counter()
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731 (progress on stderr, the JSON alone on stdout)
    result = run(config, overwrite=True, progress=False, log=log)
    m = result.metrics["metrics"]
    quiet = dict(progress=False, log=log)
    extra = {}
    if args.tta != "none":
        extra[f"held_out_tta_{args.tta}"] = _scores(evaluate(result.run_dir, tta=args.tta, **quiet))
    if args.test_data:
        extra["test_data"] = args.test_data
        for tta in dict.fromkeys(["none", args.tta]):
            extra[f"test_data_tta_{tta}"] = _scores(evaluate(result.run_dir, data=args.test_data, tta=tta, **quiet))
    train_seconds = sum(r["seconds"] for r in result.history)


    split = json.loads((result.run_dir / "split.json").read_text())
    n_train = len(split["train"]) * len(result.history)
    emit({
        "benchmark": "kvasir", "machine": machine(), "data": args.data, "minutes_budget": args.minutes,
        "config": {k: getattr(config, k) for k in ("model", "size", "base_channels", "depth", "batch_size", "lr",
                                                    "schedule", "split", "seed")},
        "cases": {k: len(split[k]) for k in ("train", "val", "test")},
        "epochs": len(result.history), "train_minutes": round(train_seconds / 60, 2),
        "total_minutes": round((time.perf_counter() - t) / 60, 2),
        "train_images_per_s": round(n_train / max(train_seconds, 1e-9), 2),
        "val_iou_by_epoch": [round(r.get("val_iou", float("nan")), 4) for r in result.history],
        "test_dice": m["dice"], "test_iou": m["iou"], "test_hd95": m["hd95"],
        "categories": result.metrics.get("categories"),
        **extra,
        "target_dice>=0.80": m["dice"]["mean"] >= 0.80,
    })


def _scores(metrics: dict) -> dict:
    m = metrics["metrics"]
    return {"n_cases": metrics["n_cases"], "dice": m["dice"], "iou": m["iou"], "hd95": m["hd95"]}


if __name__ == "__main__":
    main()

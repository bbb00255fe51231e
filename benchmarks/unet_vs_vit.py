"""U-Net against ViT on Kvasir-SEG at the same CPU budget, compared case by case with ``segment compare``.

Both train on the same split (the same seed) for ``--minutes`` each, are scored on the same held-out test cases at
each image's original size, and ``segment compare`` gives each model's mean Dice and IoU with bootstrap intervals,
the paired difference ViT - U-Net with its seeded paired bootstrap interval, wins / ties / losses by case, and a
figure of the cases where they disagree most (in ``--out``/compare). Prints JSON (the course exercise: report both
and the paired difference).

    python benchmarks/unet_vs_vit.py --data ../shared/data/kvasir-seg-880 --minutes 30 [--out runs/unet-vs-vit]

Kvasir-SEG: D. Jha et al., "Kvasir-SEG: A Segmented Polyp Dataset", MMM 2020, LNCS 11962, pp. 451-462.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _common import emit, machine

from pixelwise.data.splits import parse_fractions
from pixelwise.tasks.compare import compare
from pixelwise.tasks.segment import SegmentationConfig, run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="folder with images/ and masks/ (e.g. kvasir-seg-880)")
    p.add_argument("--out", default="runs/unet-vs-vit")
    p.add_argument("--minutes", type=float, default=30, help="training budget of each model")
    p.add_argument("--size", type=int, default=192)
    p.add_argument("--base-channels", type=int, default=16, help="U-Net")
    p.add_argument("--depth", type=int, default=4, help="U-Net")
    p.add_argument("--unet-lr", type=float, default=2e-3)
    p.add_argument("--patch-size", type=int, default=16, help="ViT")
    p.add_argument("--dim", type=int, default=192, help="ViT")
    p.add_argument("--vit-depth", type=int, default=6, help="ViT")
    p.add_argument("--heads", type=int, default=3, help="ViT")
    p.add_argument("--vit-lr", type=float, default=5e-4)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--split", default="0.7,0.1,0.2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=1000, help="upper bound of the epochs (toy runs: 1)")
    args = p.parse_args()
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731 (progress on stderr, the JSON alone on stdout)
    out, t0 = Path(args.out), time.perf_counter()
    shared = dict(data=args.data, size=args.size, batch_size=args.batch_size, schedule="onecycle",
                  split=parse_fractions(args.split), seed=args.seed, minutes=args.minutes, epochs=args.epochs)
    unet = run(SegmentationConfig(**shared, out=str(out / "unet"), model="unet", base_channels=args.base_channels,
                                  depth=args.depth, lr=args.unet_lr), progress=False, log=log, overwrite=True)
    vit = run(SegmentationConfig(**shared, out=str(out / "vit"), model="vit", patch_size=args.patch_size,
                                 dim=args.dim, vit_depth=args.vit_depth, heads=args.heads, lr=args.vit_lr),
              progress=False, log=log, overwrite=True)
    result = compare([unet.run_dir, vit.run_dir], "segment", out / "compare", seed=args.seed, log=log)
    summary, diff = result["comparison"]["summary"], result["comparison"]["difference"]["vit"]
    emit({"benchmark": "unet_vs_vit", "machine": machine(), "data": args.data, "minutes_per_model": args.minutes,
          "test_cases": result["n_cases"],
          "unet": {"dice": summary["unet"]["dice"], "iou": summary["unet"]["iou"], "epochs": len(unet.history)},
          "vit": {"dice": summary["vit"]["dice"], "iou": summary["vit"]["iou"], "epochs": len(vit.history)},
          "vit_minus_unet": {k: {s: diff[k][s] for s in ("mean", "ci_low", "ci_high", "wins", "ties", "losses")}
                             for k in ("dice", "iou")},
          "categories": result["categories"]["counts"], "report": str(out / "compare" / "report.html"),
          "total_minutes": round((time.perf_counter() - t0) / 60, 2)})


if __name__ == "__main__":
    main()

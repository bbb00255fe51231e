"""``pixelwise demo``: generated polyps, a U-Net and a ViT trained in a few minutes each, test IoUs printed."""

from __future__ import annotations

import argparse
from pathlib import Path

from pixelwise.cli.options import add_threads
from pixelwise.cli.types import check_output, seed
from pixelwise.errors import PixelwiseError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("demo", description="Train a U-Net and a ViT on generated polyps for a few minutes "
                              "each and print their test IoUs.")
    p.add_argument("--out", default="runs/demo", help="folder for the generated data and both runs")
    p.add_argument("--minutes", type=float, default=2.0, help="training budget per model (default 2)")
    p.add_argument("--n", type=int, default=320, help="number of generated images")
    p.add_argument("--size", type=int, default=64, help="image size of the generated data")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing demo folder")
    p.add_argument("--quiet", action="store_true")
    add_threads(p)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    import shutil

    from pixelwise.data.synthetic import write_polyps_folder
    from pixelwise.tasks.segment import SegmentationConfig, run

    out = Path(args.out)
    if args.n < 10:
        raise PixelwiseError(f"--n {args.n} is too few images for a train/val/test split; use at least 10.")
    if args.size < 8:
        raise PixelwiseError(f"--size {args.size} is too small for the generated polyps; use at least 8 (e.g. 64).")
    check_output(out, folder=True)
    common = dict(data=str(out / "data"), size=args.size, minutes=args.minutes, epochs=1000, seed=args.seed,
                  batch_size=16)
    configs = {  # built (and so checked) before anything is written
        "unet": SegmentationConfig(out=str(out / "unet"), model="unet", base_channels=16, depth=3, lr=3e-3, **common),
        "vit": SegmentationConfig(out=str(out / "vit"), model="vit", patch_size=8, dim=96, vit_depth=4, heads=4,
                                  lr=1e-3, **common),
    }
    for config in configs.values():
        config.fit_config()  # the loop's own checks (e.g. --minutes > 0), also before anything is written
    if out.exists() and any(out.iterdir()):
        if not args.overwrite:
            raise PixelwiseError(f"{out} already exists; pass --overwrite to replace it or choose another --out.")
        shutil.rmtree(out)
    data = write_polyps_folder(out / "data", args.n, args.size, args.seed)
    print(f"generated {args.n} images of {args.size}x{args.size} in {data}")
    ious = {}
    for name, config in configs.items():
        print(f"\n== {name}: training for about {args.minutes:g} minutes")
        # the progress bar shows each epoch; keep the printed lines to the summary ones
        result = run(config, progress=not args.quiet, log=lambda s: None if s.startswith("epoch ") else print(s))
        ious[name] = result.metrics["metrics"]["iou"]["mean"]
    print("\n== demo results (test split of the generated data)")
    for name, iou in ious.items():
        print(f"{name:5s} test IoU {iou:.3f}   report: {out / name / 'report.html'}   plots: {out / name / 'plots'}")
    return 0

"""``pixelwise segment train | eval | predict | compare | baseline``."""

from __future__ import annotations

import argparse

from pixelwise.cli.compare import add_compare_parser
from pixelwise.cli.options import (
    add_config_options,
    add_device,
    add_eval_options,
    add_quiet,
    add_run_flags,
    add_tiles,
    add_which,
    config_from_args,
    evaluation_out,
    logger,
    run_training,
    tiles_of,
)
from pixelwise.cli.types import check_output, spacing

TTA_CHOICES = ("none", "flips", "dihedral")


def add_parser(subparsers) -> None:
    from pixelwise.tasks.segment.baseline_config import BaselineConfig
    from pixelwise.tasks.segment.config import SegmentationConfig

    p = subparsers.add_parser("segment", help="train, evaluate and apply segmentation models",
                              description="Segmentation from a folder of images/ and masks/.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))

    t = sub.add_parser("train", help="train and evaluate a model on a folder of images and masks",
                       description="Train a segmentation model and evaluate it on the test split. Every setting "
                       "can also come from --config (TOML, or a run's config.json); options given here win.")
    add_config_options(t, SegmentationConfig, required=("data",))
    add_run_flags(t, SegmentationConfig)
    t.set_defaults(func=cmd_train)

    _add_eval(sub)
    _add_predict(sub)
    add_compare_parser(sub, "segment")
    _add_baseline(sub, BaselineConfig)


def _add_tta(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tta", default="none", choices=TTA_CHOICES,
                   help="test-time augmentation: average the probabilities over flips (4 passes) or all 8 "
                        "symmetries of the square (dihedral); default none")


def _add_eval(sub) -> None:
    e = sub.add_parser("eval", help="evaluate a run (its test split, or every case of --data)",
                       description="Score a run's checkpoint at each image's own size. The run's test split with "
                       "its own settings rewrites the run's results; other data or settings go to "
                       "RUN/evaluations/NAME (or --out) and never replace them.")
    add_eval_options(e, "another folder of images/ and masks/ to evaluate on")
    e.add_argument("--good-iou", type=float, default=None, help="gallery: good cases have IoU >= this (default: the "
                   "run's, 0.8)")
    e.add_argument("--partial-iou", type=float, default=None,
                   help="gallery: partial cases have IoU >= this, poor ones less (default: the run's, 0.2)")
    _add_tta(e)
    e.add_argument("--spacing", type=spacing, default=None, metavar="ROW,COL",
                   help="pixel size (rows, columns) for surface distances and areas, e.g. 0.5,0.5 (default: the "
                        "run's, or pixels)")
    add_device(e)
    add_tiles(e)
    e.set_defaults(func=cmd_eval)


def _add_predict(sub) -> None:
    r = sub.add_parser("predict", help="write mask PNGs at each image's own size")
    r.add_argument("--run", required=True, help="run folder")
    r.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    r.add_argument("--out", required=True, help="folder for the mask PNGs")
    add_which(r)
    r.add_argument("--batch-size", type=int, default=4)
    _add_tta(r)
    r.add_argument("--compile", action="store_true",
                   help="run the network through torch.compile with frozen weights (compiles once, at the first "
                        "batch; faster on some processors: benchmarks/predict_throughput.py measures it)")
    add_device(r)
    add_tiles(r)
    add_quiet(r)
    r.set_defaults(func=cmd_predict)


def _add_baseline(sub, BaselineConfig) -> None:  # noqa: N803 (the config class, imported lazily by the caller)
    b = sub.add_parser("baseline", help="a classical method (Otsu, adaptive, region growing, watershed, atlases) "
                       "scored like a trained network", description="Segment the test cases with a classical method "
                       "and score them exactly as `segment eval` scores a network (metrics.json, per_case.csv, "
                       "plots/, report.html). --like RUN takes that run's split and compares case by case. Every "
                       "setting can also come from --config (TOML, or a baseline's config.json).")
    add_config_options(b, BaselineConfig)
    add_run_flags(b, BaselineConfig, resume=False)
    b.set_defaults(func=cmd_baseline)


def cmd_train(args: argparse.Namespace) -> int:
    from pixelwise.tasks.segment import SegmentationConfig, run

    return run_training(SegmentationConfig, run, args)


def cmd_eval(args: argparse.Namespace) -> int:
    from pixelwise.tasks.segment import evaluate

    evaluate(args.run, args.data, which=args.which, tta=args.tta, good_iou=args.good_iou,
             partial_iou=args.partial_iou, name=args.name, out=evaluation_out(args), progress=not args.quiet,
             spacing=args.spacing, tiles=tiles_of(args), device=args.device)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from pixelwise.errors import PixelwiseError
    from pixelwise.tasks.segment import predict

    if args.batch_size < 1:
        raise PixelwiseError(f"--batch-size {args.batch_size} must be >= 1.")
    check_output(args.out, folder=True)
    written = predict(args.run, args.inputs, args.out, args.batch_size, progress=not args.quiet, tta=args.tta,
                      compile=args.compile, which=args.which, tiles=tiles_of(args), device=args.device)
    print(f"wrote {len(written)} masks to {args.out}")
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from pixelwise.tasks.segment import BaselineConfig, run_baseline

    config = config_from_args(BaselineConfig, args)
    check_output(config.out, folder=True)
    result = run_baseline(config, overwrite=args.overwrite, progress=not args.quiet, log=logger(args.quiet))
    print(f"run folder: {result.run_dir}")
    return 0

"""``pixelwise segment train | eval | predict``."""

from __future__ import annotations

import argparse

from pixelwise.cli.types import check_output, seed
from pixelwise.data.splits import parse_fractions
from pixelwise.errors import PixelwiseError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("segment", help="train, evaluate and apply segmentation models",
                              description="Segmentation from a folder of images/ and masks/.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))

    t = sub.add_parser("train", help="train and evaluate a model on a folder of images and masks")
    t.add_argument("--data", required=True, help="folder with images/ and masks/ (same stems)")
    t.add_argument("--model", default="unet", help="unet, vit or fcn (default unet)")
    t.add_argument("--out", default="runs/segment", help="run folder to create (default runs/segment)")
    t.add_argument("--epochs", type=int, default=None, help="epochs (default 20; the upper bound with --minutes)")
    t.add_argument("--minutes", type=float, default=None, help="time budget: plan the schedule to end within it")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--lambda-dice", type=float, default=1.0, help="loss = BCE + lambda * Dice loss (>= 0)")
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--size", type=int, default=256, help="training size in pixels (square)")
    t.add_argument("--split", default="0.6,0.2,0.2", help="train,val,test fractions (default 0.6,0.2,0.2)")
    t.add_argument("--train-ids", default=None, help="file of training ids (one stem per line) instead of --split")
    t.add_argument("--test-ids", default=None, help="file of test ids, used with --train-ids")
    t.add_argument("--seed", type=seed, default=0)
    t.add_argument("--deterministic", action="store_true", help="use deterministic algorithms")
    t.add_argument("--compile", action="store_true",
                   help="train through torch.compile, about 1.2x faster for the U-Net on a CPU (needs a C++ "
                        "compiler; falls back to eager without one)")
    t.add_argument("--num-classes", type=int, default=None, help="K >= 2 for integer label masks (default: binary)")
    t.add_argument("--channels", type=int, default=3, choices=(1, 3), help="3 for RGB, 1 for grey images")
    t.add_argument("--threshold", type=int, default=127, help="binary masks: foreground is grey > threshold")
    t.add_argument("--base-channels", type=int, default=32)
    t.add_argument("--depth", type=int, default=4)
    t.add_argument("--padding", default="same", choices=("same", "valid"))
    t.add_argument("--norm", default="batch", choices=("batch", "instance", "group", "none"))
    t.add_argument("--up", default="transpose", choices=("transpose", "bilinear"))
    t.add_argument("--schedule", default="cosine", choices=("cosine", "onecycle", "constant"))
    t.add_argument("--patience", type=int, default=None, help="early stopping after this many epochs without gain")
    t.add_argument("--no-augment", action="store_true", help="turn off flips, rotations, crops, brightness/contrast")
    t.add_argument("--patch-size", type=int, default=16, help="ViT patch size")
    t.add_argument("--dim", type=int, default=192, help="ViT width")
    t.add_argument("--vit-depth", type=int, default=6, help="ViT transformer layers")
    t.add_argument("--heads", type=int, default=3, help="ViT attention heads")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    t.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate a run's best checkpoint (test split, or every case of --data)")
    e.add_argument("--run", required=True, help="run folder")
    e.add_argument("--data", default=None, help="another folder of images/ and masks/ to evaluate on")
    e.add_argument("--good-iou", type=float, default=None, help="gallery: good cases have IoU >= this (default 0.8)")
    e.add_argument("--partial-iou", type=float, default=None,
                   help="gallery: partial cases have IoU >= this, missed ones less (default 0.2)")
    e.add_argument("--tta", default="none", choices=("none", "flips", "dihedral"),
                   help="test-time augmentation: average the probabilities over flips (4 passes) or all 8 "
                        "symmetries of the square (dihedral); default none")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_eval)

    r = sub.add_parser("predict", help="write mask PNGs at each image's own size")
    r.add_argument("--run", required=True, help="run folder")
    r.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    r.add_argument("--out", required=True, help="folder for the mask PNGs")
    r.add_argument("--batch-size", type=int, default=4)
    r.add_argument("--tta", default="none", choices=("none", "flips", "dihedral"),
                   help="test-time augmentation: average the probabilities over flips (4 passes) or all 8 "
                        "symmetries of the square (dihedral); default none")
    r.add_argument("--compile", action="store_true",
                   help="run the network through torch.compile with frozen weights (compiles once, at the first "
                        "batch; faster on some processors: benchmarks/predict_throughput.py measures it)")
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=cmd_predict)


def cmd_train(args: argparse.Namespace) -> int:
    from pixelwise.tasks.segmentation import SegmentationConfig, run

    epochs = args.epochs if args.epochs is not None else (1000 if args.minutes else 20)
    if args.test_ids and not args.train_ids:
        raise PixelwiseError("--test-ids needs --train-ids as well (or use --split).")
    config = SegmentationConfig(
        data=args.data, out=args.out, model=args.model, size=args.size, num_classes=args.num_classes,
        channels=args.channels, threshold=args.threshold, base_channels=args.base_channels, depth=args.depth,
        padding=args.padding, norm=args.norm, up=args.up, patch_size=args.patch_size, dim=args.dim,
        vit_depth=args.vit_depth, heads=args.heads, epochs=epochs, minutes=args.minutes, lr=args.lr,
        weight_decay=args.weight_decay, batch_size=args.batch_size, schedule=args.schedule, patience=args.patience,
        lambda_dice=args.lambda_dice, augment=not args.no_augment, split=parse_fractions(args.split),
        train_ids=args.train_ids, test_ids=args.test_ids, seed=args.seed, deterministic=args.deterministic,
        compile=args.compile)
    result = run(config, overwrite=args.overwrite, resume=args.resume, progress=not args.quiet)
    print(f"run folder: {result.run_dir}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from pixelwise.tasks.segmentation import evaluate

    evaluate(args.run, args.data, progress=not args.quiet, good_iou=args.good_iou, partial_iou=args.partial_iou,
             tta=args.tta)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from pixelwise.tasks.segmentation import predict

    if args.batch_size < 1:
        raise PixelwiseError(f"--batch-size {args.batch_size} must be >= 1.")
    check_output(args.out, folder=True)
    written = predict(args.run, args.inputs, args.out, args.batch_size, progress=not args.quiet, tta=args.tta,
                      compile=args.compile)
    print(f"wrote {len(written)} masks to {args.out}")
    return 0

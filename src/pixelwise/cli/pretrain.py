"""``pixelwise pretrain train | eval``: self-supervised pretraining of the segmentation models' encoders."""

from __future__ import annotations

import argparse

from pixelwise.cli.options import add_config_options, add_eval_options, add_run_flags, evaluation_out, run_training
from pixelwise.errors import PixelwiseError


def add_parser(subparsers) -> None:
    from pixelwise.tasks.pretrain.config import PretrainConfig

    p = subparsers.add_parser("pretrain", help="pretrain the U-Net's or ViT's encoder on unlabelled images (SimCLR, "
                              "autoencoders); linear probes",
                              description="Self-supervised pretraining of a segmentation model's encoder; its run "
                              "starts `segment train --init RUN`.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))

    t = sub.add_parser("train", help="pretrain an encoder on a folder of images (masks and labels ignored)",
                       description="Pretrain the encoder of the segmentation U-Net or ViT with SimCLR (--method "
                       "simclr) or as a plain, denoising or masked autoencoder (ae, dae, mae). Give the encoder the "
                       "sizes the segmentation run will have (--base-channels, --depth, --norm; for the ViT also "
                       "--size). Every setting can also come from --config; options given here win.")
    add_config_options(t, PretrainConfig, required=("data",))
    add_run_flags(t, PretrainConfig)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="score the pretext task, or with --probe the linear-probe accuracy on labelled "
                       "data against a random and a supervised encoder",
                       description="Without --probe: the pretext task on the run's validation images (rewriting "
                       "the run's results) or on --data (to RUN/evaluations/NAME). With --probe: linear probes of "
                       "the frozen encoder, a random one and a supervised one on labelled --data (digits, mnist, an "
                       ".npz with labels, a folder of class sub-folders), to RUN/evaluations/probe-NAME (or --out).")
    add_eval_options(e, "images to score on; with --probe a labelled set (required)")
    e.add_argument("--probe", action="store_true", help="linear-probe accuracy on labelled --data")
    e.add_argument("--test-data", default=None, help="probe: score the probes on this labelled set instead (then "
                   "all of --data trains them)")
    e.add_argument("--test-fraction", type=float, default=0.2, help="probe: share of --data held out to score the "
                   "probes (default 0.2)")
    e.add_argument("--max-images", type=int, default=None, help="probe: a random subset of --data of this size")
    e.add_argument("--supervised-epochs", type=int, default=10, help="probe: epochs of the supervised reference "
                   "(default 10; with --supervised-minutes the upper bound)")
    e.add_argument("--supervised-minutes", type=float, default=None, help="probe: time budget of the supervised "
                   "reference")
    e.set_defaults(func=cmd_eval)


def cmd_train(args: argparse.Namespace) -> int:
    from pixelwise.tasks.pretrain import PretrainConfig, run

    return run_training(PretrainConfig, run, args)


def cmd_eval(args: argparse.Namespace) -> int:
    from pixelwise.tasks.pretrain import evaluate, probe

    out = evaluation_out(args)
    if not args.probe:
        evaluate(args.run, args.data, which=args.which, name=args.name, out=out, progress=not args.quiet)
        return 0
    if not args.data:
        raise PixelwiseError("--probe needs labelled --data: digits, mnist, an .npz with labels, or a folder of class "
                             "sub-folders.")
    if args.max_images is not None and args.max_images < 10:
        raise PixelwiseError(f"--max-images {args.max_images} leaves too few images for a probe; use at least 10.")
    probe(args.run, args.data, test_data=args.test_data, which=args.which, test_fraction=args.test_fraction,
          max_images=args.max_images, supervised_epochs=args.supervised_epochs,
          supervised_minutes=args.supervised_minutes, name=args.name, out=out, progress=not args.quiet)
    return 0

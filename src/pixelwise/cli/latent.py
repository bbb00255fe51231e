"""``pixelwise latent train | eval | sample``: autoencoders (AE, VAE, VQ-VAE with its prior, ...) and GANs."""

from __future__ import annotations

import argparse

from pixelwise.cli.options import (
    add_config_options,
    add_eval_options,
    add_quiet,
    add_run_flags,
    add_which,
    evaluation_out,
    run_training,
)
from pixelwise.cli.types import check_output, seed
from pixelwise.errors import PixelwiseError


def add_parser(subparsers) -> None:
    from pixelwise.tasks.latent.config import LatentConfig

    p = subparsers.add_parser("latent", help="train, evaluate and sample autoencoders (AE, VAE, VQ-VAE, ...) and "
                              "GANs", description="Autoencoders, anomaly detection and GANs on image collections.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))

    t = sub.add_parser("train", help="train a model and evaluate it on a held-out test split",
                       description="Train an autoencoder (a VQ-VAE then its PixelCNN prior) or a GAN (after its "
                       "digit classifier) and evaluate it. Every setting can also come from --config (TOML, or a "
                       "run's config.json); options given here win.")
    add_config_options(t, LatentConfig)
    add_run_flags(t, LatentConfig)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate a run (its test split, or every image of --data)",
                       description="Score a run's checkpoint. The run's test split with the best checkpoint rewrites "
                       "the run's results; other data or the last checkpoint go to RUN/evaluations/NAME (or --out) "
                       "and never replace them. GAN runs are scored by their samples.")
    add_eval_options(e, "another source to evaluate on (e.g. mnist-test, an .npz, a folder)")
    e.set_defaults(func=cmd_eval)

    s = sub.add_parser("sample", help="decode random codes (N(0, I); the VQ-VAE's PixelCNN prior) or draw GAN "
                       "samples into a PNG grid")
    s.add_argument("--run", required=True, help="run folder")
    s.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--seed", type=seed, default=0, help="seed of the random codes (default 0)")
    s.add_argument("--out", default=None, help="PNG path (default RUN/plots/samples_seedS.png)")
    add_which(s)
    add_quiet(s)
    s.set_defaults(func=cmd_sample)


def cmd_train(args: argparse.Namespace) -> int:
    from pixelwise.tasks.latent import LatentConfig, run

    return run_training(LatentConfig, run, args)


def cmd_eval(args: argparse.Namespace) -> int:
    from pixelwise.tasks.latent import evaluate

    evaluate(args.run, args.data, which=args.which, name=args.name, out=evaluation_out(args),
             progress=not args.quiet)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from pixelwise.tasks.latent import sample

    if args.n < 1:
        raise PixelwiseError(f"-n {args.n} must be >= 1, e.g. -n 16.")
    if args.out:
        check_output(args.out, folder=False)
    path = sample(args.run, args.n, args.seed, args.out, which=args.which, progress=not args.quiet)
    print(f"wrote {args.n} samples to {path}")
    return 0

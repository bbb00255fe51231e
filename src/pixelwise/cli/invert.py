"""``pixelwise invert --run RUN``: recover training images from one shared gradient."""

from __future__ import annotations

import argparse

from pixelwise.cli.options import add_config_options, add_quiet, config_from_args, logger, settings_of


def add_parser(subparsers) -> None:
    from pixelwise.tasks.invert.config import InvertConfig

    p = subparsers.add_parser("invert", help="recover training images from one shared gradient (gradient inversion)",
                              description="Gradient inversion (Zhu et al. 2019; Geiping et al. 2020) against a "
                              "segment or classify run: recover a --batch of its training images from the gradient a "
                              "federated client would share (plain, or DP-SGD's), report PSNR/SSIM, and write "
                              "figures and report.html to RUN/evaluations/invert-bB (or --out).")
    add_config_options(p, InvertConfig, required=("run",))
    p.add_argument("--config", default=None, metavar="FILE", help="settings from a TOML file or an earlier "
                   "inversion's config.json; options given here win")
    add_quiet(p)
    p.set_defaults(func=cmd_invert, _settings=settings_of(InvertConfig))


def cmd_invert(args: argparse.Namespace) -> int:
    from pixelwise.cli.options import check_required
    from pixelwise.cli.types import check_output
    from pixelwise.tasks.invert import InvertConfig, run

    config = config_from_args(InvertConfig, args)
    check_required(config, ("run",), "invert")
    if config.out is not None:
        check_output(config.out, folder=True)
    run(config, progress=not args.quiet, log=logger(args.quiet))
    return 0

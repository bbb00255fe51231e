"""``pixelwise explain --run RUN IMAGE... --method ...``: attribution maps, filters, activation maximisation."""

from __future__ import annotations

import argparse

from pixelwise.cli.options import add_config_options, add_run_flags, config_from_args, logger


def add_parser(subparsers) -> None:
    from pixelwise.tasks.explain.config import ExplainConfig

    p = subparsers.add_parser(
        "explain", help="attribution maps, filters and activation maximisation of a trained run",
        description="Explain a segment, classify or restore run: for each IMAGE, the attribution of the chosen "
        "--target (the predicted region or class, a box, a mask file) by each --method, as overlays beside the "
        "image and its prediction, raw maps (.npy) and a report page in the new folder --out; --method filters "
        "and maximise show the first layer's filters and what maximises a channel of a layer.")
    p.add_argument("images", nargs="*", default=argparse.SUPPRESS, metavar="IMAGE", help="image files or folders")
    add_config_options(p, ExplainConfig, skip=("images",), required=("run", "out"))
    add_run_flags(p, ExplainConfig, resume=False)
    p.set_defaults(func=cmd_explain)


def cmd_explain(args: argparse.Namespace) -> int:
    from pixelwise.cli.options import check_required
    from pixelwise.cli.types import check_output
    from pixelwise.tasks.explain import ExplainConfig, run

    if "images" in vars(args):
        args.images = tuple(args.images)
    config = config_from_args(ExplainConfig, args)
    check_required(config, ("run", "out"), "explain")
    check_output(config.out, folder=True)
    run(config, overwrite=args.overwrite, progress=not args.quiet, log=logger(args.quiet))
    return 0

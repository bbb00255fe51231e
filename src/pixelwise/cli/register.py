"""``pixelwise register FIXED MOVING``: rigid, affine or deformable registration of two images.

The options come from the fields of :class:`pixelwise.tasks.register.config.RegisterConfig`; FIXED and MOVING are
the positional forms of its ``fixed`` and ``moving`` fields.
"""

from __future__ import annotations

import argparse

from pixelwise.cli.options import (
    add_config_options,
    add_run_flags,
    config_from_args,
    logger,
)


def add_parser(subparsers) -> None:
    from pixelwise.tasks.register.config import RegisterConfig

    p = subparsers.add_parser(
        "register", help="register two images: rigid, affine or deformable, by SSD, SAD, NCC, local NCC or NMI",
        description="Find the transform T that carries MOVING onto FIXED (warped(p) = moving(T(p))) by gradient "
        "descent through a differentiable warp, coarse to fine, and write warped.png, transform.json (and "
        "displacement.npy for deformable), metrics.json (every similarity before and after, inverse consistency, "
        "the Jacobian's range) and figure.png into the new folder --out.")
    p.add_argument("fixed", nargs="?", default=argparse.SUPPRESS, metavar="FIXED", help="the fixed (reference) image")
    p.add_argument("moving", nargs="?", default=argparse.SUPPRESS, metavar="MOVING", help="the moving image")
    add_config_options(p, RegisterConfig, skip=("fixed", "moving"))
    add_run_flags(p, RegisterConfig, resume=False)
    p.set_defaults(func=cmd_register)


def cmd_register(args: argparse.Namespace) -> int:
    from pixelwise.cli.types import check_output
    from pixelwise.errors import PixelwiseError
    from pixelwise.tasks.register import RegisterConfig, run

    config = config_from_args(RegisterConfig, args)
    if not config.fixed or not config.moving:
        raise PixelwiseError("`pixelwise register` needs two images, FIXED and MOVING (or fixed and moving in "
                             "--config).")
    check_output(config.out, folder=True)
    result = run(config, overwrite=args.overwrite, progress=not args.quiet, log=logger(args.quiet))
    print(f"wrote {result.run_dir}/ (warped.png, transform.json, metrics.json, figure.png)")
    return 0

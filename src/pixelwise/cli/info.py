"""``pixelwise info``: versions, threads, maths libraries, devices and allocator settings, for bug reports."""

from __future__ import annotations

import argparse
import json

from pixelwise.cli.options import add_quiet


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("info", help="versions, threads, BLAS/oneDNN, devices and allocator settings",
                              description="Print what this machine gives pixelwise (paste it into bug reports).")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    add_quiet(p)
    p.set_defaults(func=cmd_info)


def cmd_info(args: argparse.Namespace) -> int:
    from pixelwise.train.environment import describe, report

    sections = describe()
    print(json.dumps(sections, indent=2) if args.json else report(sections))
    return 0

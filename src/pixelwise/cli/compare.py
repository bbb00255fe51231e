"""``pixelwise segment compare`` and ``pixelwise restore compare``: one sub-command, added to each group."""

from __future__ import annotations

import argparse

from pixelwise.cli.options import add_quiet, logger
from pixelwise.cli.types import check_output, seed


def add_compare_parser(sub, command: str) -> None:
    """Register ``compare`` under a command group's sub-parsers (``command``: "segment" or "restore")."""
    what = {"segment": "Dice, IoU, surface distances and the case categories",
            "restore": "the network's PSNR and SSIM"}[command]
    c = sub.add_parser("compare", help="compare two or more runs on the same test cases (paired differences, "
                       "wins/ties/losses, a report)",
                       description=f"Compare the test results of runs of `pixelwise {command} train` case by case "
                       f"({what}): each run against the first, with a seeded paired bootstrap interval of the mean "
                       "difference, wins / ties / losses by case, a figure of the cases where they disagree most and "
                       "a report page, in --out. Runs whose task or test cases differ are refused. A RUN may also be "
                       "one of a run's evaluations/NAME folders.")
    c.add_argument("runs", nargs="+", metavar="RUN", help="run folders; the first is the reference")
    c.add_argument("--out", required=True, help="folder for metrics.json, per_case.csv, plots/ and report.html")
    c.add_argument("--figure-cases", type=int, default=4, help="cases shown where the runs disagree most (default 4)")
    c.add_argument("--tie", type=float, default=0.0, help="differences up to this are ties (default 0: equal scores)")
    c.add_argument("--seed", type=seed, default=0, help="seed of the bootstrap (default 0)")
    add_quiet(c)
    c.set_defaults(func=cmd_compare, _kind=command)


def cmd_compare(args: argparse.Namespace) -> int:
    from pixelwise.tasks.compare import compare

    check_output(args.out, folder=True)
    compare(args.runs, args._kind, args.out, figure_cases=args.figure_cases, tie=args.tie, seed=args.seed,
            log=logger(args.quiet))
    return 0

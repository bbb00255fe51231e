"""The ``pixelwise`` command line: one argparse subcommand module per command group.

Each group module has ``add_parser(subparsers)`` which registers its sub-parser and sets
``func`` (a callable taking the parsed namespace and returning an exit code). Errors from bad input
(:class:`pixelwise.errors.PixelwiseError`) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys

from pixelwise.cli import arch, demo, diffuse, latent, restore, segment, solve
from pixelwise.errors import PixelwiseError
from pixelwise.train.allocator import tune_malloc

# name -> module with add_parser(subparsers); the order is the order of ``pixelwise --help``.
COMMAND_GROUPS = {
    "segment": segment,
    "solve": solve,
    "restore": restore,
    "latent": latent,
    "diffuse": diffuse,
    "arch": arch,
    "demo": demo,
}


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one sentence and exit code 2 (argparse's own convention)."""

    def error(self, message: str):  # pragma: no cover - exercised through the CLI tests
        hint = ""
        if "expected one argument" in message:  # e.g. --split -0.2,0.6,0.6: a value that starts with "-"
            hint = "; a value that starts with '-' is written --option=VALUE"
        self.exit(2, f"{self.prog}: error: {message}{hint} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pixelwise", description="Convolutional image-to-image deep learning: segmentation, "
                     "inverse problems, latent generative models, and tools to understand the networks.")
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in COMMAND_GROUPS.values():
        module.add_parser(subparsers)
    return parser


def _version() -> str:
    from pixelwise import __version__

    return f"pixelwise {__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    tune_malloc()  # see pixelwise.train.allocator; PIXELWISE_KEEP_MALLOC=1 leaves malloc alone
    try:
        return int(args.func(args) or 0)
    except PixelwiseError as err:
        print(f"pixelwise: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a path the operating system refused: unwritable --out, a file where a folder belongs
        where = f" {err.filename}" if err.filename else ""
        print(f"pixelwise: error: cannot use{where}: {err.strerror or err}; check the path (for an output, choose "
              "another --out in a folder you can write to).", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pixelwise: interrupted; the last checkpoint is kept (use --resume to continue).", file=sys.stderr)
        return 130

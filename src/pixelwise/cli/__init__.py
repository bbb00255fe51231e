"""The ``pixelwise`` command line: one argparse subcommand module per command group.

Each group module has ``add_parser(subparsers)`` which registers its sub-parser and sets ``func`` (a callable
taking the parsed namespace and returning an exit code); training commands derive their options from their
recipe's config dataclass (:mod:`pixelwise.cli.options`). Only the group named on the command line is imported
(the others are listed by name and help), so ``pixelwise --help`` does not import torch. Errors from bad input
(:class:`pixelwise.errors.PixelwiseError`) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import import_module

from pixelwise.errors import PixelwiseError

# name -> (module with add_parser(subparsers), one line of help); the order is the order of ``pixelwise --help``
COMMAND_GROUPS = {
    "segment": ("pixelwise.cli.segment", "train, evaluate and apply segmentation models"),
    "register": ("pixelwise.cli.register", "register two images: rigid, affine or deformable, by SSD, SAD, NCC, "
                 "local NCC or NMI"),
    "solve": ("pixelwise.cli.solve", "classical reconstruction: blur, down-sampling, inpainting, MRI, CT, denoising"),
    "pretrain": ("pixelwise.cli.pretrain", "pretrain the U-Net's or ViT's encoder on unlabelled images (SimCLR, "
                 "autoencoders); linear probes"),
    "restore": ("pixelwise.cli.restore", "train, evaluate and apply restoration networks; deep image prior"),
    "latent": ("pixelwise.cli.latent", "train, evaluate and sample autoencoders (AE, VAE, VQ-VAE, ...) and GANs"),
    "diffuse": ("pixelwise.cli.diffuse", "train a DDPM and draw samples"),
    "classify": ("pixelwise.cli.classify", "train and evaluate digit classifiers (also with DP-SGD or FedAvg)"),
    "explain": ("pixelwise.cli.explain", "attribution maps, filters and activation maximisation of a trained run"),
    "attack": ("pixelwise.cli.attack", "FGSM and PGD adversarial examples and the robustness curve of a run"),
    "invert": ("pixelwise.cli.invert", "recover training images from one shared gradient (gradient inversion)"),
    "arch": ("pixelwise.cli.arch", "receptive fields, output sizes, summaries, convolution matrices"),
    "demo": ("pixelwise.cli.demo", "train a U-Net and a ViT on generated data (a few minutes)"),
    "export": ("pixelwise.cli.export", "write a segmentation or restoration network as an ONNX graph"),
    "info": ("pixelwise.cli.info", "versions, threads, BLAS/oneDNN, devices and allocator settings"),
}


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one sentence and exit code 2 (argparse's own convention)."""

    def error(self, message: str):  # pragma: no cover - exercised through the CLI tests
        hint = ""
        if "expected one argument" in message:  # e.g. --split -0.2,0.6,0.6: a value that starts with "-"
            hint = "; a value that starts with '-' is written --option=VALUE"
        self.exit(2, f"{self.prog}: error: {message}{hint} (see `{self.prog} --help`)\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the group it names is built in full (the others are stubs with their help)."""
    parser = _Parser(prog="pixelwise", description="Convolutional image-to-image deep learning: segmentation, "
                     "inverse problems, latent generative models, and tools to understand the networks.")
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    chosen = next((a for a in argv if not a.startswith("-")), None) if argv is not None else None
    for name, (module, help_text) in COMMAND_GROUPS.items():
        if argv is None or name == chosen:
            import_module(module).add_parser(subparsers)
        else:
            subparsers.add_parser(name, help=help_text)
    for action in subparsers._choices_actions:  # the listing of `pixelwise --help` reads the table
        action.help = COMMAND_GROUPS[action.dest][1]
    return parser


def _version() -> str:
    from pixelwise import __version__

    return f"pixelwise {__version__}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from pixelwise.cli.options import apply_threads
    from pixelwise.train.allocator import tune_malloc

    apply_threads(args)  # --threads, on every command that has it
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
    except (MemoryError, RuntimeError) as err:
        message = out_of_memory(err)
        if message is None:
            raise
        print(f"pixelwise: error: {message}", file=sys.stderr)
        return 2


def out_of_memory(err: BaseException) -> str | None:
    """One sentence for an allocation the machine refused (torch's CPU allocator says "can't allocate memory"), or
    None for any other error (a bug, which keeps its traceback)."""
    text = str(err)
    if not isinstance(err, MemoryError) and "can't allocate memory" not in text:
        return None
    asked = re.search(r"allocate (\d+) bytes", text)
    size = f" ({int(asked[1]) / 2**30:.1f} GiB at once)" if asked else ""
    return (f"out of memory{size}: these settings ask for more than this machine has; lower --batch-size, --size or "
            "the network's widths (--latent-dim, --width, --base-channels).")

"""``pixelwise restore train | eval | apply | compare | dip``: learned reconstruction for the inverse problems."""

from __future__ import annotations

import argparse

from pixelwise.cli.compare import add_compare_parser
from pixelwise.cli.options import (
    add_config_options,
    add_device,
    add_eval_options,
    add_quiet,
    add_run_flags,
    add_threads,
    add_tiles,
    add_which,
    config_from_args,
    evaluation_out,
    logger,
    run_training,
    settings_of,
    tiles_of,
)
from pixelwise.cli.types import check_output

# the operator's other spellings on the command line (the library knows only pixelwise.physics.presets' names)
ALIASES = {"operator": ("--task",)}
SPELLINGS = {"operator": {"sr": "downsample", "deblur": "blur"}}


def add_parser(subparsers) -> None:
    from pixelwise.tasks.restore.config import RestorationConfig
    from pixelwise.tasks.restore.dip import DIPConfig

    p = subparsers.add_parser("restore", help="train, evaluate and apply restoration networks; deep image prior",
                              description="Learned reconstruction: denoising, super-resolution, deblurring, "
                                          "inpainting, MRI and CT.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))

    t = sub.add_parser("train", help="train a network (then evaluate it next to the naive and TV baselines)",
                       description="Train a restoration network and score it beside the naive inverse and TV. "
                       "--task (or --operator) takes denoise, sr (downsample), deblur (blur), inpaint, mri or ct. "
                       "Every setting can also come from --config (TOML, or a run's config.json); options given "
                       "here win.")
    add_config_options(t, RestorationConfig, aliases=ALIASES, values=SPELLINGS)
    add_run_flags(t, RestorationConfig)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="score a run next to the naive and TV baselines, with bootstrap intervals "
                       "(metrics.json, per_case.csv, plots/, report.html)",
                       description="Score a run's checkpoint beside the naive inverse and TV. The run's own "
                       "validation images with its own settings rewrite the run's results; other data or settings "
                       "go to RUN/evaluations/NAME (or --out) and never replace them.")
    add_eval_options(e, "folder of clean images, 'bundled' or 'phantoms' (a test draw); pairs runs: a folder with "
                     "input/ and target/ (default: the run's validation images)")
    e.add_argument("--protocol", default=None, choices=("plain", "denoise", "sr"),
                   help="scoring protocol (default: the run's)")
    e.add_argument("--sigma", type=float, nargs="+", metavar="S", help="score at this noise level in grey levels "
                   "(default: the run's), told to a --noise-map net; several: a table, and --out OUT/sigma-S each")
    add_ensemble(e)
    add_device(e)
    add_tiles(e)
    e.set_defaults(func=cmd_eval)

    a = sub.add_parser("apply", help="restore measured pictures (denoise, sr, deblur runs)")
    a.add_argument("--run", required=True, help="run folder")
    a.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    a.add_argument("--out", required=True, help="folder for the restored PNGs")
    a.add_argument("--sigma", type=float, default=None, help="the pictures' noise level in grey levels, told to a "
                   "network trained with --noise-map (default: the run's --sigma)")
    add_ensemble(a)
    add_which(a)
    add_device(a)
    add_tiles(a)
    add_quiet(a)
    a.set_defaults(func=cmd_apply)

    add_compare_parser(sub, "restore")

    d = sub.add_parser("dip", help="deep image prior on one image (simulated measurement, PSNR trace)",
                       description="Fit a deep image prior to a simulated measurement of one image. --task (or "
                       "--operator) as in `restore train`.")
    d.add_argument("image", help="image file or bundled sample name (camera, astronaut, shepp_logan)")
    add_config_options(d, DIPConfig, skip=("image",), aliases=ALIASES, values=SPELLINGS)
    d.add_argument("--config", default=None, metavar="FILE",
                   help="settings from a TOML file or an earlier dip's config.json; options given here win")
    d.add_argument("--overwrite", action="store_true", help="write into --out even if it already holds files")
    add_quiet(d)
    add_threads(d)
    d.set_defaults(func=cmd_dip, _settings=settings_of(DIPConfig))


def add_ensemble(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ensemble", action="store_true", help="x8 self-ensemble: the network averaged over the "
                        "flips and quarter turns of its input (8 times the time; denoise, sr, inpaint, Gaussian blur)")


def cmd_train(args: argparse.Namespace) -> int:
    from pixelwise.tasks.restore import RestorationConfig, run

    return run_training(RestorationConfig, run, args)


def cmd_eval(args: argparse.Namespace) -> int:
    from pixelwise.tasks.restore import evaluate

    sigmas = _eval_sigmas(args.sigma)
    out = evaluation_out(args)
    several = len(sigmas) > 1
    table = []
    for sigma in sigmas:
        name = f"{args.name}-sigma-{sigma:g}" if several and args.name else args.name
        metrics = evaluate(args.run, args.data, args.protocol, args.which, name=name,
                           out=out / f"sigma-{sigma:g}" if several and out is not None else out,
                           progress=not args.quiet, tiles=tiles_of(args), device=args.device, sigma=sigma,
                           ensemble=args.ensemble)
        table.append((sigma, metrics["mean"]))
    if several:
        _print_sigma_table(table)
    return 0


def _eval_sigmas(given: list[float] | None) -> list[float | None]:
    """``restore eval --sigma``: each level checked before anything is read or written; [None]: the run's own."""
    from pixelwise.errors import PixelwiseError
    from pixelwise.tasks.restore.config import check_sigma

    if given is None:
        return [None]
    levels = [check_sigma(s) for s in given]
    if len(set(levels)) != len(levels):
        raise PixelwiseError(f"--sigma {' '.join(f'{s:g}' for s in given)} repeats a level; give each noise level "
                             "once.")
    return levels


def _print_sigma_table(table: list[tuple[float, dict]]) -> None:
    """Mean PSNR of each method at each noise level, one row per level."""
    methods = list(table[0][1])
    print("sigma  " + "  ".join(f"{m:>8}" for m in methods) + "   (mean PSNR, dB)")
    for sigma, means in table:
        print(f"{sigma:5g}  " + "  ".join(f"{means[m]['psnr']:8.2f}" for m in methods))


def cmd_apply(args: argparse.Namespace) -> int:
    from pixelwise.tasks.restore import apply

    check_output(args.out, folder=True)
    apply(args.run, args.inputs, args.out, args.which, progress=not args.quiet, tiles=tiles_of(args),
          device=args.device, sigma=args.sigma, ensemble=args.ensemble)
    return 0


def cmd_dip(args: argparse.Namespace) -> int:
    from pixelwise.tasks.restore import DIPConfig, run_dip

    config = config_from_args(DIPConfig, args)
    check_output(config.out, folder=True)
    run_dip(config, overwrite=args.overwrite, progress=not args.quiet, log=logger(args.quiet))
    return 0

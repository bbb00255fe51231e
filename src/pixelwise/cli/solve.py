"""``pixelwise solve IMAGE``: simulate a measurement from a clean image (or read one) and reconstruct it.

The options come from the fields of :class:`pixelwise.tasks.solve.config.SolveConfig` and of its measurement
(:class:`pixelwise.physics.presets.Measurement`); IMAGE is the positional form of its ``image`` field.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pixelwise.cli.options import add_config_options, add_run_flags, config_from_args, logger
from pixelwise.errors import PixelwiseError


def add_parser(subparsers) -> None:
    from pixelwise.tasks.solve.config import SolveConfig

    p = subparsers.add_parser(
        "solve", help="classical reconstruction: blur, down-sampling, inpainting, MRI, CT, denoising",
        description="Simulate y = noise(A x) from a clean IMAGE (or read --measured), reconstruct it with a "
        "classical solver, and write the measurement, the reconstruction, a side-by-side figure with PSNR/SSIM, "
        "metrics.json and config.json into the new folder --out. Every setting can also come from --config (TOML, "
        "or the config.json of an earlier solve); options given here win.")
    p.add_argument("image", nargs="?", default=argparse.SUPPRESS, metavar="IMAGE",
                   help="clean image (the truth); optional with --measured")
    add_config_options(p, SolveConfig, skip=("image",), aliases={"acceleration": ("--accel",)},
                       required=("operator",))
    add_run_flags(p, SolveConfig, resume=False)
    p.set_defaults(func=cmd_solve)


def cmd_solve(args: argparse.Namespace) -> int:
    from pixelwise.cli.types import check_output
    from pixelwise.tasks.solve import SolveConfig, format_table, run

    config = config_from_args(SolveConfig, args)
    if not _operator_given(args):
        raise PixelwiseError("`pixelwise solve` needs --operator (denoise, blur, downsample, inpaint, mri or ct), on "
                             "the command line or in --config.")
    check_output(config.out, folder=True)
    result = run(config, overwrite=args.overwrite, progress=not args.quiet, log=logger(args.quiet))
    print(format_table(result.metrics))
    print(f"wrote {result.run_dir}/ (figure.png, metrics.json, config.json)")
    return 0


def _operator_given(args: argparse.Namespace) -> bool:
    """Whether --operator was typed, or is set in the --config file (read as it is, without the defaults)."""
    if "measurement.operator" in vars(args):
        return True
    if not args.config:
        return False
    path = Path(args.config)
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        data = tomllib.loads(path.read_text())
    else:
        from pixelwise.train.files import read_json

        data = read_json(path)
    measurement = data.get("measurement")
    return isinstance(measurement, dict) and "operator" in measurement

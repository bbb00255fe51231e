"""``pixelwise diffuse train | sample``: DDPM with a time-conditioned U-Net (Ho et al. 2020)."""

from __future__ import annotations

import argparse

from pixelwise.cli.options import (
    add_config_options,
    add_device,
    add_quiet,
    add_run_flags,
    add_which,
    run_training,
)
from pixelwise.cli.types import check_output, seed


def add_parser(subparsers) -> None:
    from pixelwise.tasks.diffuse.config import DiffusionConfig

    p = subparsers.add_parser("diffuse", help="train a DDPM and draw samples",
                              description="Denoising diffusion (DDPM) on image collections.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))

    t = sub.add_parser("train", help="train the epsilon-prediction U-Net, then sample a grid",
                       description="Train a DDPM, then draw --samples samples and score them. Every setting can "
                       "also come from --config (TOML, or a run's config.json); options given here win.")
    add_config_options(t, DiffusionConfig)
    add_run_flags(t, DiffusionConfig)
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="draw samples from a trained run into a PNG grid (and .npy)")
    s.add_argument("--run", required=True, help="run folder")
    s.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--seed", type=seed, default=0)
    add_which(s)
    s.add_argument("--variance", default=None, choices=("beta", "posterior"),
                   help="sigma_t^2 of the sampler (default: the run's)")
    s.add_argument("--steps", type=int, default=None, metavar="K",
                   help="DDIM: K network calls on K of the run's T steps (Song et al. 2021), e.g. 50; "
                        "default: the ancestral sampler on all T")
    s.add_argument("--eta", type=float, default=0.0,
                   help="with --steps: DDIM noise (default 0: deterministic; 1: as much noise as DDPM)")
    s.add_argument("--corrector-steps", type=int, default=None, metavar="M",
                   help="M Langevin corrector steps after each ancestral step (default: the run's)")
    s.add_argument("--snr", type=float, default=None, metavar="R",
                   help="the corrector's step-size ratio (default: the run's, 0.1 unless trained otherwise)")
    s.add_argument("--label", default=None, type=_label, metavar="K|each",
                   help="conditional runs: draw class K, or 'each' class in turn (default: unconditional)")
    s.add_argument("--guidance", type=float, default=None, metavar="W",
                   help="with --label: classifier-free guidance weight w (default: the run's; 0 = unguided)")
    s.add_argument("--out", default=None, help="PNG path (default RUN/plots/samples_seedS.png)")
    add_device(s)
    add_quiet(s)
    s.set_defaults(func=cmd_sample)


def cmd_train(args: argparse.Namespace) -> int:
    from pixelwise.tasks.diffuse import DiffusionConfig, run

    return run_training(DiffusionConfig, run, args)


def cmd_sample(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from pixelwise.errors import PixelwiseError
    from pixelwise.report.latent import image_grid
    from pixelwise.tasks.diffuse import DiffusionConfig, generate, grid_rows
    from pixelwise.train.runs import read_config

    if args.n < 1:
        raise PixelwiseError(f"-n {args.n} must be a number of samples >= 1, e.g. -n 16.")
    if args.out:
        check_output(args.out, folder=False)
    config = read_config(DiffusionConfig, args.run)  # a folder of another command is refused before sampling
    images = generate(args.run, args.n, args.seed, variance=args.variance, labels=args.label,
                      guidance=args.guidance, steps=args.steps, eta=args.eta, corrector_steps=args.corrector_steps,
                      snr=args.snr, which=args.which, progress=not args.quiet, device=args.device)
    path = Path(args.out) if args.out else Path(args.run) / "plots" / f"samples_seed{args.seed}.png"
    rows, titles = grid_rows(images, config.classes if args.label == "each" else 0)
    image_grid(rows, path, titles, f"DDPM samples, seed {args.seed}{_asked(args)}")
    np.save(path.with_suffix(".npy"), images)
    print(f"wrote {args.n} samples to {path} (and {path.with_suffix('.npy').name})")
    return 0


def _asked(args: argparse.Namespace) -> str:
    """The sampler's settings for the grid's title."""
    text = "" if args.label is None else f", class {args.label}" + (
        "" if args.guidance is None else f", guidance {args.guidance:g}")
    if args.steps is not None:
        text += f", DDIM {args.steps} steps, eta {args.eta:g}"
    if args.corrector_steps:
        text += f", {args.corrector_steps} corrector step(s) per step"
    if args.which != "best":
        text += f", {args.which} checkpoint"
    return text


def _label(text: str) -> int | str:
    if text == "each":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a class number (e.g. 3) or 'each'") from None

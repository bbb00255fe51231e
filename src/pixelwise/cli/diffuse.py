"""``pixelwise diffuse train | sample``: DDPM with a time-conditioned U-Net (Ho et al. 2020)."""

from __future__ import annotations

import argparse

from pixelwise.cli.types import check_output, seed
from pixelwise.errors import PixelwiseError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("diffuse", help="train a DDPM and draw samples",
                              description="Denoising diffusion (DDPM) on image collections.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))

    t = sub.add_parser("train", help="train the epsilon-prediction U-Net, then sample a grid")
    t.add_argument("--data", default="digits",
                   help="mnist (downloaded once), mnist-test, digits (bundled 8x8), an .npz file or a folder")
    t.add_argument("--out", default="runs/diffuse", help="run folder to create (default runs/diffuse)")
    t.add_argument("--T", type=int, default=200, dest="T", help="diffusion steps (default 200)")
    t.add_argument("--schedule", default="cosine", choices=("cosine", "linear"))
    t.add_argument("--base", type=int, default=32, help="U-Net channels of the first level")
    t.add_argument("--mults", default="1,2,2", help="channel multipliers per level (default 1,2,2)")
    t.add_argument("--minutes", type=float, default=None, help="time budget; the schedule is planned to fit")
    t.add_argument("--epochs", type=int, default=None, help="default 30 (the upper bound with --minutes)")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--size", type=int, default=None, help="folders: resize images to SIZE x SIZE")
    t.add_argument("--max-images", type=int, default=None, help="a seeded random subset of this many images")
    t.add_argument("--samples", type=int, default=64, help="samples drawn after training (default 64)")
    t.add_argument("--variance", default="beta", choices=("beta", "posterior"),
                   help="sigma_t^2 of the sampler")
    t.add_argument("--ema", type=_decay, default=0.999,
                   help="decay of the moving average of the weights that is validated and sampled from "
                        "(default 0.999; 'none' samples from the raw weights)")
    t.add_argument("--compile", action="store_true",
                   help="train through torch.compile (needs a C++ compiler; falls back to eager without one)")
    t.add_argument("--attention", type=int, default=0, metavar="HEADS",
                   help="self-attention with HEADS heads at the lowest resolution (default 0: none)")
    t.add_argument("--min-snr", type=float, default=None, metavar="GAMMA",
                   help="weight the loss by min(SNR, GAMMA) / SNR (Min-SNR, Hang et al. 2023; 5 in the paper)")
    t.add_argument("--conditional", action="store_true",
                   help="learn the class-conditional and the unconditional model in one net (labelled data: "
                        "mnist, digits, an .npz with labels, a folder of class sub-folders); see --label-dropout")
    t.add_argument("--label-dropout", type=float, default=0.1, metavar="P",
                   help="--conditional: probability that a label is hidden in training (default 0.1)")
    t.add_argument("--guidance", type=float, default=0.0, metavar="W",
                   help="--conditional: classifier-free guidance weight of the samples drawn after training, "
                        "each class in turn (default 0: unguided)")
    t.add_argument("--corrector-steps", type=int, default=0, metavar="M",
                   help="M Langevin corrector steps after each ancestral step of the samples drawn after training "
                        "(predictor-corrector, Song et al. 2021; default 0; each step is one more network call)")
    t.add_argument("--snr", type=float, default=0.1, metavar="R", help="the corrector's step-size ratio (0.1)")
    t.add_argument("--seed", type=seed, default=0)
    t.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    t.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="draw samples from a trained run into a PNG grid (and .npy)")
    s.add_argument("--run", required=True, help="run folder")
    s.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--seed", type=seed, default=0)
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
    s.set_defaults(func=cmd_sample)


def _mults(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise PixelwiseError(f"--mults {text!r} is not a list of integers; write it as 1,2,2.") from None
    return values


def cmd_train(args: argparse.Namespace) -> int:
    from pixelwise.cli.latent import _threads
    from pixelwise.tasks.diffusion import DiffusionConfig, run

    _threads(args.threads)
    epochs = args.epochs if args.epochs is not None else (1000 if args.minutes else 30)
    config = DiffusionConfig(
        data=args.data, out=args.out, T=args.T, schedule=args.schedule, base=args.base,
        mults=_mults(args.mults), size=args.size, max_images=args.max_images, epochs=epochs,
        minutes=args.minutes, lr=args.lr, ema=args.ema,
        batch_size=args.batch_size, seed=args.seed, n_samples=args.samples, variance=args.variance,
        compile=args.compile, min_snr=args.min_snr, attention=args.attention, conditional=args.conditional,
        label_dropout=args.label_dropout, guidance=args.guidance, corrector_steps=args.corrector_steps, snr=args.snr)
    result = run(config, overwrite=args.overwrite, resume=args.resume, progress=not args.quiet)
    print(f"run folder: {result.run_dir}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from pixelwise.report.latent import image_grid
    from pixelwise.tasks.diffusion import generate, grid_rows
    from pixelwise.train import read_json

    if args.out:
        check_output(args.out, folder=False)
    images = generate(args.run, args.n, args.seed, variance=args.variance, labels=args.label,
                      guidance=args.guidance, steps=args.steps, eta=args.eta, corrector_steps=args.corrector_steps,
                      snr=args.snr)
    path = Path(args.out) if args.out else Path(args.run) / "plots" / f"samples_seed{args.seed}.png"
    asked = "" if args.label is None else f", class {args.label}" + (
        "" if args.guidance is None else f", guidance {args.guidance:g}")
    if args.steps is not None:
        asked += f", DDIM {args.steps} steps, eta {args.eta:g}"
    if args.corrector_steps:
        asked += f", {args.corrector_steps} corrector step(s) per step"
    classes = read_json(Path(args.run) / "split.json").get("classes", 0) if args.label == "each" else 0
    rows, titles = grid_rows(images, classes)
    image_grid(rows, path, titles, f"DDPM samples, seed {args.seed}{asked}")
    np.save(path.with_suffix(".npy"), images)
    print(f"wrote {args.n} samples to {path} (and {path.with_suffix('.npy').name})")
    return 0


def _label(text: str) -> int | str:
    if text == "each":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a class number (e.g. 3) or 'each'") from None


def _decay(text: str) -> float | None:
    if text.lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number in [0, 1) or 'none'") from None

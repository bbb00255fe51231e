"""``pixelwise restore train | eval | apply | dip``: learned reconstruction for the inverse problems."""

from __future__ import annotations

import argparse
from pathlib import Path

from pixelwise.cli.types import check_output, seed
from pixelwise.errors import PixelwiseError


def _sigma_range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LOW,HIGH (e.g. 0,55)") from None
    return lo, hi


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("restore", help="train, evaluate and apply restoration networks; deep image prior",
                              description="Learned reconstruction: denoising, super-resolution, deblurring, "
                                          "inpainting, MRI and CT.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))

    t = sub.add_parser("train", help="train a network (then evaluate it next to the naive and TV baselines)")
    t.add_argument("--task", default="denoise", help="denoise, sr, deblur, inpaint, mri or ct")
    t.add_argument("--model", default="dncnn", help="dncnn, srcnn, vdsr, post, unet or unrolled")
    t.add_argument("--regime", default="simulate",
                   help="simulate (clean images + known A), measurements (||A f(y) - y||), pairs (input/ target/)")
    t.add_argument("--data", default="bundled", help="folder of clean images, 'bundled' or 'phantoms'")
    t.add_argument("--out", default="runs/restore", help="run folder to create")
    noise = t.add_mutually_exclusive_group()
    noise.add_argument("--sigma", type=float, default=None, help="Gaussian noise in grey levels (default per task)")
    noise.add_argument("--sigma-range", type=_sigma_range, default=None, help="blind training, e.g. 0,55")
    t.add_argument("--scale", type=int, default=3, help="sr factor")
    t.add_argument("--blur-sigma", type=float, default=1.6)
    t.add_argument("--keep", type=float, default=0.5, help="inpaint: kept fraction")
    t.add_argument("--acceleration", type=float, default=4.0, help="mri")
    t.add_argument("--views", type=int, default=30, help="ct")
    t.add_argument("--splitting", default=None, choices=("r2r",), help="noise splitting in the measurements regime")
    t.add_argument("--channels", type=int, default=1, choices=(1, 3))
    t.add_argument("--depth", type=int, default=None, help="layers (default: the paper's)")
    t.add_argument("--width", type=int, default=None, help="channels (default: the paper's)")
    t.add_argument("--iterations", type=int, default=5, help="unrolled: K")
    t.add_argument("--shared", action="store_true", help="unrolled: one CNN for every iteration")
    t.add_argument("--up", default="shuffle", choices=("shuffle", "transpose"), help="post: upsampling layer")
    t.add_argument("--loss", default="l2", choices=("l2", "l1", "huber"))
    t.add_argument("--tv-weight", type=float, default=0.0)
    t.add_argument("--adversarial-weight", type=float, default=0.0, help="SRGAN-style patch GAN term (e.g. 1e-3)")
    t.add_argument("--patch", type=int, default=None,
                   help="training crop (default 40, rounded up to a multiple of --scale for sr: 42 for x3)")
    t.add_argument("--size", type=int, default=64, help="mri / ct image size and phantom size")
    t.add_argument("--phantoms", type=int, default=64, help="number of training phantoms")
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--steps-per-epoch", type=int, default=50)
    t.add_argument("--epochs", type=int, default=None, help="epochs (default 10; the upper bound with --minutes)")
    t.add_argument("--minutes", type=float, default=None, help="time budget")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--warmup", type=int, default=200,
                   help="learning-rate warm-up steps (keeps Adam's first steps from killing a residual net)")
    t.add_argument("--protocol", default="auto", choices=("auto", "plain", "denoise", "sr"))
    t.add_argument("--tv-lambda", default=None, help="TV baseline weight: a number or 'auto' (grid search on a "
                   "validation image); default: the heuristic of `pixelwise solve`")
    t.add_argument("--seed", type=seed, default=0)
    t.add_argument("--compile", action="store_true",
                   help="train through torch.compile (needs a C++ compiler; falls back to eager without one)")
    t.add_argument("--no-augment", action="store_true")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    t.add_argument("--resume", action="store_true", help="continue the run in --out with its saved settings; "
                   "--epochs may raise its length, --minutes sets its total time budget")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=cmd_train)
    t.set_defaults(train_defaults=_config_kwargs(t.parse_args([])))  # to tell which options were given

    e = sub.add_parser("eval", help="score a run next to the naive and TV baselines, with bootstrap intervals "
                       "(metrics.json, per_case.csv, report.html)")
    e.add_argument("--run", required=True)
    e.add_argument("--data", default=None, help="folder of clean images, 'bundled' or 'phantoms' (default: val)")
    e.add_argument("--protocol", default=None, choices=("plain", "denoise", "sr"))
    e.set_defaults(func=cmd_eval)

    a = sub.add_parser("apply", help="restore measured images (denoise, sr, deblur runs)")
    a.add_argument("--run", required=True)
    a.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    a.add_argument("--out", required=True)
    a.set_defaults(func=cmd_apply)

    d = sub.add_parser("dip", help="deep image prior on one image (simulated measurement, PSNR trace)")
    d.add_argument("image", help="image file or bundled sample name (camera, astronaut, shepp_logan)")
    d.add_argument("--task", default="denoise")
    d.add_argument("--sigma", type=float, default=25.0)
    d.add_argument("--scale", type=int, default=2)
    d.add_argument("--keep", type=float, default=0.5)
    d.add_argument("--size", type=int, default=64, help="centre crop")
    d.add_argument("--iterations", type=int, default=500)
    d.add_argument("--lr", type=float, default=0.01)
    d.add_argument("--patience", type=int, default=None, help="stop after this many checks without a better PSNR")
    d.add_argument("--log-every", type=int, default=10)
    d.add_argument("--seed", type=seed, default=0)
    d.add_argument("--out", default="runs/dip")
    d.add_argument("--overwrite", action="store_true", help="write into --out even if it already holds files")
    d.set_defaults(func=cmd_dip)


def _config_kwargs(args: argparse.Namespace) -> dict:
    """The RestorationConfig settings of ``restore train``'s options (all but --out, --epochs, --minutes)."""
    return dict(
        task=args.task, model=args.model, regime=args.regime, data=args.data, channels=args.channels,
        sigma=args.sigma, sigma_range=args.sigma_range, scale=args.scale, blur_sigma=args.blur_sigma,
        keep=args.keep, acceleration=args.acceleration, views=args.views, splitting=args.splitting,
        depth=args.depth, width=args.width, iterations=args.iterations, shared=args.shared, up=args.up,
        loss=args.loss, tv_weight=args.tv_weight, adversarial_weight=args.adversarial_weight, patch=args.patch,
        size=args.size, phantoms=args.phantoms, augment=not args.no_augment, batch_size=args.batch_size,
        steps_per_epoch=args.steps_per_epoch, lr=args.lr, warmup=args.warmup, protocol=args.protocol, seed=args.seed,
        compile=args.compile, tv_lambda=_number_or_text(args.tv_lambda))


def cmd_train(args: argparse.Namespace) -> int:
    from pixelwise.tasks.restoration import RestorationConfig, resume_config, run

    settings = _config_kwargs(args)
    if args.resume:
        if args.overwrite:
            raise PixelwiseError("--overwrite and --resume contradict each other; pass one of them.")
        given = {k: v for k, v in settings.items() if v != args.train_defaults[k]}
        cfg = resume_config(args.out, args.epochs, args.minutes, given)
    else:
        epochs = args.epochs if args.epochs is not None else (1000 if args.minutes else 10)
        cfg = RestorationConfig(**settings, out=args.out, epochs=epochs, minutes=args.minutes)
    result = run(cfg, overwrite=args.overwrite, resume=args.resume, progress=not args.quiet)
    print(f"run folder: {result.run_dir}")
    return 0


def _number_or_text(text: str | None):
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def cmd_eval(args: argparse.Namespace) -> int:
    from pixelwise.tasks.restoration import evaluate

    evaluate(args.run, args.data, args.protocol)
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    from pixelwise.tasks.restoration import apply

    check_output(args.out, folder=True)
    written = apply(args.run, args.inputs, args.out)
    print(f"wrote {len(written)} images to {args.out}")
    return 0


def cmd_dip(args: argparse.Namespace) -> int:
    from pixelwise.tasks.dip import DIPConfig, run_dip

    if args.log_every < 1:
        raise PixelwiseError(f"--log-every {args.log_every} must be >= 1.")
    check_output(args.out, folder=True)
    out = Path(args.out)
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        raise PixelwiseError(f"{out} already holds files; pass --overwrite to write into it, or choose another --out.")
    run_dip(DIPConfig(image=args.image, out=args.out, task=args.task, sigma=args.sigma, scale=args.scale,
                      keep=args.keep, size=args.size, iterations=args.iterations, lr=args.lr,
                      patience=args.patience, log_every=args.log_every, seed=args.seed))
    return 0

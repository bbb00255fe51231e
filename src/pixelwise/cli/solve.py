"""``pixelwise solve``: simulate a measurement from a clean image (or read one) and reconstruct it."""

from __future__ import annotations

import argparse

from pixelwise.cli.types import check_output, seed
from pixelwise.errors import PixelwiseError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "solve",
        help="classical reconstruction: blur, down-sampling, inpainting, MRI, CT, denoising",
        description="Simulate y = noise(A x) from a clean IMAGE (or read --measured), reconstruct it with a "
        "classical solver, and write the measurement, the reconstruction, a side-by-side figure "
        "with PSNR/SSIM and metrics.json into --out.",
    )
    p.add_argument(
        "image",
        nargs="?",
        default=None,
        metavar="IMAGE",
        help="clean image (the truth); optional with --measured",
    )
    p.add_argument("--out", required=True, help="output folder (created; files in it are replaced)")
    p.add_argument(
        "--operator", required=True, choices=("blur", "downsample", "inpaint", "mri", "ct", "denoise")
    )
    p.add_argument(
        "--method",
        default="tv",
        choices=("adjoint", "cg", "tikhonov", "tv", "pgd"),
        help="adjoint = the naive inverse (A^T y, zero-filled, bicubic or FBP); default tv",
    )
    p.add_argument("--compare", action="store_true", help="run every method and print a table")
    p.add_argument(
        "--lambda",
        dest="lam",
        default=None,
        help="regularisation weight >= 0, or 'auto' (grid search on a validation photograph)",
    )
    p.add_argument("--iterations", type=int, default=None, help="solver iterations (default per method)")
    p.add_argument(
        "--noise-sigma", type=float, default=2.0, help="Gaussian noise std in grey levels of 255 (default 2)"
    )
    p.add_argument(
        "--poisson-peak", type=float, default=None, help="Poisson noise instead: photons at value 1"
    )
    p.add_argument("--grey", action="store_true", help="convert the image to grey")
    p.add_argument("--size", type=int, default=None, help="centre-crop the image to SIZE x SIZE")
    p.add_argument("--seed", type=seed, default=0, help="seed of the noise and random masks")
    p.add_argument(
        "--measured", default=None, help="measurement file (.npy from a previous run, or an image)"
    )
    p.add_argument("--image-size", default=None, help="HxW of the image behind --measured (CT, valid blur)")
    p.add_argument(
        "--validation", default=None, help="validation image for --lambda auto (default: astronaut)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    b = p.add_argument_group("blur")
    b.add_argument("--kernel", default="gaussian", choices=("gaussian", "box", "motion"))
    b.add_argument("--kernel-sigma", type=float, default=1.6)
    b.add_argument("--kernel-size", type=int, default=None)
    b.add_argument("--motion-length", type=float, default=9.0)
    b.add_argument("--motion-angle", type=float, default=0.0, help="degrees")
    b.add_argument("--boundary", default="circular", choices=("circular", "zero", "valid"))
    d = p.add_argument_group("downsample")
    d.add_argument("--scale", type=int, default=2)
    d.add_argument("--downsample-kind", default="bicubic", choices=("bicubic", "average"))
    i = p.add_argument_group("inpaint")
    i.add_argument("--mask", default=None, help="mask image of the image's size (white = kept)")
    i.add_argument("--keep", type=float, default=0.5, help="kept fraction of a random mask (default 0.5)")
    m = p.add_argument_group("mri")
    m.add_argument("--accel", type=float, default=4.0, help="acceleration (4 or 8 as fastMRI)")
    m.add_argument("--center-fraction", type=float, default=None, help="default 0.32 / accel")
    m.add_argument("--mask-kind", default="random", choices=("random", "equispaced"))
    c = p.add_argument_group("ct")
    c.add_argument("--views", type=int, default=30, help="number of projection angles over 180 degrees")
    p.set_defaults(func=cmd_solve)


def _lambda(text):
    if text is None or text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise PixelwiseError(f"--lambda {text!r} must be a number >= 0 or 'auto'.") from None


def _size(text):
    if text is None:
        return None
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise PixelwiseError(f"--image-size {text!r} must look like 256x256.") from None
    if h < 1 or w < 1:
        raise PixelwiseError(f"--image-size {text!r} must be at least 1x1 pixels, e.g. 256x256.")
    return h, w


def cmd_solve(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pixelwise.tasks.inverse import SolveConfig, format_table, run

    check_output(args.out, folder=True)
    config = SolveConfig(
        image=args.image,
        out=args.out,
        operator=args.operator,
        method=args.method,
        compare=args.compare,
        lam=_lambda(args.lam),
        iterations=args.iterations,
        noise_sigma=args.noise_sigma,
        poisson_peak=args.poisson_peak,
        grey=args.grey,
        size=args.size,
        seed=args.seed,
        measured=args.measured,
        image_size=_size(args.image_size),
        validation=args.validation,
        kernel=args.kernel,
        kernel_sigma=args.kernel_sigma,
        kernel_size=args.kernel_size,
        motion_length=args.motion_length,
        motion_angle=args.motion_angle,
        boundary=args.boundary,
        scale=args.scale,
        downsample_kind=args.downsample_kind,
        mask=args.mask,
        keep=args.keep,
        acceleration=args.accel,
        center_fraction=args.center_fraction,
        mask_kind=args.mask_kind,
        views=args.views,
    )

    def progress(total, desc):
        return tqdm(total=total, desc=desc, leave=False, disable=args.quiet)

    metrics = run(config, progress=progress)
    print(format_table(metrics))
    print(f"wrote {args.out}/ (figure.png, metrics.json)")
    return 0

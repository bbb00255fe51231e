"""Benchmark: priors learned once, used inside the solvers, against TV with its searched weight (prints JSON).

1. ``photos``: on the photographs of ``--photos DIR`` (e.g. the twelve of ``benchmarks/skimage_testset.py``, grey,
   centre-cropped to ``--size``), for each operator of :data:`PHOTO_OPERATORS` (Gaussian and motion deblurring, x2 and
   x4 bicubic super-resolution, 50% inpainting, 4x MRI; noise sigma ``--noise-sigma`` grey levels), plug-and-play
   (``pixelwise solve --method pnp``: HQS with DPIR's schedule, Zhang et al. 2021) with the trained denoiser
   ``--denoiser RUN`` (``pixelwise restore train --task denoise``; with ``--noise-map`` told each level, else scaled to
   them) against TV (Chambolle-Pock); both weights (PnP's lambda, TV's) are searched by ``--lambda auto`` on
   ``--validation`` (a photograph or a folder of them, scored by the mean PSNR; default: the bundled astronaut; best
   photographs not among the test ones), once per operator, then used for every photograph; PnP's loop (HQS or ADMM)
   and iteration count (8 or 24 denoiser levels) are searched with its weight, as ``solve --lambda auto`` does (the
   loops tried are in ``pnp_loops_searched``). PnP's weight matters: DPIR's lambda 0.23 assumes a denoiser told the
   noise level, and a blind one needs more weight on the data for Gaussian deblurring (measured: 21 dB at 0.23, 28 dB
   at 4 on two photographs). Target: PnP at least +1 dB mean PSNR on every operator. ``--ensemble`` scores PnP with the
   denoiser's x8 self-ensemble (``solve --ensemble``: each denoiser call averaged over the flips and quarter turns,
   DPIR's "x8"; eight times the time), its weight still searched with the plain denoiser. The JSON has each method's
   mean with its bootstrap interval and PnP's gain with the paired interval (photographs resampled together,
   :func:`pixelwise.metrics.paired_summaries`). ``--pnp-lambda sr2=0.04,...`` fixes PnP's weight for the operators
   named instead of searching it (with the default loop, HQS with 8 levels for deblurring and 24 otherwise).
   ``--oracle`` adds PnP at the weight with the best mean PSNR on the test photographs themselves (a bracketing search
   around the searched weight, reaching 4.5 decades either side): an upper bound, not a result, which tells a weak
   denoiser from a weight the validation photograph chose badly.
2. ``digits``: on ``--digits N`` test digits (the last N of ``--digit-data``: scikit-learn's 8x8 set, or
   ``mnist-test``, an .npz or a folder; the digit before them is the validation image of TV's weight search),
   at 25% pixels kept and x4 (average-pooling) super-resolution, TV against DPS (``--diffusion RUN``, Chung et
   al. 2023), CSGM (``--generator RUN``, a VAE's decoder or a GAN's generator; Bora et al. 2017) and the direct
   networks (``--direct inpaint=RUN,sr4=RUN``: ``restore`` runs trained for that operator on the same digits;
   ``restore`` needs images of at least 11x11, so MNIST, not the 8x8 set). Each method given is run; the gains
   are over TV.

Every method runs through the code of ``pixelwise solve`` (``prepare`` and ``solve`` of :mod:`pixelwise.tasks.solve`),
so the numbers are what the command line gives. A toy run (the smoke test): ``--photos`` a folder of two small
images, ``--size 24``, ``--operators inpaint``, tiny runs, ``--digits 3``.

    python benchmarks/skimage_testset.py /tmp/skimage-grey --grey
    python benchmarks/pnp_priors.py --photos /tmp/skimage-grey --denoiser runs/dn --size 256 \\
        --diffusion runs/ddpm --generator runs/vae --direct inpaint=runs/dig-inp,sr4=runs/dig-sr4
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import emit, machine

from pixelwise.data.folders import list_images
from pixelwise.data.io import write_image
from pixelwise.data.samples import center_crop, load_image, to_uint8
from pixelwise.metrics import paired_summaries
from pixelwise.physics.presets import Measurement
from pixelwise.tasks.solve import SolveConfig, prepare
from pixelwise.tasks.solve.solving import solve

PHOTO_OPERATORS = {
    "gaussian_blur": Measurement(operator="blur"),
    "motion_blur": Measurement(operator="blur", kernel="motion"),
    "sr2": Measurement(operator="downsample", scale=2),
    "sr4": Measurement(operator="downsample", scale=4),
    "inpaint": Measurement(operator="inpaint", keep=0.5),
    "mri": Measurement(operator="mri", acceleration=4),
}
DIGIT_OPERATORS = {"inpaint": Measurement(operator="inpaint", keep=0.25),
                   "sr4": Measurement(operator="downsample", scale=4, downsample_kind="average")}


def quiet(line: str) -> None:
    """The solve recipe's log lines are left out of the JSON."""


def score(path: Path, measurement: Measurement, method: str, lam, sigma: float, **priors) -> dict:
    """One image, one method, through ``pixelwise solve``'s own code: its row (psnr, lambda, seconds, ...)."""
    config = SolveConfig(image=str(path), out="unused", method=method, lam=lam, grey=True, noise_sigma=sigma,
                         measurement=measurement, **priors)
    row, _ = solve(config, prepare(config), method, progress=False, log=quiet)
    return row


def searched(path: Path, measurement: Measurement, method: str, sigma: float, validation: Path | None,
             **priors) -> dict:
    """``method``'s row with its weight searched by ``--lambda auto`` on ``validation`` (None: the bundled
    astronaut), solving ``path``."""
    auto = {"validation": str(validation)} if validation is not None else {}
    return score(path, measurement, method, "auto", sigma, **auto, **priors)


def direct(path: Path, measurement: Measurement, run: str, sigma: float) -> dict:
    """A ``restore`` network trained for the operator, applied to the same measurement as the solvers see."""
    from pixelwise.tasks.restore import load_run
    from pixelwise.tasks.solve.solving import scores

    config = SolveConfig(image=str(path), out="unused", method="adjoint", grey=True, noise_sigma=sigma,
                         measurement=measurement)
    problem = prepare(config)
    _, model, _ = load_run(run)
    start = time.perf_counter()
    with torch.no_grad():
        x = model((problem.y.float(), problem.op)).double()
    return {"seconds": time.perf_counter() - start, **scores(x, problem.truth)}


def compare(images: list[Path], measurement: Measurement, methods: dict, sigma: float, validation: Path | None) -> dict:
    """TV (weight searched once, on ``validation`` or the bundled astronaut) and each of ``methods`` (name ->
    ``(image path) -> row``) on every image; summaries and the paired gains of each over TV."""
    tv = searched(images[0], measurement, "tv", sigma, validation)
    lam = tv["lambda"]
    rows = []
    for path in images:
        row = {"image": path.name, "psnr_tv": score(path, measurement, "tv", lam, sigma)["psnr"]}
        for name, run in methods.items():
            row[f"psnr_{name}"] = run(path)["psnr"]
        rows.append(row)
    result = {"tv_lambda": lam, "tv_weights_tried": len(tv["lambda_search"]), "per_image": rows}
    for name in methods:  # each method's gain over TV, paired by image
        paired = paired_summaries(rows, [name, "tv"], ["psnr"], reference=name, seed=0)
        result[name] = {"psnr": paired["summary"][name]["psnr"], "gain_over_tv": paired["gain"]["tv"]["psnr"]}
    result["tv"] = {"psnr": paired_summaries(rows, ["tv"], ["psnr"], "tv", 0)["summary"]["tv"]["psnr"]}
    return result


def photos(args, folder: Path) -> dict:
    """Part 1: PnP against TV on the photographs, for each operator."""
    images = []
    for k, source in enumerate(list_images([args.photos])[: args.max_images]):
        path = folder / f"photo{k}.png"
        image = load_image(source, grey=True)
        side = min(args.size, *image.shape[-2:]) // 4 * 4  # a photograph smaller than --size: its own, x4-divisible
        write_image(path, to_uint8(center_crop(image, side)))
        images.append(path)
    out = {}
    for name in args.operators.split(","):
        m = PHOTO_OPERATORS[name]

        start = time.perf_counter()
        lam, loop, loops = args.pnp_lambda.get(name), {}, None
        if lam is None:  # the weight, with the loop and the iteration count, searched on the validation photograph
            row = searched(images[0], m, "pnp", args.noise_sigma, args.validation, denoiser=args.denoiser)
            lam, loops = row["lambda"], row.get("pnp_search")
            loop = {"pnp_algorithm": row["pnp_algorithm"], "iterations": row["iterations"]}

        def pnp(path: Path, m=m, lam=lam, loop=loop) -> dict:
            return score(path, m, "pnp", lam, args.noise_sigma, denoiser=args.denoiser, ensemble=args.ensemble,
                         **loop)

        out[name] = compare(images, m, {"pnp": pnp}, args.noise_sigma, args.validation)
        out[name]["pnp_lambda"] = lam
        out[name]["pnp_lambda_rule"] = "given (--pnp-lambda)" if name in args.pnp_lambda else "searched"
        out[name]["pnp_loop"] = loop or "the default (hqs; 8 levels for deblurring, 24 otherwise)"
        if loops:
            out[name]["pnp_loops_searched"] = loops
        if args.oracle:
            out[name]["oracle"] = oracle(images, m, args, lam, out[name]["per_image"], loop)
        out[name]["target_met"] = out[name]["pnp"]["gain_over_tv"]["mean"] >= 1.0
        out[name]["seconds"] = round(time.perf_counter() - start, 1)
    return out


ORACLE_WIDEN = 5  # the oracle's reach: the searched weight times 10^(+-(0.75 + 5 x 0.75)) = 10^(+-4.5)


def oracle(images: list[Path], m: Measurement, args, start: float, rows: list[dict], loop: dict) -> dict:
    """PnP at the weight with the best mean PSNR over the test photographs themselves (:func:`search_log_lambda`
    around the searched weight ``start``, scored by that mean): what the denoiser gives when the weight is right.
    An upper bound that separates the denoiser from the weight search, not a result (it sees the test truths).
    ``rows``: :func:`compare`'s per-image rows, whose TV scores the gain is paired with; ``loop``: PnP's loop and
    iteration count (those searched with the weight; {}: the defaults)."""
    from pixelwise.solvers.lambda_path import search_log_lambda

    seen: dict[float, list[float]] = {}

    def mean_psnr(lam: float) -> float:
        seen[lam] = [score(path, m, "pnp", lam, args.noise_sigma, denoiser=args.denoiser,
                           ensemble=args.ensemble, **loop)["psnr"] for path in images]
        return float(np.mean(seen[lam]))

    found = search_log_lambda(mean_psnr, start, widen=ORACLE_WIDEN)
    paired = [{"image": row["image"], "psnr_tv": row["psnr_tv"], "psnr_oracle": value}
              for row, value in zip(rows, seen[found.lam], strict=True)]
    summary = paired_summaries(paired, ["oracle", "tv"], ["psnr"], reference="oracle", seed=0)
    return {"lambda": found.lam, "lambda_rule": "best mean PSNR on the test photographs (an upper bound)",
            "searched": list(found.searched), "best_at_edge": found.at_edge, "weights_tried": len(found.table),
            "psnr": summary["summary"]["oracle"]["psnr"], "gain_over_tv": summary["gain"]["tv"]["psnr"],
            "per_image": [round(v, 3) for v in seen[found.lam]]}


def given_weights(text: str) -> dict[str, float]:
    """``--pnp-lambda gaussian_blur=0.23,sr2=0.04`` as {operator: weight}; a bad item is refused with the fix."""
    weights = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        if name not in PHOTO_OPERATORS:
            raise argparse.ArgumentTypeError(f"{item!r}: {name!r} is not an operator; choose from "
                                             f"{', '.join(PHOTO_OPERATORS)}")
        try:
            weights[name] = float(value)
        except ValueError:
            weights[name] = float("nan")
        if not weights[name] > 0:
            raise argparse.ArgumentTypeError(f"{item!r}: the weight must be a positive number, e.g. {name}=0.23")
    return weights


def digit_methods(args, name: str, m: Measurement) -> dict:
    """The learned methods given for the digits at operator ``name``."""
    sigma, methods = args.digit_sigma, {}
    if args.diffusion:
        methods["dps"] = lambda path: score(path, m, "dps", None, sigma, diffusion=args.diffusion)
    if args.generator:
        methods["csgm"] = lambda path: score(path, m, "csgm", None, sigma, generator=args.generator)
    runs = dict(item.split("=", 1) for item in args.direct.split(",")) if args.direct else {}
    if name in runs:
        methods["direct"] = lambda path: direct(path, m, runs[name], sigma)
    return methods


def digits(args, folder: Path) -> dict:
    """Part 2: DPS, CSGM and the direct networks against TV on test digits."""
    from pixelwise.data.imagesets import load_image_set

    data = load_image_set(args.digit_data, download=False).images  # (N, 1, H, W) float32 in [0, 1]
    chosen = data[-(args.digits + 1):]  # the last digits: the validation one, then the test ones
    paths = []
    for k, image in enumerate(chosen):
        paths.append(folder / f"digit{k}.png")
        write_image(paths[-1], (np.clip(image[0], 0, 1) * 255).round().astype(np.uint8))
    out = {}
    for name, m in DIGIT_OPERATORS.items():
        start = time.perf_counter()
        out[name] = compare(paths[1:], m, digit_methods(args, name, m), args.digit_sigma, paths[0])
        out[name]["seconds"] = round(time.perf_counter() - start, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=None, help="a folder of photographs (part 1)")
    parser.add_argument("--denoiser", default=None, help="a `restore train --task denoise` run, grey (part 1)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--max-images", type=int, default=12)
    parser.add_argument("--operators", default=",".join(PHOTO_OPERATORS))
    parser.add_argument("--noise-sigma", type=float, default=2.0, help="grey levels of 255 (photographs)")
    parser.add_argument("--ensemble", action="store_true", help="part 1: score PnP with the denoiser's x8 "
                        "self-ensemble (solve --ensemble); its weight is still searched with the plain denoiser")
    parser.add_argument("--pnp-lambda", type=given_weights, default={}, metavar="OP=LAMBDA,...",
                        help="part 1: PnP's weight for these operators, instead of searching it")
    parser.add_argument("--oracle", action="store_true", help="part 1: also PnP at the weight best on the test "
                        "photographs themselves (an upper bound: it separates the denoiser from the weight search)")
    parser.add_argument("--validation", type=Path, default=None, help="the photograph (or folder of them) both "
                        "weights are searched on (part 1; default: the bundled astronaut); best not among --photos")
    parser.add_argument("--digits", type=int, default=0, help="test digits (part 2; 0 skips it)")
    parser.add_argument("--digit-data", default="digits", help="digits (8x8, bundled with scikit-learn), "
                        "mnist-test (28x28, from the cache), an .npz or a folder")
    parser.add_argument("--digit-sigma", type=float, default=5.0, help="grey levels of 255 (digits)")
    parser.add_argument("--diffusion", default=None, help="a `diffuse train` run on digits (DPS)")
    parser.add_argument("--generator", default=None, help="a `latent train` run on digits (CSGM)")
    parser.add_argument("--direct", default="", help="restore runs on digits, e.g. inpaint=RUN,sr4=RUN")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = {"benchmark": "pnp_priors", "machine": machine(), "noise_sigma": args.noise_sigma, "size": args.size,
              "ensemble": args.ensemble,
              "target": "pnp gain over tv >= +1 dB mean PSNR on every photo operator"}
    with tempfile.TemporaryDirectory() as tmp:
        if args.photos is not None and args.denoiser is not None:
            result["photos"] = photos(args, Path(tmp))
        if args.digits > 0:
            result["digits"] = digits(args, Path(tmp))
    emit(result)


if __name__ == "__main__":
    main()

"""Classical reconstruction recipe: image -> simulated measurement -> solver -> metrics and figures.

``run(config)`` builds the forward operator named in the config, simulates ``y = noise(A x)`` from a
clean image (or reads a measurement file), reconstructs with one method (or every method with
``compare``), and writes into ``config.out``:

- ``measurement.npy`` (the exact measurement, reusable with ``measured``) and ``measurement.png``
  (a picture of it: the image itself, the k-space log-magnitude for MRI, the sinogram for CT);
- ``naive.png`` and ``reconstruction.png`` (``reconstruction_<method>.png`` with ``compare``);
- ``figure.png``: truth, measurement, naive and reconstruction(s) side by side with PSNR / SSIM;
- ``metrics.json``: the configuration, the chosen lambda (and the grid-search table for ``auto``),
  PSNR / SSIM of the naive and the solver reconstruction, iterations and seconds.

Units. Images are in [0, 1]. ``noise_sigma`` is in 8-bit grey levels: the Gaussian noise added to the
measurement has standard deviation ``noise_sigma / 255`` in the measurement's own units (for blur,
inpainting, down-sampling and MRI with its orthonormal FFT this is the image scale; a CT sinogram holds
line integrals, sums of about ``H`` pixel values, so the same sigma is relatively weaker there).
PSNR and SSIM use data range 1 on the reconstruction clipped to [0, 1] (what the PNG holds).

Lambda. Each method has a default weight per operator (a heuristic scaled by the noise level); with
``lam="auto"`` a short grid search around it picks the value with the best PSNR on a *validation*
photograph (the bundled ``astronaut``, or ``validation``), never on the image being reconstructed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from pixelwise.data.io import read_image, write_image
from pixelwise.data.samples import load_image, sample, to_uint8
from pixelwise.errors import PixelwiseError
from pixelwise.metrics.image import psnr, ssim
from pixelwise.physics import (
    MRI,
    AveragePool,
    BicubicDownsample,
    Blur,
    GaussianNoise,
    Identity,
    Inpainting,
    LinearOperator,
    PoissonNoise,
    Radon,
    box_kernel_1d,
    gaussian_kernel_1d,
    imresize,
    kspace_magnitude,
    motion_kernel,
    random_mask,
    views,
)
from pixelwise.solvers import (
    choose_lambda,
    least_squares_cg,
    log_grid,
    proximal_gradient,
    tikhonov,
    tv_denoise,
    tv_pdhg,
    tv_prox,
)
from pixelwise.train.runs import write_json

OPERATOR_NAMES = ("blur", "downsample", "inpaint", "mri", "ct", "denoise")
METHOD_NAMES = ("adjoint", "cg", "tikhonov", "tv", "pgd")


@dataclass
class SolveConfig:
    image: str | None = None  # clean image (the truth); optional with ``measured``
    out: str = "solve"
    operator: str = "blur"
    method: str = "tv"
    compare: bool = False
    lam: float | str | None = None  # None: the default for the method and operator; "auto": grid search
    iterations: int | None = None  # None: the method's default
    noise_sigma: float = 2.0  # Gaussian noise in 8-bit grey levels (sigma / 255 in measurement units)
    poisson_peak: float | None = None  # Poisson noise instead, photons at value 1
    grey: bool = False
    size: int | None = None  # centre crop of the image
    seed: int = 0
    measured: str | None = None  # measurement file (.npy, or an image for same-size operators)
    image_size: tuple[int, int] | None = None  # needed with ``measured`` and no image for ct (and valid blur)
    validation: str | None = None  # validation image for lam="auto" (default: bundled astronaut)
    # blur
    kernel: str = "gaussian"
    kernel_sigma: float = 1.6
    kernel_size: int | None = None
    motion_length: float = 9.0
    motion_angle: float = 0.0
    boundary: str = "circular"
    # down-sampling
    scale: int = 2
    downsample_kind: str = "bicubic"
    # inpainting
    mask: str | None = None
    keep: float = 0.5
    # MRI
    acceleration: float = 4.0
    center_fraction: float | None = None
    mask_kind: str = "random"
    # CT
    views: int = 30


# --- operators -----------------------------------------------------------------------------------------
def _blur(cfg: SolveConfig, shape, g) -> LinearOperator:
    def separable(factor):  # the kernel makers' own 1-D factors for the two 1-D passes (no SVD)
        return Blur.separable(factor, factor, cfg.boundary)

    builders = {
        "gaussian": lambda: separable(gaussian_kernel_1d(cfg.kernel_sigma, cfg.kernel_size)),
        "box": lambda: separable(box_kernel_1d(cfg.kernel_size or 5)),
        "motion": lambda: Blur(motion_kernel(cfg.motion_length, cfg.motion_angle, cfg.kernel_size), cfg.boundary),
    }
    if cfg.kernel not in builders:
        raise PixelwiseError(f"unknown kernel {cfg.kernel!r}; choose one of {', '.join(builders)}.")
    return builders[cfg.kernel]()


def _downsample(cfg: SolveConfig, shape, g) -> LinearOperator:
    if cfg.downsample_kind == "average":
        return AveragePool(cfg.scale)
    if cfg.downsample_kind == "bicubic":
        return BicubicDownsample(cfg.scale, input_size=tuple(shape[-2:]))
    raise PixelwiseError(f"unknown down-sampling {cfg.downsample_kind!r}; choose average or bicubic.")


def _inpaint(cfg: SolveConfig, shape, g) -> LinearOperator:
    if cfg.mask is None:
        return Inpainting(random_mask(shape[-2:], cfg.keep, g))
    mask = torch.from_numpy(read_image(cfg.mask, mode="L").astype(np.float64) > 127).double()
    if tuple(mask.shape) != tuple(shape[-2:]):
        raise PixelwiseError(
            f"mask {cfg.mask} is {mask.shape[0]}x{mask.shape[1]} but the image is "
            f"{shape[-2]}x{shape[-1]}; give a mask of the image's size."
        )
    return Inpainting(mask)


def _mri(cfg: SolveConfig, shape, g) -> LinearOperator:
    return MRI.cartesian(tuple(shape[-2:]), cfg.acceleration, cfg.center_fraction, cfg.mask_kind, g)


def _ct(cfg: SolveConfig, shape, g) -> LinearOperator:
    if cfg.views > 8 * max(shape[-2:]):  # far beyond the ~pi/2 N views that sample an N-pixel image fully
        raise PixelwiseError(f"--views {cfg.views} is more than 8 times the image's {max(shape[-2:])} pixels and adds "
                             f"nothing but time; use at most {8 * max(shape[-2:])} (sparse-view CT uses 30 to 180).")
    return Radon(tuple(shape[-2:]), views(cfg.views))


# operator name -> builder(config, image shape (C, H, W), generator)
OPERATOR_BUILDERS: dict[str, Callable[[SolveConfig, tuple, torch.Generator], LinearOperator]] = {
    "blur": _blur,
    "downsample": _downsample,
    "inpaint": _inpaint,
    "mri": _mri,
    "ct": _ct,
    "denoise": lambda cfg, shape, g: Identity(),
}


def build_operator(cfg: SolveConfig, shape, generator: torch.Generator) -> LinearOperator:
    if cfg.operator not in OPERATOR_BUILDERS:
        raise PixelwiseError(
            f"unknown operator {cfg.operator!r}; choose one of {', '.join(OPERATOR_BUILDERS)}."
        )
    return OPERATOR_BUILDERS[cfg.operator](cfg, shape, generator)


# --- methods -------------------------------------------------------------------------------------------
# Default weights (heuristics found on the bundled photographs, see tests/test_solvers.py; use "auto" to
# search): TV-type methods lambda = factor * sigma (linear in the noise level, as the TV weight scales),
# Tikhonov with the gradient penalty lambda = factor * sigma^2 (a ratio of noise to signal variance);
# sigma in measurement units, floored at 0.005 so that noise-free problems keep a little regularisation.
TV_FACTOR = {"denoise": 1.0, "blur": 0.3, "downsample": 0.3, "inpaint": 3.0, "mri": 3.0, "ct": 3.0}
TIKHONOV_FACTOR = {
    "denoise": 30.0,
    "blur": 100.0,
    "downsample": 100.0,
    "inpaint": 100.0,
    "mri": 100.0,
    "ct": 10.0,
}
DEFAULT_ITERATIONS = {"adjoint": 0, "cg": 10, "tikhonov": 50, "tv": 200, "pgd": 50}


def default_lambda(operator: str, method: str, sigma: float) -> float | None:
    if method in ("adjoint", "cg"):
        return None
    if method == "tikhonov":
        return TIKHONOV_FACTOR[operator] * max(sigma, 0.005) ** 2
    return TV_FACTOR[operator] * max(sigma, 0.005)


def reconstruct(
    op: LinearOperator, y: torch.Tensor, method: str, lam: float | None, iterations: int, callback=None
) -> torch.Tensor:
    """One reconstruction by ``method`` (see METHOD_NAMES); ``adjoint`` is the operator's naive inverse."""
    if method == "adjoint":
        return op.naive(y)
    if method == "cg":
        return least_squares_cg(op, y, iterations=iterations, callback=callback)
    if method == "tikhonov":
        return tikhonov(op, y, lam, "gradient", iterations=iterations, callback=callback)
    if method == "tv":
        if isinstance(op, Identity):
            return tv_denoise(y, lam, iterations=iterations, callback=callback)
        return tv_pdhg(op, y, lam, iterations=iterations, callback=callback)
    if method == "pgd":
        return proximal_gradient(
            op, y, tv_prox(lam, clip=(0.0, 1.0)), iterations=iterations, callback=callback
        )
    raise PixelwiseError(f"unknown method {method!r}; choose one of {', '.join(METHOD_NAMES)}.")


# --- the recipe ----------------------------------------------------------------------------------------
def check_config(cfg: SolveConfig) -> None:
    if cfg.operator not in OPERATOR_NAMES:
        raise PixelwiseError(f"unknown operator {cfg.operator!r}; choose one of {', '.join(OPERATOR_NAMES)}.")
    if cfg.method not in METHOD_NAMES:
        raise PixelwiseError(f"unknown method {cfg.method!r}; choose one of {', '.join(METHOD_NAMES)}.")
    if not cfg.noise_sigma >= 0:
        raise PixelwiseError(f"--noise-sigma {cfg.noise_sigma} must be >= 0 (grey levels out of 255).")
    if cfg.iterations is not None and cfg.iterations < 1:
        raise PixelwiseError(f"--iterations {cfg.iterations} must be >= 1.")
    if cfg.poisson_peak is not None and cfg.operator in ("mri", "ct"):
        raise PixelwiseError(
            f"Poisson noise needs non-negative measurements; use --noise-sigma for {cfg.operator}."
        )
    if isinstance(cfg.lam, str) and cfg.lam != "auto":
        raise PixelwiseError(f"--lambda {cfg.lam!r} must be a number >= 0 or 'auto'.")
    if isinstance(cfg.lam, (int, float)) and not cfg.lam >= 0:
        raise PixelwiseError(f"--lambda {cfg.lam} must be >= 0.")
    if cfg.image is None and cfg.measured is None:
        raise PixelwiseError("give a clean IMAGE to simulate a measurement from, or --measured FILE.")
    if cfg.mask is not None and cfg.operator != "inpaint":
        raise PixelwiseError(f"--mask {cfg.mask} is the pixel mask of --operator inpaint; the {cfg.operator} operator "
                             "does not use it: leave it out (for MRI's k-space lines see --mask-kind).")
    if cfg.scale < 1 or int(cfg.scale) != cfg.scale:
        raise PixelwiseError(f"--scale {cfg.scale} must be a whole number >= 1.")
    if cfg.views < 1:
        raise PixelwiseError(f"--views {cfg.views} must be >= 1.")
    if not cfg.acceleration >= 1:
        raise PixelwiseError(f"--accel {cfg.acceleration} must be >= 1 (1 keeps every k-space line; 4 or 8 as in "
                             "fastMRI).")


def _noise(cfg: SolveConfig):
    if cfg.poisson_peak is not None:
        return PoissonNoise(cfg.poisson_peak)
    return GaussianNoise(cfg.noise_sigma / 255.0)


def _load_truth(cfg: SolveConfig) -> torch.Tensor | None:
    if cfg.image is None:
        return None
    if Path(cfg.image).is_dir():
        raise PixelwiseError(f"image {cfg.image} is a folder; give the path of one image file.")
    if not Path(cfg.image).is_file():
        raise PixelwiseError(f"image {cfg.image} does not exist; give the path of an image file.")
    img = load_image(cfg.image, grey=cfg.grey)
    if cfg.size is not None:
        from pixelwise.data.samples import center_crop

        img = center_crop(img, cfg.size)
    return img[None].double()  # (1, C, H, W)


def _load_measured(cfg: SolveConfig) -> torch.Tensor:
    path = Path(cfg.measured)
    if not path.is_file():
        raise PixelwiseError(f"measurement {path} {'is a folder' if path.is_dir() else 'does not exist'}; give "
                             "the .npy file written by `pixelwise solve`.")
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as err:
            raise PixelwiseError(f"measurement {path} is not a readable .npy array ({err}); give the "
                                 "measurement.npy written by `pixelwise solve`.") from None
        expected = 4 if cfg.operator == "mri" else 3  # (C, H, W), and MRI's k-space has a last axis of 2
        if arr.ndim != expected or arr.dtype.kind not in "fiu":
            raise PixelwiseError(f"measurement {path} holds a {arr.dtype} array of shape {arr.shape}; a {cfg.operator} "
                                 f"measurement is {expected}-D numbers, as in the measurement.npy written by "
                                 "`pixelwise solve`.")
        return torch.from_numpy(np.asarray(arr, dtype=np.float64))[None]  # (1, ...)
    if cfg.operator in ("mri", "ct"):
        raise PixelwiseError(
            f"a {cfg.operator} measurement must be the .npy file written by `pixelwise solve`."
        )
    return load_image(path, grey=cfg.grey)[None].double()


def _image_shape_from_measurement(cfg: SolveConfig, y: torch.Tensor) -> tuple[int, int, int]:
    if cfg.image_size is not None:
        return (y.shape[1], *cfg.image_size)
    c = y.shape[1]
    if cfg.operator == "mri":
        return (c, y.shape[-3], y.shape[-2])
    if cfg.operator == "downsample":
        return (c, y.shape[-2] * cfg.scale, y.shape[-1] * cfg.scale)
    if cfg.operator == "ct" or (cfg.operator == "blur" and cfg.boundary == "valid"):
        raise PixelwiseError(
            f"the image size of a {cfg.operator} measurement is ambiguous; pass --image-size HxW "
            "or the clean IMAGE."
        )
    return (c, y.shape[-2], y.shape[-1])


def _picture_of_measurement(op: LinearOperator, y: torch.Tensor) -> np.ndarray:
    """A [0, 1] picture of the measurement for the figure and measurement.png."""
    if isinstance(op, MRI):
        mag = kspace_magnitude(y[0, :1])[0]
        return (mag / mag.max().clamp(min=1e-12)).numpy()
    if isinstance(op, Radon):
        s = y[0, 0]
        return ((s - s.min()) / (s.max() - s.min()).clamp(min=1e-12)).numpy()
    return _to_display(y[0])


def _to_display(img: torch.Tensor) -> np.ndarray:
    img = img.detach().double().clamp(0, 1)
    return img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy()


def _validation_image(cfg: SolveConfig, shape) -> torch.Tensor:
    c, h, w = shape
    if cfg.validation is not None:
        img = load_image(cfg.validation, grey=(c == 1))
    else:
        img = sample("astronaut", grey=(c == 1))
    img = img[None].double()
    if tuple(img.shape[-2:]) != (h, w):
        img = imresize(img, size=(h, w)).clamp(0, 1)
    return img


def run(cfg: SolveConfig, progress: Callable | None = None, log: Callable[[str], None] = print) -> dict:
    """Simulate (or read), reconstruct, measure and write; returns the metrics dictionary."""
    check_config(cfg)
    g = torch.Generator().manual_seed(cfg.seed)
    truth = _load_truth(cfg)
    if cfg.measured is not None:
        y = _load_measured(cfg)
        shape = tuple(truth.shape[1:]) if truth is not None else _image_shape_from_measurement(cfg, y)
        op = build_operator(cfg, shape, g)
        op.noise = _noise(cfg)  # used only to simulate the validation measurement of lambda="auto"
    else:
        shape = tuple(truth.shape[1:])
        op = build_operator(cfg, shape, g)
        op.noise = _noise(cfg)
        y = op.forward(truth, generator=g)
    try:
        naive = op.naive(y)
    except (RuntimeError, PixelwiseError) as err:  # shapes that do not fit the operator
        source = f"measurement {cfg.measured}" if cfg.measured else "the measurement"
        raise PixelwiseError(f"{source} does not fit the {cfg.operator} operator ({str(err).rstrip('.')}); use the "
                             "measurement.npy that `pixelwise solve` wrote with the same operator settings (e.g. "
                             "--views, --image-size).") from None
    if truth is not None and naive.shape != truth.shape:
        raise PixelwiseError(
            f"the measurement gives a {tuple(naive.shape[1:])} image but IMAGE is "
            f"{tuple(truth.shape[1:])}; use matching files."
        )
    if truth is not None and min(truth.shape[-2:]) < 11:
        raise PixelwiseError(f"IMAGE is {truth.shape[-2]}x{truth.shape[-1]} pixels; SSIM's 11x11 window needs at least "
                             "11x11: give a larger image (or a larger --size).")
    if min(y.shape[-2:]) < 2 and cfg.operator == "downsample":
        raise PixelwiseError(f"--scale {cfg.scale} leaves a {y.shape[-2]}x{y.shape[-1]} measurement of a "
                             f"{shape[-2]}x{shape[-1]} image; use a smaller --scale (2, 3 or 4).")
    sigma = cfg.noise_sigma / 255.0
    methods = list(METHOD_NAMES) if cfg.compare else [cfg.method]
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "measurement.npy", y[0].numpy().astype(np.float32))
    write_image(
        out / "measurement.png",
        to_uint8(torch.from_numpy(np.atleast_3d(_picture_of_measurement(op, y)).transpose(2, 0, 1).copy())),
    )
    if isinstance(op, (Inpainting, MRI)):
        m = op.mask if op.mask.dim() == 2 else op.mask[None, :].expand(shape[-2], -1)
        write_image(out / "mask.png", (m.numpy() * 255).astype(np.uint8))
    write_image(out / "naive.png", to_uint8(naive[0].clamp(0, 1)))

    def scores(x):
        if truth is None:
            return {}
        x = x.clamp(0, 1)
        return {"psnr": psnr(x[0], truth[0], 1.0), "ssim": ssim(x[0], truth[0], 1.0)}

    results = {}
    for method in methods:
        iterations = cfg.iterations if cfg.iterations is not None else DEFAULT_ITERATIONS[method]
        lam = cfg.lam if isinstance(cfg.lam, (int, float)) else default_lambda(cfg.operator, method, sigma)
        row: dict = {"lambda": lam, "iterations": iterations if method != "adjoint" else 0}
        if cfg.lam == "auto" and lam is not None:
            val = _validation_image(cfg, shape)
            y_val = op.forward(val, generator=torch.Generator().manual_seed(cfg.seed + 1))
            grid = [lam * f for f in log_grid(1 / 30, 30, 7)]

            def solve_validation(v, y_val=y_val, method=method, iterations=iterations):
                return reconstruct(op, y_val, method, v, iterations).clamp(0, 1)

            choice = choose_lambda(solve_validation, val, grid)
            lam = choice.lam
            row.update({"lambda": lam, "lambda_search": choice.table})
            log(f"{method}: {choice.describe()}")
        bar = (
            progress(total=iterations, desc=method) if progress is not None and method != "adjoint" else None
        )

        def callback(k, x, bar=bar):
            if bar is not None:
                bar.update(1)

        t0 = time.perf_counter()
        x = reconstruct(op, y, method, lam, iterations, callback)
        row["seconds"] = time.perf_counter() - t0
        if bar is not None:
            bar.close()
        row.update(scores(x))
        results[method] = row
        name = f"reconstruction_{method}.png" if cfg.compare else "reconstruction.png"
        write_image(out / name, to_uint8(x[0].clamp(0, 1)))
        row["file"] = name
        results[method]["_x"] = x

    naive_scores = scores(naive)
    panels = []
    if truth is not None:
        panels.append(("truth", _to_display(truth[0])))
    panels.append(("measurement", _picture_of_measurement(op, y)))
    panels.append((_label("naive (" + _naive_name(op) + ")", naive_scores), _to_display(naive[0])))
    for method, row in results.items():
        panels.append((_label(method, row), _to_display(row.pop("_x")[0])))
    from pixelwise.report.reconstruction import side_by_side

    side_by_side(panels, out / "figure.png", title=_title(cfg))
    metrics = {
        "config": asdict(cfg),
        "operator": type(op).__name__,
        "noise": op.noise.describe() if cfg.measured is None else {"noise": "from file"},
        "naive": {"name": _naive_name(op), **naive_scores},
        "methods": results,
    }
    write_json(out / "metrics.json", metrics)
    return metrics


def _naive_name(op: LinearOperator) -> str:
    names = {
        Radon: "FBP",
        MRI: "zero-filled",
        Inpainting: "zero-filled",
        AveragePool: "bicubic",
        BicubicDownsample: "bicubic",
        Identity: "noisy",
        Blur: "blurred",
    }
    return names.get(type(op), "adjoint")


def _label(name: str, row: dict) -> str:
    if "psnr" not in row:
        return name
    value = "inf" if math.isinf(row["psnr"]) else f"{row['psnr']:.2f}"
    return f"{name}\nPSNR {value} dB, SSIM {row['ssim']:.3f}"


def _title(cfg: SolveConfig) -> str:
    noise = f"Poisson peak {cfg.poisson_peak}" if cfg.poisson_peak else f"sigma {cfg.noise_sigma:g}/255"
    return f"{cfg.operator}, {noise}"


def format_table(metrics: dict) -> str:
    """A plain-text table of the methods (and the naive baseline) with PSNR / SSIM / lambda / seconds."""
    lines = [f"{'method':10s} {'PSNR':>8s} {'SSIM':>7s} {'lambda':>10s} {'iters':>6s} {'seconds':>8s}"]
    naive = metrics["naive"]
    if "psnr" in naive:
        lines.append(
            f"{'naive':10s} {naive['psnr']:8.2f} {naive['ssim']:7.3f} {'-':>10s} {'-':>6s} {'-':>8s}"
        )
    for method, row in metrics["methods"].items():
        lam = "-" if row.get("lambda") is None else f"{row['lambda']:.3g}"
        p = f"{row['psnr']:8.2f}" if "psnr" in row else f"{'-':>8s}"
        s = f"{row['ssim']:7.3f}" if "ssim" in row else f"{'-':>7s}"
        lines.append(f"{method:10s} {p} {s} {lam:>10s} {row['iterations']:6d} {row['seconds']:8.2f}")
    return "\n".join(lines)

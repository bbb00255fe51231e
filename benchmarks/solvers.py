"""Benchmark: TV denoising against scikit-image, and the time of A and A^T for every operator (prints JSON).

1. TV denoising of the bundled 512 x 512 grey photograph (``camera``) at sigma = 25/255, float32:
   scikit-image's ``denoise_tv_chambolle`` (Chambolle 2004 projection, its default stopping rule) at
   weight lambda, against ``pixelwise.solvers.tv_denoise`` (FGP) with the same lambda (same objective and
   discretisation) run to a fixed tolerance that reaches at least the same PSNR; the three calls take turns
   in each of ``--repeats`` rounds and each keeps its best. Target: >= 2x faster.
2. Seconds per application of A and of A^T for each operator of ``pixelwise.physics.OPERATORS`` at
   1x1x512x512 and 16x1x256x256 (float32), next to deepinv's corresponding physics run in the same process
   on the same input (adapters to deepinv's layouts run outside the timed calls). Target: pixelwise at least
   as fast, i.e. ``seconds_ratio = deepinv seconds / pixelwise seconds >= 1`` for A and for A^T.
   Before timing, each pair is applied to a small input (2x1x32x32) and the JSON states whether they
   compute the same map (max abs difference, with the size of the values) or plainly how the conventions
   differ. Opponents (``DEEPINV_TWINS``; the first one of each operator is the closest match):

   - denoise: ``Denoising`` (A = 1.0 * x; pixelwise returns its input without a copy);
   - average pooling: ``Downsampling`` with an r x r box filter of 1/r^2, ``padding="valid"`` (same map);
   - bicubic: ``DownsamplingMatlab`` (MATLAB ``imresize``, same map, adjoint by autograd), and
     ``Downsampling(filter="bicubic", padding="reflect")``: the same 4r-tap filter, but sampled one pixel
     earlier and with reflect instead of MATLAB's symmetric boundary;
   - blur: ``BlurFFT`` and ``Blur(padding="circular")`` for circular, ``Blur(padding="constant")`` for
     zero, ``Blur(padding="valid")`` for valid;
   - inpainting: ``Inpainting`` with the same mask; MRI: single-coil ``MRI`` with the same (H, W) mask --
     deepinv takes a complex image as 2 channels (real, imaginary) and returns centred k-space;
   - CT: ``Tomography`` (parallel beam, circle=False, normalize=False; torch-native: ``grid_sample`` on a
     rotated grid, like pixelwise) with its default exact adjoint (autograd ``vjp``) and with
     ``adjoint_via_backprop=False`` (its interpolating back-projection, not the exact adjoint);
   - gradient: ``deepinv.models.TVDenoiser.nabla`` / ``nabla_adjoint`` (not a physics class);
   - conv, conv_transpose: none (deepinv's ``Blur`` filters each channel on its own; nothing mixes channels).

   When deepinv does not import, its columns are left out and the JSON says why. scikit-image's ``radon`` /
   ``iradon(filter_name=None)`` (an unfiltered back-projection, not the exact adjoint) are timed for CT too.

Timings are the best of ``--repeats`` runs after one warm-up (a run of an operator faster than 20 ms loops
over enough calls to last 20 ms and divides), for each torch thread count in
``--threads`` (the machine is shared; the load average is recorded).

deepinv needs torchvision, which needs its own torch build, so it lives in a venv of its own. From the
repository root:

    python3.11 -m venv DIR && DIR/bin/pip install torch==2.14.1 torchvision==0.29.1 deepinv==0.5.0
    DIR/bin/pip install -e . scikit-image
    DIR/bin/python benchmarks/solvers.py [--repeats 3] [--threads 1,2] [--quick] [--no-tv] [--shapes 1x512,16x256]

(The same command with the project's own venv runs everything but the deepinv columns.)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from _common import import_deepinv

from pixelwise.data.samples import sample
from pixelwise.metrics import psnr
from pixelwise.physics import (
    MRI,
    AveragePool,
    BicubicDownsample,
    Blur,
    Conv,
    ConvTranspose,
    Gradient,
    Identity,
    Inpainting,
    Radon,
    gaussian_kernel,
    random_mask,
    views,
)
from pixelwise.solvers import tv_denoise


def best_time(fn, repeats: int, min_seconds: float = 0.02) -> float:
    """Seconds per call: the best of ``repeats`` runs, each of as many calls as fill ``min_seconds`` (one call
    for anything slower), after a warm-up call. Looping makes a 20-microsecond operator as measurable as a
    20-millisecond one: a single call that short moves by several per cent from run to run."""
    fn()  # warm-up (caches, allocator, lazy set-up)
    t0 = time.perf_counter()
    fn()  # a first estimate of one call
    calls = max(1, int(min_seconds / max(time.perf_counter() - t0, 1e-7)))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - t0) / calls)
    return min(times)


def best_times_interleaved(fns, repeats: int) -> list[float]:
    """The best of ``repeats`` single calls of each function, the functions taking turns within each round (after
    one warm-up round), so that a slow spell of a shared machine falls on all of them rather than on one."""
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def tv_benchmark(repeats: int, lam: float = 0.08, tol: float = 1e-3) -> dict:
    from skimage.restoration import denoise_tv_chambolle

    x = sample("camera")[None].float()  # (1, 1, 512, 512)
    g = torch.Generator().manual_seed(0)
    y = x + (25 / 255) * torch.randn(x.shape, generator=g)
    y_np = y[0, 0].numpy()  # float32: scikit-image then works in float32 too
    ref, ours, counter = {}, {}, []
    y64 = y_np.astype(np.float64)
    t_sk, t_sk64, t_ours = best_times_interleaved([
        lambda: ref.__setitem__("x", denoise_tv_chambolle(y_np, weight=lam)),
        lambda: ref.__setitem__("x64", denoise_tv_chambolle(y64, weight=lam)),
        lambda: ours.__setitem__("x", tv_denoise(y, lam, iterations=1000, tol=tol)),
    ], repeats)
    tv_denoise(y, lam, iterations=1000, tol=tol, callback=lambda k, z: counter.append(k))
    p_sk, p_sk64, p_ours = (psnr(ref["x"], x[0, 0], 1.0), psnr(ref["x64"], x[0, 0], 1.0),
                            psnr(ours["x"][0], x[0], 1.0))
    return {
        "image": "camera 512x512 grey, sigma 25/255, float32",
        "lambda": lam,
        "skimage_denoise_tv_chambolle": {"seconds": t_sk, "psnr": p_sk, "dtype": "float32"},
        "skimage_denoise_tv_chambolle_float64": {"seconds": t_sk64, "psnr": p_sk64, "dtype": "float64"},
        "pixelwise_tv_denoise": {"seconds": t_ours, "psnr": p_ours, "tol": tol, "iterations": len(counter)},
        "psnr_at_least_skimage": p_ours >= p_sk - 1e-3,
        "speedup_vs_skimage_float32": t_sk / t_ours,
        "speedup_vs_skimage_float64": t_sk64 / t_ours,
    }


def operators(size: int, channels: int = 1) -> dict:
    g = torch.Generator().manual_seed(0)
    n_views = 60 if size >= 512 else 30
    return {
        "denoise": Identity(),
        "downsample_avg_x4": AveragePool(4),
        "bicubic_x4": BicubicDownsample(4),
        "blur_circular_gauss2": Blur(gaussian_kernel(2.0), "circular"),
        "blur_zero_gauss2": Blur(gaussian_kernel(2.0), "zero"),
        "blur_valid_gauss2": Blur(gaussian_kernel(2.0), "valid"),
        "inpaint_50": Inpainting(random_mask((size, size), 0.5, g)),
        "mri_4x": MRI.cartesian((size, size), 4, generator=g),
        f"ct_{n_views}_views": Radon((size, size), views(n_views)),
        "conv3x3_16ch_stride2": Conv(torch.randn(16, channels, 3, 3, generator=g), stride=2, padding=1,
                                     input_size=(size, size)),
        "conv_transpose3x3_3ch_stride2": ConvTranspose(torch.randn(channels, 3, 3, 3, generator=g), stride=2,
                                                       padding=1, output_padding=1),
        "gradient_neumann": Gradient("neumann"),
    }


# --- deepinv's twin of each operator --------------------------------------------------------------


def _same(t: torch.Tensor) -> torch.Tensor:
    return t


@dataclass
class Twin:
    """A deepinv operator lined up with a pixelwise one. The four adapters move between the two layouts;
    they run outside the timed calls. ``explain`` (no arguments) returns extra numbers behind
    ``convention`` when the two do not compute the same map."""

    name: str
    A: Callable[[torch.Tensor], torch.Tensor]  # noqa: N815 - the maths name
    A_adjoint: Callable[[torch.Tensor], torch.Tensor]  # noqa: N815
    convention: str = "same map and layout"
    to_input: Callable = _same  # pixelwise image -> deepinv image
    to_measurement: Callable = _same  # pixelwise measurement -> deepinv measurement
    from_measurement: Callable = _same  # deepinv measurement -> pixelwise layout
    from_image: Callable = _same  # deepinv image -> pixelwise layout
    explain: Callable[[], dict] | None = None


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float | str:
    if a.shape != b.shape:
        return f"shapes differ: deepinv {list(a.shape)}, pixelwise {list(b.shape)}"
    return float((a - b).abs().max())


def _denoise_twins(dinv, op, size):
    physics = dinv.physics.Denoising()
    return [Twin("deepinv.physics.Denoising()", physics.A, physics.A_adjoint,
                 "same map; pixelwise returns its input (no copy), deepinv multiplies it by 1.0")]


def _average_pool_twins(dinv, op, size):
    r = op.factor
    box = torch.full((1, 1, r, r), 1.0 / r**2)
    physics = dinv.physics.Downsampling(img_size=(1, size, size), filter=box, factor=r, padding="valid")
    return [Twin(f"deepinv.physics.Downsampling(filter=ones({r},{r})/{r * r}, factor={r}, padding='valid')",
                 physics.A, physics.A_adjoint)]


def _bicubic_twins(dinv, op, size):
    r = op.factor
    matlab = dinv.physics.DownsamplingMatlab(factor=r)
    filtered = dinv.physics.Downsampling(img_size=(1, size, size), filter="bicubic", factor=r, padding="reflect")

    def one_pixel_shift() -> dict:
        # deepinv's output i is centred on input pixel r*i + (r-1)/2 - 1, MATLAB's on r*i + (r-1)/2 (0-based):
        # away from the border, deepinv on the image moved one pixel up and left equals pixelwise on the image
        x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(3))
        ours = BicubicDownsample(r).A(x)
        theirs = dinv.physics.Downsampling(img_size=(1, 32, 32), filter="bicubic", factor=r, padding="reflect")
        theirs = theirs.A(torch.roll(x, (-1, -1), (-2, -1)))  # x[i + 1, j + 1]
        return {"max_abs_diff_A_interior_after_one_pixel_shift": _max_diff(theirs[..., 2:-2, 2:-2],
                                                                          ours[..., 2:-2, 2:-2])}

    return [
        Twin(f"deepinv.physics.DownsamplingMatlab(factor={r})", matlab.A, matlab.A_adjoint,
             "same map (MATLAB imresize, antialiased cubic, symmetric boundary); deepinv's A^T is autograd"),
        Twin(f"deepinv.physics.Downsampling(filter='bicubic', factor={r}, padding='reflect')", filtered.A,
             filtered.A_adjoint,
             "different convention: the same 4r x 4r cubic filter, but each output sample sits one input pixel "
             "earlier than MATLAB's and the boundary is reflect (MATLAB: symmetric); same cost class",
             explain=one_pixel_shift),
    ]


def _blur_twins(dinv, op, size):
    k = op.kernel.float()[None, None]  # (1, 1, kh, kw)
    if op.boundary == "circular":
        fft = dinv.physics.BlurFFT(img_size=(1, size, size), filter=k)
        spatial = dinv.physics.Blur(filter=k, padding="circular")
        return [Twin("deepinv.physics.BlurFFT(img_size, filter)", fft.A, fft.A_adjoint),
                Twin("deepinv.physics.Blur(filter, padding='circular')", spatial.A, spatial.A_adjoint)]
    padding = {"zero": "constant", "valid": "valid"}[op.boundary]
    physics = dinv.physics.Blur(filter=k, padding=padding)
    return [Twin(f"deepinv.physics.Blur(filter, padding='{padding}')", physics.A, physics.A_adjoint)]


def _inpainting_twins(dinv, op, size):
    physics = dinv.physics.Inpainting(img_size=(1, size, size), mask=op.mask.float()[None])
    return [Twin("deepinv.physics.Inpainting(img_size, mask)", physics.A, physics.A_adjoint)]


def _mri_twins(dinv, op, size):
    mask = op.mask[None, :].expand(size, size) if op.mask.dim() == 1 else op.mask  # (H, W), centred order
    physics = dinv.physics.MRI(mask=mask.float(), img_size=(1, 2, size, size))
    # pixelwise k-space is F x (DC at index 0); deepinv's is fftshift(F ifftshift(x)), which for even H and W
    # is fftshift((-1)^(k + l) F x)
    h = torch.arange(size)
    sign = ((-1.0) ** (h[:, None] + h[None, :])).float()  # (H, W)

    def to_measurement(y):  # (N, 1, H, W, 2) -> (N, 2, H, W)
        k = torch.view_as_complex(y[:, 0].contiguous()) * sign
        return torch.view_as_real(torch.fft.fftshift(k, dim=(-2, -1))).movedim(-1, 1)

    def from_measurement(y):  # (N, 2, H, W) -> (N, 1, H, W, 2)
        k = torch.fft.ifftshift(torch.view_as_complex(y.movedim(1, -1).contiguous()), dim=(-2, -1)) * sign
        return torch.view_as_real(k)[:, None]

    return [Twin("deepinv.physics.MRI(mask (H, W))", physics.A, physics.A_adjoint,
                 "different layout, same map: deepinv takes the image as 2 channels (real, imaginary) and returns "
                 "centred k-space (N, 2, H, W); compared after mapping (zero imaginary part in, real part out)",
                 to_input=lambda x: torch.cat([x, torch.zeros_like(x)], 1),
                 to_measurement=to_measurement, from_measurement=from_measurement,
                 from_image=lambda x: x[:, :1])]


def _radon_twins(dinv, op, size):
    angles = op.angles.float()
    exact = dinv.physics.Tomography(angles=angles, img_width=size, circle=False, normalize=False)
    interpolated = dinv.physics.Tomography(angles=angles, img_width=size, circle=False, normalize=False,
                                           adjoint_via_backprop=False)
    pad = math.ceil(math.sqrt(2) * size) - size
    geometry = ("same geometry" if pad % 2 == 0 else
                f"different convention at this size: deepinv pads the image by {pad} (odd) pixels to "
                f"ceil(sqrt(2) n) and rotates about the padded image's centre, half a pixel right of and below "
                f"pixelwise's centre (n - 1) / 2; same number of bilinear samples, so the same cost")

    def odd_padding() -> dict:
        # at n = 34, ceil(sqrt(2) n) - n is odd as at n = 256 and 512: compare with pixelwise on the image
        # padded by one row and column (centre n / 2) and deepinv's detector count
        n = 34
        x = torch.rand(2, 1, n, n, generator=torch.Generator().manual_seed(4))
        theirs = dinv.physics.Tomography(angles=angles, img_width=n, circle=False, normalize=False)
        theirs = theirs.A(x).transpose(-2, -1)
        plain = Radon((n, n), op.angles).A(x)
        moved = Radon((n + 1, n + 1), op.angles, detectors=theirs.shape[-1]).A(F.pad(x, (0, 1, 0, 1)))
        return {"n": n, "max_abs_A": float(plain.abs().max()), "max_abs_diff_A": _max_diff(theirs, plain),
                "max_abs_diff_A_after_moving_the_centre_half_a_pixel": _max_diff(theirs, moved),
                "note": "the rest is interpolation: the samples along each ray then sit half a pixel apart"}

    swap = {"to_measurement": lambda y: y.transpose(-2, -1), "from_measurement": lambda y: y.transpose(-2, -1)}
    layout = "sinogram (N, C, detectors, views), transposed here; "
    return [Twin("deepinv.physics.Tomography(angles, n, circle=False, normalize=False)", exact.A, exact.A_adjoint,
                 layout + geometry + "; exact adjoint by autograd (default)", explain=odd_padding, **swap),
            Twin("deepinv.physics.Tomography(..., adjoint_via_backprop=False)", interpolated.A,
                 interpolated.A_adjoint,
                 layout + geometry + "; A^T is deepinv's interpolating back-projection, not the exact adjoint",
                 **swap)]


def _gradient_twins(dinv, op, size):
    tv = dinv.models.TVDenoiser
    return [Twin("deepinv.models.TVDenoiser.nabla / nabla_adjoint", tv.nabla, tv.nabla_adjoint,
                 "same map (forward differences, Neumann boundary); layout (N, C, H, W, 2), moved here",
                 to_measurement=lambda g: g.movedim(2, -1), from_measurement=lambda g: g.movedim(-1, 2))]


def _none(reason: str):
    return lambda dinv, op, size: reason


# pixelwise operator class -> function (deepinv, operator, size) -> list of twins, or the reason there is none
DEEPINV_TWINS = {
    Identity: _denoise_twins,
    AveragePool: _average_pool_twins,
    BicubicDownsample: _bicubic_twins,
    Blur: _blur_twins,
    Inpainting: _inpainting_twins,
    MRI: _mri_twins,
    Radon: _radon_twins,
    Gradient: _gradient_twins,
    Conv: _none("none: deepinv.physics has no channel-mixing convolution (Blur filters each channel on its own)"),
    ConvTranspose: _none("none: deepinv.physics has no channel-mixing transposed convolution"),
}


def twins(dinv, op, size: int) -> list[Twin] | str:
    return DEEPINV_TWINS[type(op)](dinv, op, size)


def check_twins(dinv, size: int = 32, batch: int = 2) -> dict:
    """Apply each pair to the same small input: does deepinv compute pixelwise's map?"""
    x = torch.rand(batch, 1, size, size, generator=torch.Generator().manual_seed(2))
    result = {}
    for name, op in operators(size).items():
        name = name if not name.startswith("ct_") else "ct"
        found = twins(dinv, op, size)
        if isinstance(found, str):
            result[name] = found
            continue
        y = op.A(x)
        xt = op.A_adjoint(y)
        rows = {}
        for twin in found:
            try:
                a = twin.from_measurement(twin.A(twin.to_input(x)))
                at = twin.from_image(twin.A_adjoint(twin.to_measurement(y)))
            except Exception as error:  # an opponent that fails is reported, not fatal
                rows[twin.name] = {"error": f"{type(error).__name__}: {error}"}
                continue
            rows[twin.name] = {"convention": twin.convention,
                               "max_abs_diff_A": _max_diff(a, y), "max_abs_A": float(y.abs().max()),
                               "max_abs_diff_A_adjoint": _max_diff(at, xt), "max_abs_A_adjoint": float(xt.abs().max())}
            if twin.explain is not None:
                rows[twin.name]["explained"] = twin.explain()
        result[name] = rows
    return {"input": [batch, 1, size, size], "dtype": "float32", "operators": result}


def operator_benchmark(batch: int, size: int, repeats: int, dinv=None) -> dict:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(batch, 1, size, size, generator=g)
    rows = {}
    for name, op in operators(size).items():
        y = op.A(x)
        a, at = best_time(lambda op=op: op.A(x), repeats), best_time(lambda op=op, y=y: op.A_adjoint(y), repeats)
        rows[name] = {"A_seconds": a, "A_adjoint_seconds": at, "measurement_shape": list(y.shape)}
        if dinv is None:
            continue
        found = twins(dinv, op, size)
        if isinstance(found, str):
            rows[name]["deepinv"] = found
            continue
        rows[name]["deepinv"] = {}
        for twin in found:
            try:
                xd = twin.to_input(x)
                yd = twin.A(xd)
                da = best_time(lambda twin=twin, xd=xd: twin.A(xd), repeats)
                dat = best_time(lambda twin=twin, yd=yd: twin.A_adjoint(yd), repeats)
            except Exception as error:  # e.g. out of memory: say so and go on
                rows[name]["deepinv"][twin.name] = {"error": f"{type(error).__name__}: {error}"}
                continue
            rows[name]["deepinv"][twin.name] = {
                "convention": twin.convention, "A_seconds": da, "A_adjoint_seconds": dat,
                "seconds_ratio_A": da / a, "seconds_ratio_A_adjoint": dat / at,
                "pixelwise_at_least_as_fast": da >= a and dat >= at,
            }
    if batch == 1:  # scikit-image's CT transforms as a reference point (one image only)
        from skimage.transform import iradon, radon

        name = next(k for k in rows if k.startswith("ct_"))
        angles = views(60 if size >= 512 else 30).numpy()
        img = x[0, 0].numpy()
        sino = radon(img, theta=angles, circle=False)
        rows[name]["skimage_radon_seconds"] = best_time(
            lambda: radon(img, theta=angles, circle=False), repeats)
        rows[name]["skimage_iradon_unfiltered_seconds"] = best_time(
            lambda: iradon(sino, theta=angles, circle=False, filter_name=None), repeats)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="1,2", help="torch thread counts to run, comma separated")
    parser.add_argument("--quick", action="store_true", help="only the TV benchmark")
    parser.add_argument("--no-tv", action="store_true", help="only the operators")
    parser.add_argument("--shapes", default="1x512,16x256", help="operator inputs BATCHxSIZE, comma separated")
    args = parser.parse_args()
    dinv, status = import_deepinv()
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    report = {
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "load_average_at_start": list(os.getloadavg()),
        "deepinv": status,
        "target": "pixelwise at least as fast as deepinv: seconds_ratio = deepinv / pixelwise >= 1 for A and A^T",
        "runs": {},
    }
    if dinv is not None and not args.quick:
        report["deepinv_semantic_check"] = check_twins(dinv)
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        run = {} if args.no_tv else {"tv_denoising": tv_benchmark(args.repeats)}
        if not args.quick:
            for batch, size in shapes:
                run[f"operators_{batch}x1x{size}x{size}"] = operator_benchmark(batch, size, args.repeats, dinv)
        report["runs"][f"threads_{threads}"] = run
    report["load_average_at_end"] = list(os.getloadavg())
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

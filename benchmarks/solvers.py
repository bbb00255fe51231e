"""Benchmark: TV denoising against scikit-image, and the time of A and A^T for every operator (prints JSON).

1. TV denoising of the bundled 512 x 512 grey photograph (``camera``) at sigma = 25/255, float32:
   scikit-image's ``denoise_tv_chambolle`` (Chambolle 2004 projection, its default stopping rule) at
   weight lambda, against ``pixelwise.solvers.tv_denoise`` (FGP) with the same lambda (same objective and
   discretisation) run to a fixed tolerance that reaches at least the same PSNR. Target: >= 2x faster.
2. Seconds per application of A and of A^T for each operator at 1x1x512x512 and 16x1x256x256 (float32).
   deepinv is the intended opponent where it has the operator; it is reported as unavailable when it
   cannot be imported (pip would pull torchvision and another torch here). scikit-image's ``radon`` /
   ``iradon(filter_name=None)`` (an unfiltered back-projection, not the exact adjoint) stand in for CT.

Timings are the best of ``--repeats`` runs after one warm-up, for each torch thread count in
``--threads`` (the machine is shared; the load average is recorded).

    python benchmarks/solvers.py [--repeats 3] [--threads 1,2] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from pixelwise.data.samples import sample
from pixelwise.metrics import psnr
from pixelwise.physics import (
    MRI,
    AveragePool,
    BicubicDownsample,
    Blur,
    Conv,
    Identity,
    Inpainting,
    Radon,
    gaussian_kernel,
    random_mask,
    views,
)
from pixelwise.solvers import tv_denoise


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up (caches, allocator)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def tv_benchmark(repeats: int, lam: float = 0.08, tol: float = 1e-3) -> dict:
    from skimage.restoration import denoise_tv_chambolle

    x = sample("camera")[None].float()  # (1, 1, 512, 512)
    g = torch.Generator().manual_seed(0)
    y = x + (25 / 255) * torch.randn(x.shape, generator=g)
    y_np = y[0, 0].numpy()  # float32: scikit-image then works in float32 too
    ref = {}
    t_sk = best_time(lambda: ref.__setitem__("x", denoise_tv_chambolle(y_np, weight=lam)), repeats)
    y64 = y_np.astype(np.float64)
    t_sk64 = best_time(lambda: ref.__setitem__("x64", denoise_tv_chambolle(y64, weight=lam)), repeats)
    ours = {}
    counter = []
    t_ours = best_time(lambda: ours.__setitem__("x", tv_denoise(y, lam, iterations=1000, tol=tol)), repeats)
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
    }


def deepinv_status() -> str:
    try:
        import deepinv  # noqa: F401
    except ImportError:
        return ("not installed: `pip install deepinv` would pull torchvision and torch 2.14 beside the CPU "
                "torch 2.13, so it is not a usable opponent here")
    return "installed"


def operator_benchmark(batch: int, size: int, repeats: int) -> dict:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(batch, 1, size, size, generator=g)
    rows = {}
    for name, op in operators(size).items():
        y = op.A(x)
        rows[name] = {
            "A_seconds": best_time(lambda op=op: op.A(x), repeats),
            "A_adjoint_seconds": best_time(lambda op=op, y=y: op.A_adjoint(y), repeats),
            "measurement_shape": list(y.shape),
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
    args = parser.parse_args()
    report = {
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "load_average_at_start": list(os.getloadavg()),
        "deepinv": deepinv_status(),
        "runs": {},
    }
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        run = {"tv_denoising": tv_benchmark(args.repeats)}
        if not args.quick:
            run["operators_1x1x512x512"] = operator_benchmark(1, 512, args.repeats)
            run["operators_16x1x256x256"] = operator_benchmark(16, 256, args.repeats)
        report["runs"][f"threads_{threads}"] = run
    report["load_average_at_end"] = list(os.getloadavg())
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

"""Helpers shared by the benchmarks: the machine's matrix-multiply peak, FLOP counts, timing, the deepinv import."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable

import torch


def _best_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def blas_gemm_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Best-of-``repeats`` fp32 ``torch.mm`` of two n x n matrices (the BLAS library torch links, MKL here):
    2 n^3 FLOPs per product, in GFLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / _best_seconds(lambda: torch.mm(a, b), repeats) / 1e9


def onednn_gemm_gflops(channels: int = 512, pixels: int = 4096, repeats: int = 10) -> float:
    """Best-of-``repeats`` fp32 matrix product through oneDNN, the library torch's CPU convolutions use: a 1x1
    convolution of a channels-last (1, channels, 64, 64) tensor is exactly the product of a (pixels x channels)
    matrix with a (channels x channels) one, 2 * pixels * channels^2 FLOPs."""
    side = int(round(pixels**0.5))
    x = torch.randn(1, channels, side, side).contiguous(memory_format=torch.channels_last)
    w = torch.randn(channels, channels, 1, 1).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        seconds = _best_seconds(lambda: torch.nn.functional.conv2d(x, w), repeats)
    return 2 * side * side * channels**2 / seconds / 1e9


class PeakSampler:
    """The machine's fp32 matrix-multiply peak, sampled several times in one benchmark (call :meth:`sample` before
    each row and once at the end). Each sample is the faster of the two GEMM libraries torch uses on a CPU.

    One library is not enough. On an AMD Zen 5 machine here, MKL's ``torch.mm`` ran at about 235 GFLOP/s and
    oneDNN's GEMM at about 550 GFLOP/s on the same two cores (MKL appears not to use AVX-512 on this AMD
    processor), and the U-Net's convolutions, which run on oneDNN, reached 1.36 times the MKL figure: against
    MKL alone the "fraction of peak" measured the library, not the network.

    One sample is not enough on a shared machine either: in-process samples ranged from 130 to 366 GFLOP/s
    within minutes on an earlier machine. Fractions of peak are taken against the median sample, and every
    sample is reported, with each library's figure."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.libraries: dict[str, list[float]] = {"blas_mm": [], "onednn_1x1_conv": []}

    def sample(self) -> float:
        blas, onednn = blas_gemm_gflops(), onednn_gemm_gflops()
        self.libraries["blas_mm"].append(blas)
        self.libraries["onednn_1x1_conv"].append(onednn)
        self.samples.append(max(blas, onednn))
        return self.samples[-1]

    @property
    def median(self) -> float:
        ordered = sorted(self.samples)
        n = len(ordered)
        return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2

    def report(self) -> dict:
        return {"matmul_peak_gflops": round(self.median, 1),
                "peak_rule": "median over samples taken between the rows; each sample is the faster GEMM library",
                "peak_samples_gflops": [round(v, 1) for v in self.samples],
                "peak_samples_by_library_gflops": {k: [round(v, 1) for v in vs] for k, vs in self.libraries.items()}}

    def add_fractions(self, rows) -> None:
        """Set ``fraction_of_peak`` = gflops / median peak on each row (dicts) that has ``gflops``."""
        for row in rows:
            if "gflops" in row:
                row["fraction_of_peak"] = round(row["gflops"] / self.median, 3)


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call, counted by torch's FlopCounterMode (a multiply-add counts as 2 FLOPs)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def convolutions_alone(model: torch.nn.Module, x: torch.Tensor, train: bool, repeats: int = 3) -> dict:
    """The network's convolutions timed one by one, at the shapes they see on input ``x``, channels-last.

    Every ``Conv2d`` and ``ConvTranspose2d`` is run on its own (forward under ``inference_mode``, or forward and
    backward with ``train``), and its FLOPs and median time are summed. The GFLOP/s of that sum is what the
    network would reach if everything else (activations, pooling, concatenation, the optimiser) were free: a
    ceiling for any schedule of this network on this machine. Returns ``gflops``, ``seconds``, ``flops``
    and ``layers``."""
    shapes = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: shapes.append((mod, inp[0].shape, inp[0].requires_grad)))
             for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    with torch.set_grad_enabled(train):
        model(x)  # the first layer's input needs no gradient in training either
    for h in hooks:
        h.remove()
    total_flops, total_seconds = 0, 0.0
    for module, shape, needs_grad in shapes:
        inp = torch.randn(shape).contiguous(memory_format=torch.channels_last).requires_grad_(needs_grad)
        if train:
            grad = torch.randn_like(module(inp))

            def call():
                module(inp).backward(grad)  # noqa: B023 (called inside the loop)
            total_flops += count_flops(call)
            total_seconds += best_time(call, repeats, warmup=1)
        else:
            with torch.inference_mode():
                total_flops += count_flops(lambda: module(inp))  # noqa: B023
                total_seconds += best_time(lambda: module(inp), repeats, warmup=1)  # noqa: B023
    return {"gflops": round(total_flops / total_seconds / 1e9, 1), "seconds": round(total_seconds, 4),
            "flops": total_flops, "layers": len(shapes)}


def best_time(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median wall-clock seconds of ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


# deepinv needs torchvision, whose PyPI wheels need their own torch build: it lives in a venv of its own
DEEPINV_VENV = ("python3.11 -m venv DIR && DIR/bin/pip install torch==2.14.1 torchvision==0.29.1 deepinv==0.5.0 "
                "&& DIR/bin/pip install -e . scikit-image")


def import_deepinv():
    """``(deepinv, status)`` when deepinv imports here, else ``(None, the reason and how to get it)``."""
    try:
        import deepinv
    except Exception as error:  # not installed, or a torchvision built for another torch fails at import
        return None, (f"unavailable: {type(error).__name__}: {error}; make a venv with `{DEEPINV_VENV}` "
                      "and run this benchmark with DIR/bin/python")
    return deepinv, f"deepinv {deepinv.__version__} (torch {torch.__version__}), same process"


def machine() -> dict:
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}


def emit(result: dict) -> None:
    print(json.dumps(result, indent=1))

"""Helpers shared by the benchmarks: the machine's matrix-multiply peak, FLOP counts, timing, the deepinv import."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable

import torch


def matmul_peak_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Best-of-``repeats`` fp32 GEMM throughput (2 n^3 FLOPs per product) in GFLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


class PeakSampler:
    """The fp32 GEMM peak sampled several times in one benchmark (call :meth:`sample` before each row and once
    at the end). One sample is not enough on a shared machine: in-process samples ranged from 130 to 366 GFLOP/s
    within minutes here. Fractions of peak are taken against the median sample, and every sample is reported."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    def sample(self) -> float:
        self.samples.append(matmul_peak_gflops())
        return self.samples[-1]

    @property
    def median(self) -> float:
        ordered = sorted(self.samples)
        n = len(ordered)
        return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2

    def report(self) -> dict:
        return {"matmul_peak_gflops": round(self.median, 1), "peak_rule": "median of samples taken between the rows",
                "peak_samples_gflops": [round(v, 1) for v in self.samples]}

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

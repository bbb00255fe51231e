"""What this machine gives pixelwise, for ``pixelwise info`` and bug reports: versions, threads, the maths
libraries torch was built with (BLAS, oneDNN), the devices torch sees, several-process support, and the
allocator setting of :mod:`pixelwise.train.allocator`."""

from __future__ import annotations

import ctypes
import os
import platform
import re
import sys
from importlib import metadata

PACKAGES = ("numpy", "scipy", "pillow", "safetensors", "matplotlib", "tqdm", "onnx", "onnxruntime", "monai",
            "scikit-image", "scikit-learn", "torchmetrics")
ENVIRONMENT = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "PIXELWISE_KEEP_MALLOC", "PIXELWISE_DIST_TIMEOUT",
               "PIXELWISE_TEST_DEVICE", "CUDA_VISIBLE_DEVICES", "WORLD_SIZE", "RANK", "LOCAL_RANK")


def describe() -> dict[str, dict[str, str]]:
    """Sections of ``name: value`` lines: pixelwise and Python, packages, torch's build, threads, devices,
    several processes, memory, environment variables."""
    import torch

    from pixelwise import __version__
    from pixelwise.train.allocator import glibc, tune_malloc
    from pixelwise.train.devices import seen_devices

    build = torch.__config__.show()
    libc = glibc()
    if libc is not None:
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
    return {
        "pixelwise": {"version": __version__, "python": sys.version.split()[0],
                      "platform": platform.platform(), "processor": platform.machine()},
        "packages": {"torch": torch.__version__, **{name: _version(name) for name in PACKAGES}},
        "torch build": {"BLAS": _setting(build, "BLAS_INFO"), "LAPACK": _setting(build, "LAPACK_INFO"),
                        "oneDNN (mkldnn)": _line(build, "MKL-DNN") if torch.backends.mkldnn.is_available()
                        else "not built", "CPU capability": _line(build, "CPU capability usage").split(": ")[-1],
                        "OpenMP": "yes" if torch.backends.openmp.is_available() else "no",
                        "CUDA": torch.version.cuda or "not built"},
        "threads": {"intra-op (torch.get_num_threads)": str(torch.get_num_threads()),
                    "inter-op": str(torch.get_num_interop_threads()), "logical CPUs": str(os.cpu_count()),
                    "usable by this process": str(_usable_cpus())},
        "devices": {"seen": ", ".join(seen_devices()), "auto picks": _auto()},
        "several processes": _distributed(torch),
        "memory": {"malloc": "glibc " + libc.gnu_get_libc_version().decode() if libc is not None
                   else "not glibc", "pixelwise tuning": tune_malloc()},
        "environment": {name: os.environ.get(name, "(not set)") for name in ENVIRONMENT},
    }


def report(sections: dict[str, dict[str, str]]) -> str:
    """The sections as text: a heading per section, aligned ``name: value`` lines under it."""
    lines = []
    for title, values in sections.items():
        lines.append(f"{title}:")
        width = max(map(len, values), default=0)
        lines += [f"  {name + ':':<{width + 1}} {value}" for name, value in values.items()]
    return "\n".join(lines)


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _setting(build: str, key: str) -> str:
    found = re.search(rf"{key}=([^,\s]+)", build)
    return found[1] if found else "unknown"


def _line(build: str, words: str) -> str:
    return next((line.strip(" -") for line in build.splitlines() if words in line), "unknown")


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _auto() -> str:
    from pixelwise.train.devices import resolve_device

    return str(resolve_device("auto"))


def _distributed(torch) -> dict[str, str]:
    dist = torch.distributed
    if not dist.is_available():
        return {"torch.distributed": "not built"}
    return {"torch.distributed": "yes", "gloo (CPU)": "yes" if dist.is_gloo_available() else "no",
            "nccl (CUDA)": "yes" if dist.is_nccl_available() else "no"}

"""Keep the large blocks that training and prediction free, so that the next step reuses them.

glibc's ``malloc`` serves every request above its mmap threshold (128 KiB at first, rising to at most 32 MiB)
with a fresh ``mmap`` and gives it back with ``munmap`` when it is freed. A network's activations are larger
than that: one 32-channel 256 x 256 feature map at batch 8 is 64 MiB. So every forward and backward pass maps
new memory and touches it for the first time, one page fault per 4 KiB page (16,384 for that map), on every
tensor of every step. The time goes to the kernel, not to the arithmetic.

:func:`tune_malloc` sets two of glibc's ``mallopt`` parameters:

- ``M_MMAP_MAX = 0``: no request gets its own mapping; all come from the heap;
- ``M_TRIM_THRESHOLD`` to its largest value, 2 GiB - 1: free memory at the top of the heap is kept up to that
  size instead of being returned to the kernel.

Freed activations then go back to the heap and the next step reuses them without a fault. Measured on 2 cores
(AMD Zen 5, torch 2.13, ``benchmarks/train_throughput.py`` and ``predict_throughput.py``): the U-Net training
step at 3x256x256, batch 8, went from 2.62 s to 1.79 s (eager, channels-last), MONAI's BasicUNet from 2.77 s
to 1.19 s, and the U-Net's prediction at 4x3x512x512 from 0.60 to 0.92 of the matrix-multiply peak.

The cost: the process keeps the memory it has freed (up to 2 GiB of it) until it exits, so its resident size
stays near its peak. The setting is process-wide and cannot be undone by this module. pixelwise applies it in
its command line, in :func:`pixelwise.train.fit` and in segmentation's ``predict`` and ``evaluate``; set the
environment variable ``PIXELWISE_KEEP_MALLOC=1`` to leave ``malloc`` as it is. On a C library other than glibc (macOS,
Windows, musl) nothing is changed.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_MAX = -4
TRIM_THRESHOLD = 2**31 - 1  # mallopt takes a C int

_outcome: str | None = None


def tune_malloc() -> str:
    """Stop glibc's ``malloc`` from unmapping large freed blocks (see the module docstring). Idempotent.

    Returns what happened, in words: ``"tuned"``, ``"kept: PIXELWISE_KEEP_MALLOC is set"``,
    ``"unchanged: not glibc"`` or ``"unchanged: mallopt refused"``; later calls return the first answer.
    """
    global _outcome
    if _outcome is None:
        _outcome = _apply()
    return _outcome


def _apply() -> str:
    if os.environ.get("PIXELWISE_KEEP_MALLOC", "").strip() not in ("", "0"):
        return "kept: PIXELWISE_KEEP_MALLOC is set"
    libc = glibc()
    if libc is None:
        return "unchanged: not glibc"
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    # the trim threshold first: once it is set, glibc stops moving it with the mmap threshold
    ok = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and libc.mallopt(M_MMAP_MAX, 0) == 1
    return "tuned" if ok else "unchanged: mallopt refused"


def glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc (Linux), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # only glibc has it  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc

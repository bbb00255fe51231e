"""Refuse, before allocating, what cannot fit in this machine's memory (one sentence, instead of the operating
system killing the process halfway through writing a run)."""

from __future__ import annotations

import os

from pixelwise.errors import DataError


def available_bytes() -> int | None:
    """The memory the kernel reports as available (``MemAvailable`` of /proc/meminfo), else the free physical
    pages; None where neither is known."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_fits(needed: float, what: str, fix: str, available: int | None = None) -> None:
    """Refuse ``what`` when it needs more than the available memory; ``fix`` says what to change."""
    available = available_bytes() if available is None else available
    if available is not None and needed > available:
        raise DataError(f"{what} needs about {gib(needed)} of memory, more than the {gib(available)} available on "
                        f"this machine; {fix}")

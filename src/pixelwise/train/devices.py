"""Where the arithmetic runs (a device by name) and in what precision.

Devices by name: ``auto`` (CUDA if torch sees a GPU, then Apple's MPS, else the CPU), ``cpu``, ``cuda`` (the
current GPU; under ``torchrun``, GPU ``LOCAL_RANK``), ``cuda:N`` and ``mps``. A device that is not there is
refused in one sentence naming it and what is there.

Precisions: ``32`` (float32 everywhere, the default), ``bf16`` (``torch.autocast`` to bfloat16: the matrix
products and convolutions in bfloat16, reductions and the weights in float32) and ``16-mixed`` (autocast to
float16 with a gradient scaler, CUDA only: float16's 5-bit exponent underflows small gradients unless the loss
is scaled; Micikevicius et al. 2018, "Mixed Precision Training", ICLR). On the CPUs measured here bfloat16 was
slower than float32, so the default stays ``32``.

Checkpoints are written from CPU copies (:func:`to_cpu`) and read with ``map_location="cpu"``, so a run trained
on one device resumes, evaluates and predicts on any other.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping

from pixelwise.errors import PixelwiseError

PRECISIONS = ("32", "bf16", "16-mixed")
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
DEVICE_HELP = "auto (CUDA, then MPS, else CPU), cpu, cuda, cuda:N or mps"


def check_device_name(name) -> None:
    """Refuse a device name that is not one of :data:`DEVICE_HELP` (the spelling only; no torch)."""
    if not isinstance(name, str) or not DEVICE_PATTERN.match(name):
        raise PixelwiseError(f"device={name!r} is not a device name; use {DEVICE_HELP}.")


def check_precision_name(precision) -> None:
    if precision not in PRECISIONS:
        raise PixelwiseError(f"precision={precision!r} is not known; use one of {', '.join(PRECISIONS)}.")


def resolve_device(name: str = "auto", local_rank: int | None = None):
    """The ``torch.device`` of ``name``; ``local_rank`` (a ``torchrun`` process's ``LOCAL_RANK``) picks the GPU of
    ``cuda`` and ``auto``. An absent device is one sentence naming it and what this machine has."""
    import torch

    check_device_name(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise PixelwiseError("device=mps is not available (it needs an Apple-silicon Mac and a torch built with "
                                 f"MPS); use device=cpu, or device=auto. {_seen()}")
        return torch.device("mps")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise PixelwiseError(f"device={name} is not available: torch {torch.__version__} sees no CUDA GPU; use "
                             "device=cpu (or auto), or install a CUDA build of torch on a machine with a GPU. "
                             f"{_seen()}")
    index = int(name.split(":")[1]) if ":" in name else (local_rank if local_rank is not None else
                                                         torch.cuda.current_device())
    if index >= count:
        what = f"process {local_rank} on this node" if ":" not in name else name
        raise PixelwiseError(f"device={name} for {what} is not there: this machine has {count} CUDA GPU(s), "
                             f"cuda:0 to cuda:{count - 1}; use one of them (or start fewer processes per node).")
    return torch.device("cuda", index)


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _seen() -> str:
    return f"Devices seen: {', '.join(seen_devices())}."


def seen_devices() -> list[str]:
    """The devices torch can use here, e.g. ``["cpu", "cuda:0 (NVIDIA A100)"]``."""
    import torch

    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    if _mps_available():
        out.append("mps")
    return out


def check_precision(device, precision: str) -> None:
    """Refuse a precision the device cannot train in (16-mixed needs CUDA's gradient scaler)."""
    check_precision_name(precision)
    if precision == "16-mixed" and device.type != "cuda":
        raise PixelwiseError(f"precision=16-mixed needs a CUDA device (float16 with a gradient scaler), not "
                             f"{device.type}; use precision=bf16 or precision=32 there.")


def autocast(device, precision: str):
    """A context running the forward pass in ``precision`` (nothing for ``32``)."""
    import torch

    if precision == "32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def grad_scaler(device, precision: str):
    """``torch.amp.GradScaler`` for float16 on CUDA, else None (bfloat16 has float32's exponent range)."""
    import torch

    return torch.amp.GradScaler(device.type) if precision == "16-mixed" else None


def to_device(value, device, non_blocking: bool = False):
    """``value`` with every tensor in it moved to ``device``: tensors, and tuples, lists and dicts of them; other
    objects (an operator, None) pass as they are."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=non_blocking)
    if isinstance(value, tuple):
        return tuple(to_device(v, device, non_blocking) for v in value)
    if isinstance(value, list):
        return [to_device(v, device, non_blocking) for v in value]
    if isinstance(value, Mapping):
        return {k: to_device(v, device, non_blocking) for k, v in value.items()}
    return value


def to_cpu(value):
    """``value`` (a state dict, an optimizer's state) with every tensor moved to the CPU, for a checkpoint."""
    import torch

    return to_device(value, torch.device("cpu"))


def device_of(module) -> object:
    """The device of a module's first parameter or buffer (the CPU for a module without either)."""
    import torch

    for t in (*module.parameters(), *module.buffers()):
        return t.device
    return torch.device("cpu")



def compiled(model, log):
    """``torch.compile(model)`` (inductor: fused element-wise kernels around the convolutions) as a function.
    Compilation happens at the first call; if it cannot (e.g. no C++ compiler), the plain model answers from then
    on, and ``log`` says why once."""
    import torch

    compiled_model = torch.compile(model)

    def forward(x):
        nonlocal compiled_model
        if compiled_model is not model:
            try:
                return compiled_model(x)
            except Exception as error:  # noqa: BLE001 (any backend failure: train uncompiled instead)
                reason = (str(error).splitlines() or [""])[0][:200]
                log(f"torch.compile failed ({type(error).__name__}: {reason}); training without it")
                compiled_model = model
        return model(x)

    return forward

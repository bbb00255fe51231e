"""Checkpoints: weights in safetensors, the loop's state through ``torch.load(weights_only=True)``.

Every file is written atomically (:func:`pixelwise.train.files.atomic_write`), so an interrupted or failed write
(a killed process, a full disk) never leaves a broken file under a checkpoint's name; a write that fails is
reported in one sentence and the previous checkpoint stays. A damaged or truncated file is refused in one
sentence naming it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from pixelwise.errors import PixelwiseError
from pixelwise.train.files import atomic_write


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:120]


def _write(path: Path, write) -> None:
    try:
        atomic_write(path, write)
    except OSError as err:
        raise PixelwiseError(f"cannot write checkpoint {path} ({err.strerror or err}); the previous checkpoint is "
                             "kept: free some space (or fix the folder's permissions) and --resume.") from None


def weights_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached, contiguous CPU copy of the model's state dict (parameters and buffers), whatever the device."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


def save_weights(model: torch.nn.Module | dict, path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write the model's state dict (or a state dict) as safetensors, atomically; ``metadata`` (text) is stored in
    the file's header (the loop stamps the epoch)."""
    state = weights_of(model) if isinstance(model, torch.nn.Module) else model
    _write(Path(path), lambda tmp: save_file(state, tmp, metadata=metadata))


def weights_metadata(path: str | Path) -> dict[str, str]:
    """The text metadata of a safetensors file's header (e.g. ``{"epoch": "12"}``); empty when it has none."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as err:  # noqa: BLE001 (safetensors raises its own error types)
        raise PixelwiseError(f"cannot read weights {path} ({_first_line(err)}); the file is damaged or truncated: "
                             "retrain, or use another checkpoint (e.g. --which last).") from None


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, or one sentence naming a missing or damaged file."""
    path = Path(path)
    if not path.is_file():
        raise PixelwiseError(f"weights file {path} does not exist; train a model first or check the run folder.")
    try:
        return load_file(str(path))
    except Exception as err:  # noqa: BLE001 (safetensors raises its own error types)
        raise PixelwiseError(f"cannot read weights {path} ({_first_line(err)}); the file is damaged "
                             "or truncated: retrain, or use another checkpoint (e.g. --which last).") from None


def load_weights(model: torch.nn.Module, path: str | Path, strict: bool = True) -> torch.nn.Module:
    """Load safetensors weights into ``model`` (the only way pixelwise models get trained weights)."""
    state = read_weights(path)
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise PixelwiseError(f"weights {path} do not fit this model ({first}); "
                             f"build the model with the run's config.") from None
    return model


def save_state(state: dict, path: str | Path) -> None:
    """The loop's state (tensors, numbers, strings, lists, dicts), atomically."""
    _write(Path(path), lambda tmp: torch.save(state, tmp))


def load_state(path: str | Path) -> dict:
    """The loop's state, or one sentence naming a missing, damaged or truncated file."""
    path = Path(path)
    if not path.is_file():
        raise PixelwiseError(f"checkpoint {path} does not exist; start a new run without --resume.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 (pickle, zip and torch errors alike)
        raise PixelwiseError(f"cannot read checkpoint {path} ({_first_line(err)}); the file is damaged "
                             "or truncated: start the run again (--overwrite).") from None
    if not isinstance(state, dict):
        raise PixelwiseError(f"checkpoint {path} does not hold a training state; start the run again (--overwrite).")
    return state

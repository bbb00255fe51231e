"""Checkpoints: weights in safetensors, loop state through ``torch.load(weights_only=True)``.

Every file is written atomically (temporary file in the same folder, then ``os.replace``), so an
interrupted write never leaves a broken checkpoint behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from pixelwise.errors import PixelwiseError


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Write the model's state dict (parameters and buffers) as safetensors, atomically."""
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    _atomic(Path(path), lambda tmp: save_file(state, tmp))


def load_weights(model: torch.nn.Module, path: str | Path, strict: bool = True) -> torch.nn.Module:
    """Load safetensors weights into ``model`` (the only way pixelwise models get trained weights)."""
    path = Path(path)
    if not path.is_file():
        raise PixelwiseError(f"weights file {path} does not exist; train a model first or check the run folder.")
    try:
        state = load_file(str(path))
    except Exception as err:  # safetensors raises its own error types
        raise PixelwiseError(f"cannot read weights {path} ({err}); "
                             f"the file is damaged, retrain or use another.") from None
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise PixelwiseError(f"weights {path} do not fit this model ({first}); "
                             f"build the model with the run's config.") from None
    return model


def save_state(state: dict, path: str | Path) -> None:
    """Optimizer and loop state (tensors, numbers, strings, lists, dicts), atomically."""
    _atomic(Path(path), lambda tmp: torch.save(state, tmp))


def load_state(path: str | Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)

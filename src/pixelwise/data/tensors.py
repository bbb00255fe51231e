"""Decoded image arrays as torch tensors, by the one rule of :mod:`pixelwise.data.decode`."""

from __future__ import annotations

import numpy as np
import torch

from pixelwise.data.decode import to_unit


def unit_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, C) decoded images (uint8, uint16 or float32) -> (N, C, H, W) float32 in [0, 1] (divided by the
    type's maximum: uint8 / 255, uint16 / 65535, float32 as it is)."""
    return torch.from_numpy(np.ascontiguousarray(to_unit(np.asarray(images)))).permute(0, 3, 1, 2).float()

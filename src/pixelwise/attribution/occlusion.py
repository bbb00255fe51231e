"""Occlusion (Zeiler and Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014): slide a
``patch`` x ``patch`` square, all channels, over the image in steps of ``stride``, replace what it covers by a
baseline, and record how much the score drops, s(x) - s(x with the patch occluded). A pixel's attribution is the
mean drop over the patches that cover it.

The patches start at 0, stride, 2 stride, ... up to and including the first start that reaches the last pixel
(ceil((H - patch) / stride) + 1 positions a side; the last may hang over the edge and is cut there): the
positions of Captum's ``Occlusion``, with which the maps agree (``tests/test_attribution.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


def _starts(size: int, patch: int, stride: int) -> list[int]:
    return [i * stride for i in range(math.ceil((size - patch) / stride) + 1)]


@torch.no_grad()
def occlusion(model: Callable, x: torch.Tensor, head: Callable | None = None, patch: int = 16, stride: int = 8,
              baseline: float = 0.0, batch: int = 32) -> torch.Tensor:
    """Occlusion attributions (N, C, H, W) (equal over the channels) of s = head(model(x)) (N,); ``batch``
    occluded images per forward pass."""
    n, c, h, w = x.shape
    if not (1 <= patch <= min(h, w)) or not (1 <= stride <= patch):
        raise ValueError(f"patch={patch} must lie in [1, {min(h, w)}] and stride={stride} in [1, patch].")

    def score(z: torch.Tensor) -> torch.Tensor:
        out = model(z)
        return head(out) if head is not None else out

    windows = [(top, left) for top in _starts(h, patch, stride) for left in _starts(w, patch, stride)]
    clean = score(x)  # (N,)
    total = torch.zeros(n, 1, h, w, dtype=x.dtype)
    count = torch.zeros(1, 1, h, w, dtype=x.dtype)
    for k in range(n):
        for start in range(0, len(windows), batch):
            chunk = windows[start:start + batch]
            occluded = x[k:k + 1].repeat(len(chunk), 1, 1, 1)  # (B, C, H, W)
            for j, (top, left) in enumerate(chunk):
                occluded[j, :, top:top + patch, left:left + patch] = baseline
            drops = clean[k] - score(occluded)  # (B,)
            for j, (top, left) in enumerate(chunk):
                total[k, 0, top:top + patch, left:left + patch] += drops[j]
                if k == 0:
                    count[0, 0, top:top + patch, left:left + patch] += 1
    return (total / count).expand(n, c, h, w).clone()

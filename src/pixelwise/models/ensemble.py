"""The x8 geometric self-ensemble: a network averaged over the flips and quarter turns of its input.

R. Timofte, R. Rothe and L. Van Gool, "Seven ways to improve example-based single image super resolution", CVPR
2016 (section 2, "enhanced prediction"); used by EDSR+ (Lim et al. 2017) and by DPIR's denoiser (Zhang et al.,
TPAMI 2021). For each of the eight transforms T of the square's symmetry group (four rotations by 90 degrees, each
with or without a left-right flip) the network restores T x and the result is turned back, T^-1 f(T x); the mean
of the eight is the prediction. It is exactly equivariant to the eight transforms whatever f is, and equals f
when f already is. It helps where the task itself has these symmetries (Gaussian noise, bicubic down-sampling,
an isotropic blur, random missing pixels), and costs eight forward passes.

Shapes: ``dihedral_mean(f, x)`` with ``x`` (N, C, H, W) -> ``f``'s output shape; H and W need not be equal (a turn
swaps them, and ``f`` must take both); ``f`` may change the size (a super-resolution network).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

TRANSFORMS = tuple((k, flip) for k in range(4) for flip in (False, True))  # rotate k quarter turns, then flip


def dihedral_mean(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The mean over the eight transforms T of T^-1 f(T x) (see the module docstring)."""
    total = None
    for k, flip in TRANSFORMS:
        t = torch.rot90(x, k, (-2, -1))
        y = f(t.flip(-1) if flip else t)
        y = torch.rot90(y.flip(-1) if flip else y, -k, (-2, -1))
        total = y if total is None else total + y
    return total / len(TRANSFORMS)

"""The stopping rule shared by the iterative solvers."""

from __future__ import annotations

import torch


def relative_change(x_next: torch.Tensor, x: torch.Tensor) -> float:
    """||x_next - x|| / max(||x_next||, 1e-12): the solvers stop once this falls below ``tol``."""
    return float((x_next - x).norm()) / max(float(x_next.norm()), 1e-12)

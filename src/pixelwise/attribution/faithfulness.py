"""Is an attribution map faithful to the network, and does it depend on the network at all?

- Deletion and insertion curves (Petsiuk, Das and Saenko, "RISE", BMVC 2018): remove the pixels from the most
  to the least important by the map (set them to a baseline) and follow the score; or start from the baseline and
  insert them in that order. The area under the curve (the mean score over the fractions 0, 1/k, ..., 1, by the
  trapezoid rule) is low for deletion and high for insertion when the map ranks the pixels that matter first;
  a random map is the reference.
- Model randomisation (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018): the maps of a network
  whose weights are re-initialised must differ from the trained network's; the Spearman rank correlation of the
  two maps (of their magnitudes) is reported, near 0 for a method that passes, near 1 for one that ignores the
  weights (an edge detector does not need a network).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn


@torch.no_grad()
def deletion_insertion(model: Callable, x: torch.Tensor, saliency: torch.Tensor, head: Callable | None = None,
                       steps: int = 20, baseline: float | torch.Tensor = 0.0, batch: int = 32) -> dict:
    """Deletion and insertion curves of one image ``x`` (1, C, H, W) ranked by ``saliency`` (H, W): the scores
    after changing round(f H W) pixels (all channels) for f = 0, 1/steps, ..., 1 (ties broken by position), and
    their areas ``deletion_auc``, ``insertion_auc`` (trapezoid rule over f in [0, 1]). ``baseline``: a number, or
    a tensor that broadcasts to ``x`` (e.g. a mean colour (C, 1, 1))."""
    _, c, h, w = x.shape
    order = torch.argsort(saliency.flatten(), descending=True, stable=True)  # most important first
    counts = [round(f * h * w) for f in np.linspace(0, 1, steps + 1)]
    base = torch.as_tensor(baseline, dtype=x.dtype).expand_as(x)
    curves = {}
    for name, start, end in (("deletion", x, base), ("insertion", base, x)):
        images = []
        for k in counts:
            z = start.clone().flatten(2)  # (1, C, HW)
            z[..., order[:k]] = end.flatten(2)[..., order[:k]]
            images.append(z.reshape(1, c, h, w))
        stack = torch.cat(images)
        scores = []
        for s in range(0, len(stack), batch):
            out = model(stack[s:s + batch])
            scores.append(head(out) if head is not None else out)
        curves[name] = torch.cat(scores).double().numpy()
    fractions = np.linspace(0, 1, steps + 1)
    return {"fractions": fractions.tolist(), "deletion": curves["deletion"].tolist(),
            "insertion": curves["insertion"].tolist(),
            "deletion_auc": area(fractions, curves["deletion"]), "insertion_auc": area(fractions, curves["insertion"])}


def area(x: np.ndarray, y: np.ndarray) -> float:
    """The trapezoid rule: sum of (y_i + y_{i+1}) / 2 (x_{i+1} - x_i)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return float(((y[1:] + y[:-1]) / 2 * np.diff(x)).sum())


def randomised_copy(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with every layer that has ``reset_parameters`` re-initialised (seeded; the global
    generator is left as it was): Adebayo et al.'s full model randomisation."""
    clone = copy.deepcopy(model)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for m in clone.modules():
            if hasattr(m, "reset_parameters") and m is not clone:
                m.reset_parameters()
    return clone.eval()


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of two maps (flattened)."""
    value = spearmanr(np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()).statistic
    return float(value) if np.isfinite(value) else 0.0

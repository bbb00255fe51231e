"""Multi-atlas segmentation: register labelled atlases to a target, carry their masks over, fuse them.

For each target: its N atlases (the N most similar by NCC at the working size, or N drawn once with the seed)
are registered to it in one batch (:func:`pixelwise.registration.register`, any transform and similarity), their
masks warped by nearest neighbour (labels stay labels) or bilinearly (as probabilities), and fused per pixel:

- majority vote (Rohlfing et al. 2004; Heckemann et al. 2006): foreground where the mean vote p(x) > 1/2;
- locally weighted vote (Artaechevarria, Munoz-Barrutia and Ortiz-de-Solorzano 2009, IEEE TMI 28(8), their
  inverse-distance weighting with gain 1): each atlas weighs w_i(x) = 1 / (LMSD_i(x) + eps), LMSD_i the mean
  squared intensity difference between the target and the warped atlas in a 7 x 7 window around x, so the
  atlases that match the target there decide there; foreground where sum_i w_i m_i / sum_i w_i > 1/2.

Everything runs on square ``atlas_size`` images; the fused probability is resized to the target's own size
(bilinear) and thresholded at 1/2.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from pixelwise.data.folders import resize_image, resize_mask
from pixelwise.data.tensors import unit_tensor
from pixelwise.registration import ncc, register
from pixelwise.tasks.segment.baseline_config import BaselineConfig

WINDOW = 7
EPS = 1e-4


def as_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, S, S, C) decoded images -> (N, C, S, S) float in [0, 1] (:func:`pixelwise.data.tensors.unit_tensor`)."""
    return unit_tensor(images)


def atlas_arrays(pairs, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Atlas images (N, C, S, S) in [0, 1] and masks (N, 1, S, S) in {0, 1} from (image, mask) uint8 pairs."""
    images = np.stack([resize_image(im, (size, size)) for im, _ in pairs])
    masks = np.stack([resize_mask(m, (size, size), binary=True) for _, m in pairs])
    return as_tensor(images), torch.from_numpy(masks).float()[:, None]


def select(target: torch.Tensor, images: torch.Tensor, config: BaselineConfig, chosen: list[int] | None) -> list[int]:
    """Indices of the target's atlases: the ``config.atlases`` highest NCCs with the target, or ``chosen``."""
    n = min(config.atlases, images.shape[0])
    if config.selection == "random" and chosen is not None:
        return chosen[:n]
    scores = ncc(target.expand(images.shape[0], -1, -1, -1), images)
    return torch.argsort(scores, descending=True, stable=True)[:n].tolist()


def fuse(target: torch.Tensor, warped: torch.Tensor, votes: torch.Tensor, fusion: str) -> torch.Tensor:
    """(S, S) foreground probability from the warped atlas images (N, C, S, S) and votes (N, 1, S, S)."""
    if fusion == "majority":
        return votes.mean(0)[0]
    lmsd = F.avg_pool2d((warped - target).pow(2).mean(1, keepdim=True), WINDOW, stride=1, padding=WINDOW // 2,
                        count_include_pad=False)  # (N, 1, S, S)
    w = 1.0 / (lmsd + EPS)
    return ((w * votes).sum(0) / w.sum(0))[0]


def atlas_segment(image: np.ndarray, images: torch.Tensor, masks: torch.Tensor, config: BaselineConfig,
                  chosen: list[int] | None = None) -> tuple[np.ndarray, dict]:
    """The (H, W) uint8 {0, 1} mask of an (H, W, C) uint8 target, and a record (atlases used, final loss)."""
    size = config.atlas_size
    target = as_tensor(resize_image(image, (size, size))[None])
    idx = select(target, images, config, chosen)
    moving, labels = images[idx], masks[idx]
    reg = register(target, moving, config.transform, config.metric, levels=3, iterations=config.iterations)
    with torch.no_grad():
        warped = reg.warp(moving)
        mode = "nearest" if config.label_warp == "nearest" else "bilinear"
        votes = reg.warp(labels, mode=mode, padding="zeros")
        p = fuse(target, warped, votes, config.fusion)
        full = F.interpolate(p[None, None], size=image.shape[:2], mode="bilinear", align_corners=False)[0, 0]
    return (full > 0.5).numpy().astype(np.uint8), {"atlases": idx, "loss": reg.history[-1]["loss"]}

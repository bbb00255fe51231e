"""What an attribution explains: a scalar score per image, ``head(output) -> (N,)``, of a network's output.

- :func:`class_score`: the logit of class k of a classifier, (N, K) -> (N,).
- :func:`region_score`: the mean logit (or probability) of one output channel over a region of a dense output
  (a segmentation or a restored image), (N, K, H, W) -> (N,): the attribution of a whole structure, such as the
  predicted polyp, a box or a mask drawn by hand, instead of one pixel.
- :func:`predicted_region`, :func:`box_mask`: regions.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def class_score(k: int | torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``head(logits (N, K)) -> logits[:, k]`` (N,); ``k`` one class for all images, or one per image (N,)."""

    def head(logits: torch.Tensor) -> torch.Tensor:
        index = torch.as_tensor(k, device=logits.device).long().reshape(-1, 1).expand(len(logits), 1)
        return logits.gather(1, index)[:, 0]

    return head


def region_score(mask: torch.Tensor, channel: int = 0, probability: bool = False
                 ) -> Callable[[torch.Tensor], torch.Tensor]:
    """``head(output (N, K, H, W)) -> (N,)``: the mean of output channel ``channel`` over ``mask`` ((H, W) for every
    image, or (N, H, W); boolean or 0/1), of the logits, or of their sigmoid with ``probability``."""
    mask = torch.as_tensor(mask).float()

    def head(output: torch.Tensor) -> torch.Tensor:
        values = output[:, channel]  # (N, H, W)
        if probability:
            values = torch.sigmoid(values)
        if mask.shape[-2:] != values.shape[-2:]:
            raise ValueError(f"the region mask is {tuple(mask.shape[-2:])} but the output is "
                             f"{tuple(values.shape[-2:])}.")
        m = mask.to(values.device).expand_as(values)
        return (values * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp(min=1)

    return head


def predicted_region(output: torch.Tensor, channel: int = 0) -> torch.Tensor:
    """The pixels a segmentation output assigns to ``channel``: logit > 0 for one channel (binary), argmax for
    several. (N, K, H, W) -> (N, H, W) boolean."""
    if output.shape[1] == 1:
        return output[:, 0] > 0
    return output.argmax(1) == channel


def box_mask(shape: tuple[int, int], box: tuple[int, int, int, int]) -> torch.Tensor:
    """An (H, W) boolean mask, True inside ``box`` = (top, left, bottom, right), bottom and right excluded."""
    h, w = shape
    top, left, bottom, right = box
    if not (0 <= top < bottom <= h and 0 <= left < right <= w):
        raise ValueError(f"box {box} (top, left, bottom, right) must lie inside the {h}x{w} image with top < bottom "
                         "and left < right.")
    out = torch.zeros(h, w, dtype=torch.bool)
    out[top:bottom, left:right] = True
    return out

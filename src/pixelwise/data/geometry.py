"""How an image of any size becomes the network's working image, and how a prediction goes back.

A segmentation run names one rule (``--resize``) and keeps it for training, validation, evaluation and
prediction, so that the network always sees objects at the scale it learned them:

======== ======================================================================= ================================
mode     the working image (canvas) of an H x W image, for the size S               aspect ratio
======== ======================================================================= ================================
squash   resized to S x S                                                          changed (pixelwise's first rule)
fit      resized so that the longer side is S, centred on a black S x S canvas     kept (letterbox)
pad      as fit, but only ever shrunk: a smaller image keeps its pixels, padded   kept, and the scale of small images
crop     resized so that the shorter side is S (training takes S x S crops)       kept
none     the image itself (training takes S x S crops from the full resolution)   kept, and the scale
======== ======================================================================= ================================

Masks follow their image (binary masks bilinear then > 0.5, label masks nearest neighbour); the padding of fit and
pad is background. A prediction on the canvas is cropped to where the image lies and resized (bilinear, on the
scores) back to H x W.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESIZE_MODES = ("squash", "fit", "pad", "crop", "none")
UNIFORM = ("squash", "fit", "pad")  # modes whose canvases all have one size, S x S (a batch can stack them)


@dataclass(frozen=True)
class Placement:
    """Where an image lies on its canvas: its size after resampling, the canvas's size, and its top-left corner."""

    scaled: tuple[int, int]
    canvas: tuple[int, int]
    offset: tuple[int, int] = (0, 0)


def placement(height: int, width: int, size: int, mode: str) -> Placement:
    """The :class:`Placement` of an ``height`` x ``width`` image under ``mode`` (see the module docstring)."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode {mode!r} is not one of {', '.join(RESIZE_MODES)}.")
    if mode == "squash":
        return Placement((size, size), (size, size))
    if mode == "none":
        return Placement((height, width), (height, width))
    if mode == "crop":
        f = size / min(height, width)
        scaled = (max(size, round(height * f)), max(size, round(width * f)))  # the shorter side exactly S
        return Placement(scaled, scaled)
    f = size / max(height, width)
    if mode == "pad":
        f = min(f, 1.0)
    scaled = (min(size, max(1, round(height * f))), min(size, max(1, round(width * f))))
    return Placement(scaled, (size, size), ((size - scaled[0]) // 2, (size - scaled[1]) // 2))


def to_canvas(image: np.ndarray, place: Placement, mask: np.ndarray | None = None, binary: bool = True
              ) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W, C) decoded image (uint8, uint16 or float32; kept at its depth) and its (H, W) mask -> the canvas
    (h, w, C) and its mask, black and background where the image does not reach."""
    from pixelwise.data.folders import resize_image, resize_mask

    image = resize_image(image, place.scaled)
    mask = resize_mask(mask, place.scaled, binary) if mask is not None else None
    if place.canvas == place.scaled:
        return image, mask
    top, left = place.offset
    h, w = place.scaled
    canvas = np.zeros((*place.canvas, image.shape[2]), image.dtype)
    canvas[top:top + h, left:left + w] = image
    if mask is not None:
        full = np.zeros(place.canvas, np.uint8)
        full[top:top + h, left:left + w] = mask
        mask = full
    return canvas, mask


def from_canvas(scores, place: Placement, size: tuple[int, int]):
    """Scores (K, h, w) on the canvas (a torch tensor) -> (K, H, W) at the image's own ``size``: the image's part
    of the canvas, resized bilinearly."""
    from torch.nn import functional as F

    top, left = place.offset
    h, w = place.scaled
    part = scores[:, top:top + h, left:left + w]
    if tuple(part.shape[-2:]) == tuple(size):
        return part.float()
    return F.interpolate(part[None].float(), size=tuple(size), mode="bilinear", align_corners=False)[0]

"""What ``explain`` explains in each image: a head (output -> score, :mod:`pixelwise.attribution.targets`), the
region it covers (for the overlays) and a description, from ``--target`` and the kind of run."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pixelwise.attribution import box_mask, class_score, predicted_region, region_score
from pixelwise.errors import PixelwiseError
from pixelwise.tasks.explain.config import ExplainConfig, parse_target
from pixelwise.tasks.subjects import Subject


@dataclass
class Target:
    head: object  # output (1, ...) -> (1,)
    region: np.ndarray | None  # (H, W) boolean at the network's output size, or None (a class)
    description: str


def _scaled_box(box: tuple[int, int, int, int], image: np.ndarray, size: tuple[int, int]) -> tuple:
    """A box in the image's own pixels -> the same box at the network's size."""
    h, w = image.shape[:2]
    try:
        box_mask((h, w), box)
    except ValueError as err:
        raise PixelwiseError(f"--target box:{','.join(map(str, box))} does not fit the {h}x{w} image: {err}") from None
    sy, sx = size[0] / h, size[1] / w
    top, left = int(box[0] * sy), int(box[1] * sx)
    return top, left, max(top + 1, round(box[2] * sy)), max(left + 1, round(box[3] * sx))


def _mask_file(path: str, image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from pixelwise.data.folders import resize_mask
    from pixelwise.data.masks import decode_mask

    mask = decode_mask(path)  # the binary mask rules: 0/1 exports, palettes, grey > 127
    if mask.shape[:2] != image.shape[:2]:
        raise PixelwiseError(f"--target mask:{path} is {mask.shape[1]}x{mask.shape[0]} pixels but the image is "
                             f"{image.shape[1]}x{image.shape[0]}; give a mask of the image's size.")
    region = resize_mask(mask, size, binary=True) > 0
    if not region.any():
        raise PixelwiseError(f"--target mask:{path} is empty (no foreground pixel); mark the region in white.")
    return region


def _region_target(subject: Subject, config: ExplainConfig, image: np.ndarray, output: torch.Tensor) -> Target:
    """A segmentation or restoration output (1, K, H, W): the mean logit (or value) of one channel over a region."""
    kind, value = parse_target(config.target)
    size = tuple(output.shape[-2:])
    label_masks = subject.kind == "segment" and subject.config.num_classes is not None
    channel = config.channel if config.channel is not None else (1 if label_masks else 0)
    if channel >= output.shape[1]:
        raise PixelwiseError(f"--channel {channel} does not exist: the run's output has {output.shape[1]} channels.")
    if kind == "class":
        raise PixelwiseError(f"--target {config.target} names a class, but a {subject.kind} run outputs images; use "
                             "predicted, box:... or mask:FILE.")
    if kind == "box":
        region, what = box_mask(size, _scaled_box(value, image, size)).numpy(), f"box {value}"
    elif kind == "mask":
        region, what = _mask_file(value, image, size), f"mask {value}"
    elif subject.kind == "segment":
        region, what = predicted_region(output, channel)[0].numpy(), "the predicted region"
        if not region.any():
            region, what = np.ones(size, bool), "the whole image (nothing was predicted)"
    else:  # a restored image: the centre square of a quarter of the side
        h, w = size
        region = box_mask(size, (3 * h // 8, 3 * w // 8, max(3 * h // 8 + 1, 5 * h // 8),
                                 max(3 * w // 8 + 1, 5 * w // 8))).numpy()
        what = "the centre of the restored image"
    noun = "logit" if subject.kind == "segment" else "value"
    return Target(region_score(torch.from_numpy(region), channel), region,
                  f"mean {noun} of channel {channel} over {what} ({int(region.sum())} pixels)")


def heads_for(subject: Subject, config: ExplainConfig, images: list[np.ndarray], x: torch.Tensor,
              model) -> list[Target]:
    """One :class:`Target` per image (every target is checked before anything is written)."""
    kind, value = parse_target(config.target)
    with torch.no_grad():
        outputs = model(x)
    if subject.kind != "classify":
        return [_region_target(subject, config, im, outputs[i:i + 1]) for i, im in enumerate(images)]
    if kind in ("box", "mask"):
        raise PixelwiseError(f"--target {config.target} names a region, but a classify run outputs classes; use "
                             "predicted or class:K.")
    classes = outputs.shape[1]
    if kind == "class" and value >= classes:
        raise PixelwiseError(f"--target class:{value} does not exist: the run has {classes} classes (0 to "
                             f"{classes - 1}).")
    targets = []
    for i in range(len(images)):
        k = value if kind == "class" else int(outputs[i].argmax())
        p = float(torch.softmax(outputs[i], 0)[k])
        targets.append(Target(class_score(k), None, f"the logit of class {k} (probability {p:.3f})"))
    return targets

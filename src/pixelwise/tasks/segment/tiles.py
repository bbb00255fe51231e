"""Sliding-window inference of segmentation runs (:class:`~pixelwise.models.tiling.Tiles`: ``--tile --overlap
--tile-batch``), checked against the network and the images before anything is read or written."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from torch import nn

from pixelwise.data.geometry import placement
from pixelwise.errors import PixelwiseError
from pixelwise.models.tiling import Tiles
from pixelwise.models.unet import valid_input_for_output
from pixelwise.tasks.segment.config import SegmentationConfig
from pixelwise.tasks.segment.models import ValidPadded


def minimum_tile(config: SegmentationConfig) -> int:
    """The smallest window the run's network takes: one pixel at a U-Net's or FCN's deepest level (2^depth), one
    patch of a ViT."""
    if config.model == "vit":
        return config.patch_size
    if config.model in ("unet", "fcn"):
        return 2 ** (config.depth if config.model == "unet" else min(config.depth, 4))
    return 1


def window(model: nn.Module, config: SegmentationConfig, tile: int
           ) -> tuple[int, tuple[int, int], Callable[[nn.Module], nn.Module]]:
    """``(window, margin, network)``: the window the network predicts, the context around it, and which module
    maps a tile with its context to the window's scores. A valid-padding U-Net predicts the valid output size
    at or above ``tile`` (the size planner of :func:`~pixelwise.models.unet.valid_input_for_output`) from the
    image's own pixels around it; other networks predict the tile itself."""
    low = minimum_tile(config)
    if tile < low:
        raise PixelwiseError(f"--tile {tile} is smaller than the smallest window this {config.model} takes, {low} "
                             f"pixels; use --tile {low} or more.")
    inner = getattr(model, "eager", model)  # a CompiledInference wraps the folded model
    if isinstance(inner, ValidPadded):
        size_in, size_out = valid_input_for_output(tile, inner.net.depth)
        c = (size_in - size_out) // 2
        return size_out, (c, c), lambda _: inner.net
    return tile, (0, 0), lambda m: m


def check_sizes(config: SegmentationConfig, model: nn.Module, tiles: Tiles,
                images: Iterable[tuple[str, tuple[int, int]]]) -> None:
    """Refuse a window larger than one of the ``images`` (name, (height, width)) as the network sees them (after
    ``--resize``), before any of them is read."""
    if tiles.tile is None:
        return
    side, _, _ = window(model, config, tiles.tile)
    for name, (h, w) in images:
        ch, cw = placement(h, w, config.size, config.resize).canvas
        if side > min(ch, cw):
            seen = f" ({ch}x{cw} after --resize {config.resize} at size {config.size})" if (ch, cw) != (h, w) else ""
            grown = f", which the valid-padding U-Net needs for --tile {tiles.tile}" if side != tiles.tile else ""
            raise PixelwiseError(f"a window of {side} pixels{grown} is larger than {name}, {h}x{w}{seen}; use a "
                                 f"--tile below {min(ch, cw) + 1}, or leave --tile out.")

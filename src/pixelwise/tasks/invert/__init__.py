"""Gradient inversion against a trained run (``pixelwise invert``): recover a batch of its training images from
the one gradient a client would share (plain, or DP-SGD's), and measure the recovery by PSNR and SSIM.

Files: ``config`` (the settings), ``recipe`` (``run``). Names load on first use."""

from pixelwise.lazy import lazy_exports

_EXPORTS = {"InvertConfig": "config", "run": "recipe"}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)

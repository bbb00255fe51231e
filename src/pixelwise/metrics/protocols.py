"""Scoring protocols of image restoration: how the published tables compute PSNR and SSIM.

- ``denoise`` (the DnCNN / BM3D tables): the output clipped to [0, 1] and rounded to 8 bits; PSNR with peak 255
  on the 8-bit values, SSIM likewise, no border crop.
- ``sr`` (the SRCNN / VDSR tables): PSNR / SSIM on the Y channel (ITU-R BT.601, MATLAB ``rgb2ycbcr``) after
  shaving ``scale`` pixels from each border; the output clipped to [0, 1], not rounded.
- ``plain``: PSNR / SSIM with data range 1 on the output clipped to [0, 1], the whole image.
"""

from __future__ import annotations

import torch

from pixelwise.errors import PixelwiseError
from pixelwise.metrics.image import psnr, psnr_y, ssim, ssim_y

PROTOCOLS = ("plain", "denoise", "sr")


def score(prediction: torch.Tensor, truth: torch.Tensor, protocol: str, scale: int = 1) -> dict:
    """PSNR / SSIM of one ``(1, C, H, W)`` or ``(C, H, W)`` image under ``protocol`` (see the module doc)."""
    pred = prediction.detach().double().reshape(truth.shape[-3:]).clamp(0, 1)
    t = truth.detach().double().reshape(truth.shape[-3:])
    if protocol == "denoise":
        p8, t8 = (pred * 255).round(), (t * 255).round()
        return {"psnr": psnr(p8, t8, 255.0), "ssim": ssim(p8, t8, 255.0)}
    if protocol == "sr":
        return {"psnr": psnr_y(pred, t, 1.0, shave=scale), "ssim": ssim_y(pred, t, 1.0, shave=scale)}
    if protocol == "plain":
        return {"psnr": psnr(pred, t, 1.0), "ssim": ssim(pred, t, 1.0)}
    raise PixelwiseError(f"protocol {protocol!r} is not known; use one of {', '.join(PROTOCOLS)}.")

"""Metrics: per-case functions returning plain numbers, and aggregators."""

from pixelwise.metrics.aggregate import aggregate, bootstrap_interval, paired_summaries, summarise
from pixelwise.metrics.image import psnr, psnr_y, rgb_to_y, ssim, ssim_y
from pixelwise.metrics.protocols import PROTOCOLS, score
from pixelwise.metrics.segmentation import (
    CATEGORIES,
    category,
    confusion,
    multiclass_case,
    segmentation_case,
    surface_distances,
)
from pixelwise.metrics.size_bins import size_bins, size_breakdown

__all__ = ["CATEGORIES", "PROTOCOLS", "aggregate", "bootstrap_interval", "category", "confusion", "multiclass_case",
           "paired_summaries", "psnr", "psnr_y", "rgb_to_y", "score", "segmentation_case", "size_bins",
           "size_breakdown", "ssim", "ssim_y", "summarise", "surface_distances"]

"""Metrics: per-case functions returning plain numbers, and aggregators."""

from pixelwise.metrics.aggregate import aggregate, bootstrap_interval, summarise
from pixelwise.metrics.segmentation import (
    CATEGORIES,
    category,
    confusion,
    multiclass_case,
    segmentation_case,
    surface_distances,
)

__all__ = ["CATEGORIES", "aggregate", "bootstrap_interval", "category", "confusion", "multiclass_case",
           "segmentation_case", "summarise", "surface_distances"]

"""Classical segmentation on numpy arrays (layer 0: numpy and scipy only): channels and colour transforms,
Otsu and multi-level Otsu thresholds, adaptive thresholds, region growing from seeds, marker-based watershed on
the gradient, and morphological clean-up. ``pixelwise segment baseline`` turns them into a scored run folder."""

from pixelwise.classical.colour import CHANNELS, channel, hsv, lab, luma
from pixelwise.classical.morphology import (
    clean_up,
    closing,
    dilate,
    disk,
    erode,
    field_of_view,
    fill_holes,
    largest_component,
    opening,
)
from pixelwise.classical.region import automatic_seed, check_seeds, grow_region
from pixelwise.classical.threshold import (
    adaptive_threshold,
    classify,
    histogram,
    multi_otsu_thresholds,
    otsu_threshold,
)
from pixelwise.classical.watershed import gradient_magnitude, watershed

__all__ = ["CHANNELS", "adaptive_threshold", "automatic_seed", "channel", "check_seeds", "classify", "clean_up",
           "closing", "dilate", "disk", "erode", "field_of_view", "fill_holes", "gradient_magnitude", "grow_region",
           "histogram", "hsv", "lab", "largest_component", "luma", "multi_otsu_thresholds", "opening",
           "otsu_threshold", "watershed"]

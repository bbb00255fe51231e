"""Two ways a segmentation score misleads, built from masks whose metrics can be worked out by hand.

1. Size. A square of side s against the same square moved by d pixels along a row overlaps in s (s - d)
   pixels, so Dice = 2 s (s - d) / (2 s^2) = (s - d) / s: a one-pixel shift costs a 4-pixel square a quarter of
   its Dice (0.75) and a 40-pixel square a fortieth (0.975). The same boundary error, ten times the penalty.
2. Annotation noise. A few stray truth pixels far from the structure (a slip of the annotator's pen) set the
   Hausdorff distance, the largest boundary distance, to their distance from it; the 95th percentile HD95 does
   not move while they are fewer than 5% of the truth's boundary pixels, and Dice hardly moves.
"""

from __future__ import annotations

import numpy as np

from pixelwise.metrics.segmentation import segmentation_case


def square(image: int, side: int, top: int, left: int) -> np.ndarray:
    """A boolean image x image mask holding one side x side square with its top-left pixel at (top, left)."""
    mask = np.zeros((image, image), dtype=bool)
    mask[top:top + side, left:left + side] = True
    return mask


def boundary_shift(side: int, shift: int = 1, image: int | None = None) -> dict:
    """The metrics (:func:`~pixelwise.metrics.segmentation_case`) of a side x side square predicted ``shift``
    pixels to the right of its truth, in an image with room around both; Dice is (side - shift) / side."""
    if not 0 <= shift < side:
        raise ValueError(f"shift={shift} must lie in 0..side-1 (side={side}).")
    n = image or side + 2 * shift + 4
    top = (n - side) // 2
    truth = square(n, side, top, top - shift // 2)
    return segmentation_case(np.roll(truth, shift, axis=1), truth)


def annotation_noise(side: int = 20, image: int = 100, stray: int = 3, distance: int = 40) -> dict:
    """The metrics of a prediction equal to a side x side square against a truth that is the same square plus
    ``stray`` single pixels ``distance`` pixels to the right of its right edge (one row apart). HD is then
    ``distance`` (each stray pixel's distance to the square's boundary), HD95 0 while the stray pixels are fewer
    than 5% of the truth's boundary pixels (4 side - 4 of the square, plus the strays)."""
    top = (image - side) // 2
    pred = square(image, side, top, top)
    truth = pred.copy()
    column = top + side - 1 + distance
    if column >= image or stray > side:
        raise ValueError(f"distance={distance} and stray={stray} do not fit a {image} x {image} image with a "
                         f"{side}-pixel square; give a larger image.")
    truth[top:top + 2 * stray:2, column] = True  # every other row, so that each stray pixel is its own component
    return segmentation_case(pred, truth)

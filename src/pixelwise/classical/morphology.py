"""Binary morphology for cleaning up a mask: opening, closing, hole filling, the largest component.

Border rule: outside the image counts as foreground for an erosion and as background for a dilation (scikit-
image's ``binary_erosion`` / ``binary_dilation``), so an object touching the image edge is not eaten from the edge
by an opening, and a closing does not glue it to the edge. Components are 8-connected, holes are background
components that do not touch the border (4-connected background: the complement of 8-connected foreground).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

EIGHT = np.ones((3, 3), dtype=bool)


def disk(radius: int) -> np.ndarray:
    """The (2r+1) x (2r+1) structuring element {(i, j): i^2 + j^2 <= r^2}; radius 0 is the single pixel."""
    if isinstance(radius, bool) or int(radius) != radius or radius < 0:
        raise ValueError(f"radius={radius} must be a whole number >= 0.")
    r = int(radius)
    i, j = np.mgrid[-r:r + 1, -r:r + 1]
    return i * i + j * j <= r * r


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    m = np.asarray(mask, bool)
    return m.copy() if radius == 0 else ndimage.binary_erosion(m, disk(radius), border_value=1)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    m = np.asarray(mask, bool)
    return m.copy() if radius == 0 else ndimage.binary_dilation(m, disk(radius), border_value=0)


def opening(mask: np.ndarray, radius: int) -> np.ndarray:
    """Erosion then dilation by a disk: removes specks and necks thinner than the disk."""
    return dilate(erode(mask, radius), radius)


def closing(mask: np.ndarray, radius: int) -> np.ndarray:
    """Dilation then erosion by a disk: closes gaps and bays narrower than the disk."""
    return erode(dilate(mask, radius), radius)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with every background region that does not reach the image border set to foreground."""
    return ndimage.binary_fill_holes(np.asarray(mask, bool))


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component (the first in raster order among equals); empty stays empty."""
    labels, n = ndimage.label(np.asarray(mask, bool), structure=EIGHT)
    if n == 0:
        return np.zeros(labels.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())[1:]
    return labels == int(np.argmax(sizes)) + 1


def clean_up(mask: np.ndarray, open_radius: int = 0, close_radius: int = 0, holes: bool = False,
             largest: bool = False) -> np.ndarray:
    """Opening, then closing, then hole filling, then the largest component, each only when asked for."""
    out = np.asarray(mask, bool)
    if open_radius:
        out = opening(out, open_radius)
    if close_radius:
        out = closing(out, close_radius)
    if holes:
        out = fill_holes(out)
    if largest:
        out = largest_component(out)
    return out


def field_of_view(grey: np.ndarray, dark: float = 0.1, margin: int = 2) -> np.ndarray:
    """The picture inside a dark frame (the black surround of endoscopy and fundus images, and the text boxes on
    it): every pixel except the dark ones (``grey < dark``) 4-connected to the image border, eroded by ``margin``
    pixels. An image that is dark all over is all field of view."""
    outside = np.asarray(grey) < dark
    labels, _ = ndimage.label(outside)
    rim = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    frame = np.isin(labels, rim[rim > 0])
    fov = erode(~frame, margin)
    return fov if fov.any() else np.ones(frame.shape, dtype=bool)

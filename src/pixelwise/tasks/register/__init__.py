"""Image registration (``pixelwise register FIXED MOVING``): the transform that carries the moving image onto the
fixed one, rigid, affine or dense deformable, for any similarity measure of :mod:`pixelwise.registration`.

Files: ``config`` (the settings), ``recipe`` (``run``: read and check both images, register, write the warped
image, the transform, the scores before and after, the inverse consistency and a figure). Names load on first
use, so that the command line reads the config without torch.
"""

from pixelwise.lazy import lazy_exports

_EXPORTS = {"RegisterConfig": "config", "run": "recipe", "read_pair": "recipe", "pixel_matrix": "recipe"}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)

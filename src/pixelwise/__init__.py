"""pixelwise: convolutional image-to-image deep learning.

Segmentation, image restoration as inverse problems, latent generative models, and the tools to
reason about the networks themselves. See the README for the command line and ``DESIGN.md`` of the
project for the layers: ``models``/``losses``/``metrics``/``physics``/``arch`` are pure tensor maths;
``data``/``train``/``report``/``solvers`` are machinery; ``tasks`` are recipes; ``cli`` is the interface.
"""

from pixelwise.errors import PixelwiseError

__version__ = "0.1.0"
__all__ = ["PixelwiseError", "__version__"]

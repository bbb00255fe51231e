"""Forward operators for inverse problems (layer 0: torch only).

Every operator is a :class:`LinearOperator` with ``A``, an exact ``A_adjoint``, ``normal``, ``norm``
(power iteration), composition ``A @ B``, a ``naive`` baseline reconstruction, and
``forward(x) = noise(A(x))``. ``OPERATORS`` is the one explicit name -> class map.
"""

from pixelwise.errors import PixelwiseError
from pixelwise.physics.base import Composition, Identity, LinearOperator, inner, power_iteration
from pixelwise.physics.blur import (
    Blur,
    box_kernel,
    box_kernel_1d,
    gaussian_kernel,
    gaussian_kernel_1d,
    motion_kernel,
)
from pixelwise.physics.conv import Conv, ConvTranspose
from pixelwise.physics.ct import Radon, radon_matrix, views
from pixelwise.physics.gradient import Gradient, grad, grad_adjoint, laplacian_multiplier
from pixelwise.physics.inpainting import Inpainting, random_mask
from pixelwise.physics.mri import MRI, cartesian_mask, kspace_magnitude
from pixelwise.physics.noise import GaussianNoise, NoiseModel, NoNoise, PoissonNoise
from pixelwise.physics.resize import AveragePool, BicubicDownsample, imresize, resize_matrix
from pixelwise.physics.wavelets import WAVELET_NAMES, Wavelet, daubechies_filter, max_level, wavelet_filters

# name -> operator class (the command line's --operator names first)
OPERATORS = {
    "denoise": Identity,
    "downsample": AveragePool,
    "bicubic": BicubicDownsample,
    "blur": Blur,
    "inpaint": Inpainting,
    "mri": MRI,
    "ct": Radon,
    "conv": Conv,
    "conv_transpose": ConvTranspose,
    "gradient": Gradient,
    "wavelet": Wavelet,
}


def operator_class(name: str) -> type[LinearOperator]:
    """The class registered under ``name``; an unknown name raises with the list of valid ones."""
    try:
        return OPERATORS[name]
    except KeyError:
        raise PixelwiseError(f"unknown operator {name!r}; choose one of {', '.join(OPERATORS)}.") from None


__all__ = [
    "MRI",
    "OPERATORS",
    "AveragePool",
    "BicubicDownsample",
    "Blur",
    "Composition",
    "Conv",
    "ConvTranspose",
    "GaussianNoise",
    "Gradient",
    "Identity",
    "Inpainting",
    "LinearOperator",
    "NoNoise",
    "NoiseModel",
    "PoissonNoise",
    "Radon",
    "WAVELET_NAMES",
    "Wavelet",
    "box_kernel",
    "box_kernel_1d",
    "cartesian_mask",
    "daubechies_filter",
    "gaussian_kernel",
    "gaussian_kernel_1d",
    "grad",
    "grad_adjoint",
    "imresize",
    "inner",
    "kspace_magnitude",
    "laplacian_multiplier",
    "max_level",
    "motion_kernel",
    "operator_class",
    "power_iteration",
    "radon_matrix",
    "random_mask",
    "resize_matrix",
    "views",
    "wavelet_filters",
]

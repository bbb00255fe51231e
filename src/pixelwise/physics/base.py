"""The linear forward-operator contract: ``A``, ``A_adjoint``, ``normal``, ``forward = noise(A(x))``.

Images are real tensors ``(N, C, H, W)``. A measurement has whatever shape the operator documents
(same size for blur/inpainting, smaller for down-sampling, ``(N, C, H, W, 2)`` k-space for MRI,
``(N, C, views, detectors)`` sinograms for CT). Inner products are real: ``<a, b> = sum(a * b)``,
which is what makes ``A_adjoint`` the adjoint of ``A`` for every operator here, including MRI whose
complex k-space is stored as two real numbers.

Operators hold their parameters (kernels, masks) as float64 or float32 tensors and cast them to the
dtype of the input at each call, so the same operator runs in float32 for speed and in float64 for the
adjoint tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch

from pixelwise.errors import PixelwiseError
from pixelwise.physics.noise import NoiseModel, NoNoise


def inner(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Real inner product ``<a, b> = sum(a * b)`` over all entries (a 0-d tensor)."""
    return (a * b).sum()


class LinearOperator:
    """A linear map ``A`` with its exact adjoint, and a noise model for simulated measurements.

    Subclasses implement ``A`` and ``A_adjoint``; the rest is derived:

    - ``normal(x) = A^T A x`` (overridden where a cheaper formula exists),
    - ``forward(x, generator) = noise(A x)`` (the simulated measurement),
    - ``norm(shape)`` = ``||A||_2`` by power iteration on ``A^T A``,
    - ``A @ B`` composition (apply ``B`` first),
    - ``naive(y)``: the classical baseline reconstruction a solver must beat (adjoint, zero-filled,
      bicubic, FBP, or the measurement itself),
    - ``fourier_multiplier(size)``: the eigenvalues of ``A^T A`` in the 2-D DFT basis when ``A^T A`` is
      circulant (``None`` otherwise); solvers use it for exact FFT solutions.

    ``nonnegative`` says every entry of A is >= 0, so that the absolute row and column sums are ``A 1`` and
    ``A^T 1`` (the diagonal steps of a preconditioned primal-dual solver, :func:`pixelwise.solvers.tv.tv_pdhg`).
    """

    nonnegative: bool = False

    def __init__(self, noise: NoiseModel | None = None):
        self.noise = noise if noise is not None else NoNoise()

    # --- the two methods a subclass must provide -------------------------------------------------
    def A(self, x: torch.Tensor) -> torch.Tensor:  # noqa: N802 - the maths name
        raise NotImplementedError

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:  # noqa: N802
        raise NotImplementedError

    # --- derived ------------------------------------------------------------------------------
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.A(x)

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        """``A^T A x``."""
        return self.A_adjoint(self.A(x))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A simulated measurement ``noise(A x)``; the noise draws from ``generator``."""
        return self.noise(self.A(x), generator=generator)

    def A_dagger(self, y: torch.Tensor) -> torch.Tensor:  # noqa: N802
        """The pseudo-inverse, where it has a cheap closed form (subclasses say so)."""
        raise NotImplementedError(
            f"{type(self).__name__} has no cheap pseudo-inverse; use pixelwise.solvers.least_squares_cg."
        )

    def naive(self, y: torch.Tensor) -> torch.Tensor:
        """The classical one-step reconstruction (the baseline): here the adjoint ``A^T y``."""
        return self.A_adjoint(y)

    def fourier_multiplier(self, size: Sequence[int]) -> torch.Tensor | None:
        """Eigenvalues ``(H, W)`` of ``A^T A`` in the 2-D DFT basis if ``A^T A`` is circulant, else None."""
        return None

    def output_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        """The measurement shape for an input of ``shape`` (computed by applying ``A`` to zeros)."""
        return tuple(self.A(torch.zeros(tuple(shape))).shape)

    def norm(
        self,
        shape: Sequence[int],
        iterations: int = 100,
        tol: float = 1e-6,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> float:
        """``||A||_2``, the largest singular value: exact from ``fourier_multiplier`` when ``A^T A`` is
        circulant, else by :func:`power_iteration` (see there for the arguments)."""
        multiplier = self.fourier_multiplier(shape)
        if multiplier is not None:
            return float(multiplier.max()) ** 0.5
        return power_iteration(self, shape, iterations, tol, generator, dtype)

    def __matmul__(self, other: LinearOperator) -> LinearOperator:
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return Composition(self, other)


def power_iteration(
    op: LinearOperator,
    shape: Sequence[int],
    iterations: int = 100,
    tol: float = 1e-6,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> float:
    """``||A||_2`` by power iteration on ``A^T A`` (von Mises): ``x <- A^T A x / ||A^T A x||``.

    Starts from a Gaussian vector drawn from ``generator`` (pass one for reproducible numbers) and stops
    when the Rayleigh quotient changes by less than ``tol`` (relative) or after ``iterations``. Denormal
    floats are flushed to zero meanwhile: repeated smoothing drives high frequencies into the denormal
    range, where CPU arithmetic (FFTs in particular) becomes a hundred times slower.
    """
    if iterations < 1:
        raise PixelwiseError(f"iterations={iterations} must be >= 1.")
    x = torch.randn(tuple(shape), generator=generator, dtype=dtype)
    x = x / x.norm()
    value = 0.0
    with flush_denormals():
        for _ in range(iterations):
            z = op.normal(x)  # z = A^T A x
            new_value = float(inner(x, z))  # Rayleigh quotient, x has unit norm
            z_norm = float(z.norm())
            if z_norm == 0.0:
                return 0.0
            x = z / z_norm
            converged = abs(new_value - value) <= tol * abs(new_value)
            value = new_value
            if converged:
                break
    return max(value, 0.0) ** 0.5


@contextlib.contextmanager
def flush_denormals():
    """Treat denormal floats as zero inside the block (CPU), then switch back to torch's default (off).

    Iterations that keep applying a smoothing operator (power iteration, CG near convergence) push the
    high frequencies into the denormal range, where arithmetic and FFTs slow down a hundredfold.
    """
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


class Composition(LinearOperator):
    """``(outer @ inner)(x) = outer(inner(x))``; adjoint ``inner^T(outer^T(y))``; noise of ``outer``."""

    def __init__(self, outer: LinearOperator, inner_op: LinearOperator):
        super().__init__(outer.noise)
        self.outer = outer
        self.inner = inner_op

    def A(self, x):  # noqa: N802
        return self.outer.A(self.inner.A(x))

    def A_adjoint(self, y):  # noqa: N802
        return self.inner.A_adjoint(self.outer.A_adjoint(y))


class Identity(LinearOperator):
    """Denoising: ``A = I`` (the measurement is the noisy image). Shapes: ``(N, C, H, W)`` both ways."""

    def A(self, x):  # noqa: N802
        return x

    def A_adjoint(self, y):  # noqa: N802
        return y

    def normal(self, x):
        return x

    def A_dagger(self, y):  # noqa: N802
        return y

    def naive(self, y):
        return y

    def fourier_multiplier(self, size):
        return torch.ones(tuple(size[-2:]), dtype=torch.float64)


def check_image(x: torch.Tensor, who: str) -> None:
    """Raise a one-sentence error unless ``x`` is a real ``(N, C, H, W)`` tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who} expects a torch.Tensor, got {type(x).__name__}.")
    if x.dim() != 4:
        raise PixelwiseError(
            f"{who} expects an (N, C, H, W) tensor, got shape {tuple(x.shape)}; "
            "add batch/channel axes with x[None, None]."
        )

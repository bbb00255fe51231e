"""Convolution and transposed convolution layers as linear operators (bias-free).

``Conv(weight)`` is ``F.conv2d`` with a fixed weight ``(C_out, C_in, kh, kw)``; its adjoint is
``F.conv_transpose2d`` with the same weight, stride, padding and dilation, and
``ConvTranspose(weight)`` is the reverse pair. The tests check <A x, y> = <x, A^T y> for both, and that
``Conv(w).A_adjoint`` and ``ConvTranspose(w).A`` are the same map: "transposed convolution is the
adjoint of convolution" is a checked fact.

Shapes. With stride s, padding p, dilation d and kernel k, a convolution maps H to
``h = floor((H + 2p - d(k - 1) - 1) / s) + 1``. For s > 1 several H give the same h, so the adjoint needs
to know H: pass ``input_size`` (the difference becomes ``output_padding`` of the transposed
convolution); without it the adjoint returns the smallest such H.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from pixelwise.errors import PixelwiseError
from pixelwise.physics.base import LinearOperator, check_image


def _pair(value, name: str, minimum: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any(int(v) != v or v < minimum for v in pair):
        raise PixelwiseError(f"{name} {value} must be a whole number (or pair) >= {minimum}.")
    return int(pair[0]), int(pair[1])


def _check_weight(weight) -> torch.Tensor:
    weight = torch.as_tensor(weight)
    if weight.dim() != 4 or not weight.is_floating_point():
        raise PixelwiseError(
            f"convolution weight must be a float (C_out, C_in, kh, kw) tensor, "
            f"got shape {tuple(weight.shape)}."
        )
    return weight.detach()


class Conv(LinearOperator):
    """``F.conv2d(x, weight, stride, padding, dilation)``: ``(N, C_in, H, W) -> (N, C_out, h, w)``."""

    def __init__(
        self,
        weight: torch.Tensor,
        stride=1,
        padding=0,
        dilation=1,
        input_size: Sequence[int] | None = None,
        noise=None,
    ):
        super().__init__(noise)
        self.weight = _check_weight(weight)
        self.stride = _pair(stride, "stride", 1)
        self.padding = _pair(padding, "padding", 0)
        self.dilation = _pair(dilation, "dilation", 1)
        self.input_size = tuple(int(v) for v in input_size) if input_size is not None else None

    def _out_len(self, n: int, axis: int) -> int:
        k = self.weight.shape[2 + axis]
        return (n + 2 * self.padding[axis] - self.dilation[axis] * (k - 1) - 1) // self.stride[axis] + 1

    def A(self, x):  # noqa: N802
        check_image(x, "Conv")
        if x.shape[1] != self.weight.shape[1]:
            raise PixelwiseError(f"Conv expects {self.weight.shape[1]} input channels, got {x.shape[1]}.")
        if self.input_size is not None and tuple(x.shape[-2:]) != self.input_size:
            raise PixelwiseError(
                f"image {tuple(x.shape[-2:])} does not match the operator's input_size {self.input_size}."
            )
        if min(self._out_len(x.shape[-2], 0), self._out_len(x.shape[-1], 1)) < 1:
            raise PixelwiseError(
                f"image {tuple(x.shape[-2:])} is smaller than the dilated kernel; pad it or "
                "use a smaller kernel."
            )
        return F.conv2d(
            x, self.weight.to(device=x.device, dtype=x.dtype), stride=self.stride, padding=self.padding,
            dilation=self.dilation,
        )

    def A_adjoint(self, y):  # noqa: N802
        check_image(y, "Conv.A_adjoint")
        extra = [0, 0]
        if self.input_size is not None:
            for axis in (0, 1):
                k = self.weight.shape[2 + axis]
                smallest = (
                    (y.shape[2 + axis] - 1) * self.stride[axis]
                    - 2 * self.padding[axis]
                    + self.dilation[axis] * (k - 1)
                    + 1
                )
                extra[axis] = self.input_size[axis] - smallest  # rows the strided convolution never reached
                if not 0 <= extra[axis] < max(self.stride[axis], self.dilation[axis]):
                    raise PixelwiseError(
                        f"measurement {tuple(y.shape[-2:])} does not come from an input of "
                        f"size {self.input_size}."
                    )
        return F.conv_transpose2d(
            y,
            self.weight.to(device=y.device, dtype=y.dtype),
            stride=self.stride,
            padding=self.padding,
            output_padding=tuple(extra),
            dilation=self.dilation,
        )


class ConvTranspose(LinearOperator):
    """``F.conv_transpose2d``: ``(N, C_in, H, W) -> (N, C_out, h, w)`` with weight ``(C_in, C_out, kh, kw)``.

    Output ``h = (H - 1) s - 2p + d(k - 1) + output_padding + 1``. The adjoint is ``F.conv2d``.
    """

    def __init__(self, weight: torch.Tensor, stride=1, padding=0, dilation=1, output_padding=0, noise=None):
        super().__init__(noise)
        self.weight = _check_weight(weight)
        self.stride = _pair(stride, "stride", 1)
        self.padding = _pair(padding, "padding", 0)
        self.dilation = _pair(dilation, "dilation", 1)
        self.output_padding = _pair(output_padding, "output_padding", 0)
        if any(op >= max(s, d) for op, s, d in zip(self.output_padding, self.stride, self.dilation)):
            raise PixelwiseError(
                f"output_padding {output_padding} must be smaller than the stride or dilation."
            )

    def A(self, x):  # noqa: N802
        check_image(x, "ConvTranspose")
        if x.shape[1] != self.weight.shape[0]:
            raise PixelwiseError(
                f"ConvTranspose expects {self.weight.shape[0]} input channels, got {x.shape[1]}."
            )
        return F.conv_transpose2d(
            x,
            self.weight.to(device=x.device, dtype=x.dtype),
            stride=self.stride,
            padding=self.padding,
            output_padding=self.output_padding,
            dilation=self.dilation,
        )

    def A_adjoint(self, y):  # noqa: N802
        check_image(y, "ConvTranspose.A_adjoint")
        return F.conv2d(
            y, self.weight.to(device=y.device, dtype=y.dtype), stride=self.stride, padding=self.padding,
            dilation=self.dilation,
        )

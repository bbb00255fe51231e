"""A patchwise MLP is a convolutional network in disguise.

:class:`PatchMLP` applies one multilayer perceptron, with the same weights everywhere, to every valid
k x k patch of the image (stride 1, no padding), so (N, C, H, W) -> (N, C_out, H - k + 1, W - k + 1).
Its first layer reads the patch as a vector; a k x k convolution whose filters are the rows of W1 does the
same at every position, and the later layers act on one position at a time, like 1 x 1 convolutions
(the "fully connected layers are convolutions" view of Long, Shelhamer and Darrell, CVPR 2015).
:meth:`PatchMLP.to_conv` and :meth:`PatchMLP.from_conv` convert between the two with equal outputs.

Vectorisation order of a patch (``F.unfold``'s order): channel slowest, then row, then column, i.e.
the patch at (i, j) is ``x[:, :, i:i+k, j:j+k].reshape(N, C * k * k)`` and entry c k^2 + a k + b holds
x[c, i + a, j + b]. So W1 (h1, C k^2) reshapes to the conv weight (h1, C, k, k) without any permutation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from pixelwise.errors import PixelwiseError

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "silu": nn.SiLU,
               "identity": nn.Identity}


def _activation_name(module: nn.Module) -> str | None:
    for name, cls in ACTIVATIONS.items():
        if type(module) is cls:
            return name
    return None


class PatchMLP(nn.Module):
    """One MLP on every k x k patch: (N, C, H, W) -> (N, out_channels, H - k + 1, W - k + 1).

    Args:
        k: patch size (odd or even); in_channels: C; hidden_sizes: widths of the hidden layers (may be empty);
        out_channels: outputs per patch; activation: one of ``ACTIVATIONS`` between the layers.
    """

    def __init__(self, k: int, hidden_sizes: Sequence[int], out_channels: int, activation: str = "relu",
                 in_channels: int = 1):
        super().__init__()
        hidden_sizes = list(hidden_sizes)
        if k < 1 or in_channels < 1 or out_channels < 1 or any(h < 1 for h in hidden_sizes):
            raise PixelwiseError(f"PatchMLP needs positive sizes, got k={k}, in_channels={in_channels}, "
                                 f"hidden_sizes={hidden_sizes}, out_channels={out_channels}.")
        if activation not in ACTIVATIONS:
            raise PixelwiseError(f"activation={activation!r} is not known; use one of "
                                 f"{', '.join(ACTIVATIONS)}.")
        self.k, self.in_channels, self.activation = k, in_channels, activation
        sizes = [in_channels * k * k, *hidden_sizes, out_channels]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C_out, H - k + 1, W - k + 1)."""
        n, c, h, w = x.shape
        if c != self.in_channels or h < self.k or w < self.k:
            raise PixelwiseError(f"input {tuple(x.shape)} needs {self.in_channels} channels and sides "
                                 f">= k={self.k}.")
        ho, wo = h - self.k + 1, w - self.k + 1
        patches = F.unfold(x, self.k)  # (N, C k k, L), L = ho * wo, patch vector in (c, a, b) order
        z = patches.transpose(1, 2)  # (N, L, C k k)
        for i, layer in enumerate(self.layers):
            z = layer(z)
            if i < len(self.layers) - 1:
                z = self.act(z)
        return z.transpose(1, 2).reshape(n, -1, ho, wo)  # (N, L, C_out) -> (N, C_out, ho, wo)

    def to_conv(self) -> nn.Sequential:
        """The equivalent convnet: a k x k conv (filters = rows of W1), then 1 x 1 convs, activations between.

        Output equal to ``self(x)`` up to float rounding; see :meth:`from_conv` for the reverse.
        """
        modules: list[nn.Module] = []
        for i, layer in enumerate(self.layers):
            if i == 0:
                conv = nn.Conv2d(self.in_channels, layer.out_features, self.k)
                weight = layer.weight.detach().reshape(layer.out_features, self.in_channels, self.k, self.k)
            else:
                conv = nn.Conv2d(layer.in_features, layer.out_features, 1)
                weight = layer.weight.detach()[:, :, None, None]  # (out, in) -> (out, in, 1, 1)
            with torch.no_grad():
                conv.weight.copy_(weight)
                conv.bias.copy_(layer.bias.detach())
            modules.append(conv)
            if i < len(self.layers) - 1:
                modules.append(ACTIVATIONS[self.activation]())
        return nn.Sequential(*modules)

    @classmethod
    def from_conv(cls, net: nn.Sequential) -> PatchMLP:
        """The reverse of :meth:`to_conv`: a k x k conv, then 1 x 1 convs, one kind of activation between."""
        convs = [m for m in net if isinstance(m, nn.Conv2d)]
        others = [m for m in net if not isinstance(m, nn.Conv2d)]
        if not convs or not isinstance(net[0], nn.Conv2d) or not isinstance(net[-1], nn.Conv2d):
            raise PixelwiseError("from_conv needs an nn.Sequential that starts and ends with nn.Conv2d.")
        names = {_activation_name(m) for m in others}
        if len(others) != len(convs) - 1 or None in names or len(names) > 1:
            raise PixelwiseError("from_conv needs exactly one activation (all of one kind in ACTIVATIONS) "
                                 "between consecutive convolutions.")
        for i, conv in enumerate(convs):
            k = conv.kernel_size
            plain = (conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
                     and conv.padding in ((0, 0), "valid") and conv.bias is not None and k[0] == k[1])
            if not plain or (i > 0 and k != (1, 1)):
                raise PixelwiseError(f"convolution {i} must have a bias, stride 1, no padding, dilation 1, "
                                     "one group and a square kernel, and all but the first must be 1 x 1.")
        first = convs[0]
        mlp = cls(first.kernel_size[0], [c.out_channels for c in convs[:-1]], convs[-1].out_channels,
                  names.pop() if names else "identity", first.in_channels)
        with torch.no_grad():
            for layer, conv in zip(mlp.layers, convs):
                # (out, C, k, k) -> (out, C k k) in the (c, a, b) patch order
                layer.weight.copy_(conv.weight.reshape(conv.out_channels, -1))
                layer.bias.copy_(conv.bias)
        return mlp

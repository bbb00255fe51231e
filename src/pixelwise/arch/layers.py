"""Output sizes and receptive fields of single layers and of chains of layers (pure arithmetic).

Output sizes follow Dumoulin and Visin, "A guide to convolution arithmetic for deep learning" (2016),
with PyTorch's conventions for pooling (``ceil_mode``) and transposed convolutions (``output_padding``).
Receptive fields follow Araujo, Norris and Sim, "Computing Receptive Fields of Convolutional Neural
Networks", Distill (2019): for a chain of layers with kernel K_l, stride S_l and dilation D_l,

    RF_l = RF_{l-1} + (K_l - 1) D_l J_{l-1},    J_l = J_{l-1} S_l   (J_0 = 1, RF_0 = 1),

where the jump J_l is the distance in input pixels between neighbouring outputs of layer l. We also
carry the left edge L_l of the receptive field of output index 0 (L_l = L_{l-1} - P_l J_{l-1}), so that
output index o of layer l sees input pixels L_l + o J_l ... L_l + o J_l + RF_l - 1 and its centre is
L_l + o J_l + (RF_l - 1) / 2. A transposed convolution divides the jump (J_l = J_{l-1} / S_l); its
receptive field is then the hull over the S_l output phases (see :func:`transposed_conv_rf`).

A small layer language describes chains for the command line::

    "conv k=5 s=2; conv k=3; conv k=5 d=2"        # 1D, or 2D with k=3x5 (height x width)
    "conv k=3 p=1; pool k=2; tconv k=2 s=2"

with kinds ``conv``, ``pool`` (stride defaults to the kernel), ``tconv`` and keys ``k`` (kernel),
``s`` (stride), ``p`` (padding), ``d`` (dilation) and ``op`` (output padding of ``tconv``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from torch import nn

from pixelwise.errors import PixelwiseError

LAYER_KINDS = ("conv", "pool", "tconv")
_KEYS = {"k": "kernel", "s": "stride", "p": "padding", "d": "dilation", "op": "output_padding"}


# ---------------------------------------------------------------------------------------------------
# Output sizes, one function per layer kind
# ---------------------------------------------------------------------------------------------------

def _check_positive(**values) -> None:
    for name, v in values.items():
        if int(v) != v or v < 1:
            raise PixelwiseError(f"{name}={v} must be a positive integer.")


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """H_out = floor((H_in + 2P - D(K - 1) - 1) / S) + 1 (Dumoulin and Visin 2016, relationship 15).

    ``padding`` is per side. Raises PixelwiseError when the (dilated) kernel does not fit the padded input.
    Twin of ``nn.Conv{1,2,3}d`` along one axis.
    """
    _check_positive(size=size, kernel=kernel, stride=stride, dilation=dilation)
    if padding < 0:
        raise PixelwiseError(f"padding={padding} must be >= 0.")
    span = dilation * (kernel - 1) + 1
    if size + 2 * padding < span:
        raise PixelwiseError(
            f"input size {size} with padding {padding} is smaller than the dilated kernel span {span}; "
            f"use an input of at least {span - 2 * padding} pixels.")
    return (size + 2 * padding - span) // stride + 1


def pool_output_size(size: int, kernel: int, stride: int | None = None, padding: int = 0, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    """Pooling output size: as :func:`conv_output_size` (stride defaults to the kernel), with ``ceil_mode``.

    With ``ceil_mode`` the division rounds up, but (PyTorch's rule) the last window must start inside the
    input or the left padding. Twin of ``nn.MaxPool{1,2,3}d`` / ``nn.AvgPool{1,2,3}d`` along one axis.
    """
    stride = kernel if stride is None else stride
    _check_positive(size=size, kernel=kernel, stride=stride, dilation=dilation)
    if padding < 0 or 2 * padding > kernel:
        raise PixelwiseError(f"pooling padding={padding} must be between 0 and half the kernel "
                             f"({kernel // 2}).")
    span = dilation * (kernel - 1) + 1
    if size + 2 * padding < span:
        raise PixelwiseError(
            f"input size {size} with padding {padding} is smaller than the pooling window {span}; "
            f"use an input of at least {span - 2 * padding} pixels.")
    if not ceil_mode:
        return (size + 2 * padding - span) // stride + 1
    out = -(-(size + 2 * padding - span) // stride) + 1
    if (out - 1) * stride >= size + padding:  # the last window would start in the right padding
        out -= 1
    return out


def conv_transpose_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                               output_padding: int = 0) -> int:
    """H_out = (H_in - 1) S - 2P + D(K - 1) + output_padding + 1 (twin of ``nn.ConvTranspose{1,2,3}d``).

    ``output_padding`` must be smaller than the stride or the dilation (PyTorch's rule); it picks one of the
    S input sizes that a convolution with stride S maps to the same output size.
    """
    _check_positive(size=size, kernel=kernel, stride=stride, dilation=dilation)
    if padding < 0:
        raise PixelwiseError(f"padding={padding} must be >= 0.")
    if not 0 <= output_padding < max(stride, dilation):
        raise PixelwiseError(
            f"output_padding={output_padding} must be >= 0 and smaller than the stride ({stride}) or the "
            f"dilation ({dilation}).")
    out = (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    if out < 1:
        raise PixelwiseError(f"transposed convolution of size {size} with padding {padding} leaves no "
                             "output; lower the padding.")
    return out


# ---------------------------------------------------------------------------------------------------
# Receptive field along one axis
# ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AxisRF:
    """Receptive field of a feature map along one axis, in input pixels.

    ``size``: extent RF; ``jump``: input pixels between neighbouring outputs; ``left``: input coordinate of
    the first pixel seen by output index 0 (negative when padding is involved). Output index o sees
    ``left + o * jump`` ... ``left + o * jump + size - 1``. Values are exact fractions: after upsampling the
    jump is below 1 and ``size``/``left`` describe the hull over the output phases.
    """

    size: Fraction = Fraction(1)
    jump: Fraction = Fraction(1)
    left: Fraction = Fraction(0)

    @property
    def centre(self) -> Fraction:
        """Input coordinate of the centre of output index 0's receptive field (Araujo et al.'s offset)."""
        return self.left + (self.size - 1) / 2

    def span(self, index: int) -> tuple[Fraction, Fraction]:
        """First and last input coordinate seen by output ``index``."""
        lo = self.left + index * self.jump
        return lo, lo + self.size - 1


def conv_rf(prev: AxisRF, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> AxisRF:
    """Conv or pooling: RF_l = RF_{l-1} + (K-1) D J_{l-1}; J_l = S J_{l-1}; L_l = L_{l-1} - P J_{l-1}."""
    return AxisRF(size=prev.size + (kernel - 1) * dilation * prev.jump, jump=prev.jump * stride,
                  left=prev.left - padding * prev.jump)


def transposed_conv_rf(prev: AxisRF, kernel: int, stride: int = 1, padding: int = 0,
                       dilation: int = 1) -> AxisRF:
    """Transposed convolution: J_l = J_{l-1} / S and the hull over the output phases.

    Output o takes input i with o = i S - P + t D for some tap t, so i lies in [(o + P - (K-1) D) / S,
    (o + P) / S]: RF_l = RF_{l-1} + (K - 1) D J_{l-1} / S and L_l = L_{l-1} + (P - (K - 1) D) J_{l-1} / S.
    This is a bound: one output pixel sees only the taps of its phase (for K = S = 2, exactly RF_{l-1});
    :func:`pixelwise.arch.support.pixel_support` gives the exact support of a single pixel.
    """
    jump = prev.jump / stride
    return AxisRF(size=prev.size + (kernel - 1) * dilation * jump, jump=jump,
                  left=prev.left + (padding - (kernel - 1) * dilation) * jump)


# ---------------------------------------------------------------------------------------------------
# Chains of layers and the layer language
# ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerSpec:
    """One layer of a chain; each geometry field holds one value per spatial axis."""

    kind: str  # "conv", "pool" or "tconv"
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    output_padding: tuple[int, ...]

    @property
    def ndim(self) -> int:
        return len(self.kernel)

    def output_size(self, size: int, axis: int = 0) -> int:
        k, s, p, d = self.kernel[axis], self.stride[axis], self.padding[axis], self.dilation[axis]
        if self.kind == "conv":
            return conv_output_size(size, k, s, p, d)
        if self.kind == "pool":
            return pool_output_size(size, k, s, p, d)
        return conv_transpose_output_size(size, k, s, p, d, self.output_padding[axis])

    def rf(self, prev: AxisRF, axis: int = 0) -> AxisRF:
        k, s, p, d = self.kernel[axis], self.stride[axis], self.padding[axis], self.dilation[axis]
        if self.kind == "tconv":
            return transposed_conv_rf(prev, k, s, p, d)
        return conv_rf(prev, k, s, p, d)

    def describe(self) -> str:
        def fmt(v):
            return "x".join(str(x) for x in v) if len(set(v)) > 1 else str(v[0])

        parts = [self.kind, f"k={fmt(self.kernel)}"]
        for key, field, default in (("s", "stride", 1), ("p", "padding", 0), ("d", "dilation", 1),
                                    ("op", "output_padding", 0)):
            v = getattr(self, field)
            if any(x != default for x in v) or (key == "s" and self.kind == "pool"):
                parts.append(f"{key}={fmt(v)}")
        return " ".join(parts)


def make_layer(kind: str, kernel, stride=None, padding=0, dilation=1, output_padding=0,
               ndim: int = 1) -> LayerSpec:
    """Build a :class:`LayerSpec`, broadcasting single numbers to ``ndim`` axes and checking every value."""
    if kind not in LAYER_KINDS:
        raise PixelwiseError(f"layer kind {kind!r} is not known; use one of {', '.join(LAYER_KINDS)}.")

    def axes(name, v):
        v = tuple(v) if isinstance(v, (tuple, list)) else (v,) * ndim
        if len(v) != ndim:
            raise PixelwiseError(f"{name}={v} has {len(v)} values but the chain is {ndim}D; "
                                 f"give 1 or {ndim}.")
        return tuple(int(x) for x in v)

    kernel = axes("kernel", kernel)
    if stride is None:
        stride = kernel if kind == "pool" else 1
    stride = axes("stride", stride)
    padding, dilation = axes("padding", padding), axes("dilation", dilation)
    output_padding = axes("output_padding", output_padding)
    _check_positive(**{f"kernel[{i}]": v for i, v in enumerate(kernel)},
                    **{f"stride[{i}]": v for i, v in enumerate(stride)},
                    **{f"dilation[{i}]": v for i, v in enumerate(dilation)})
    if any(p < 0 for p in padding):
        raise PixelwiseError(f"padding={padding} must be >= 0.")
    if kind != "tconv" and any(output_padding):
        raise PixelwiseError(f"output_padding (op=) only applies to tconv layers, not {kind}.")
    for op, s, d in zip(output_padding, stride, dilation):
        if not 0 <= op < max(s, d):
            raise PixelwiseError(f"output_padding={op} must be >= 0 and smaller than the stride {s} or "
                                 f"the dilation {d}.")
    return LayerSpec(kind, kernel, stride, padding, dilation, output_padding)


def parse_layers(text: str) -> list[LayerSpec]:
    """Parse the layer language (see the module docstring) into a list of :class:`LayerSpec`.

    The chain is 2D when any value is written ``AxB`` (height x width), otherwise 1D; single numbers are
    used on every axis. Raises PixelwiseError naming the bad token.
    """
    if not text or not text.strip():
        raise PixelwiseError('the layer string is empty; write e.g. "conv k=5 s=2; conv k=3".')
    raw_layers = [chunk.strip() for chunk in text.split(";")]
    parsed, ndim = [], 1
    for position, chunk in enumerate(raw_layers, start=1):
        if not chunk:
            raise PixelwiseError(f"layer {position} is empty; remove the extra ';'.")
        kind, *tokens = chunk.split()
        if kind not in LAYER_KINDS:
            raise PixelwiseError(f"bad token {kind!r} in layer {position}: the kind must be one of "
                                 f"{', '.join(LAYER_KINDS)}.")
        values = {}
        for token in tokens:
            key, sep, value = token.partition("=")
            if not sep or key not in _KEYS:
                raise PixelwiseError(f"bad token {token!r} in layer {position} ({chunk!r}): write key=value "
                                     f"with key one of {', '.join(_KEYS)}.")
            if _KEYS[key] in values:
                raise PixelwiseError(f"bad token {token!r} in layer {position}: {key} is given twice.")
            try:
                numbers = tuple(int(x) for x in value.lower().split("x"))
            except ValueError:
                raise PixelwiseError(f"bad token {token!r} in layer {position}: {key} needs an integer or "
                                     "HxW integers, e.g. k=3 or k=3x5.") from None
            if len(numbers) > 2:
                raise PixelwiseError(f"bad token {token!r} in layer {position}: at most two axes (HxW).")
            ndim = max(ndim, len(numbers))
            values[_KEYS[key]] = numbers
        if "kernel" not in values:
            raise PixelwiseError(f"layer {position} ({chunk!r}) has no kernel; add k=..., e.g. '{kind} k=3'.")
        parsed.append((position, chunk, kind, values))
    layers = []
    for position, chunk, kind, values in parsed:
        args = {name: (v[0] if len(v) == 1 else v) for name, v in values.items()}
        try:
            layers.append(make_layer(kind, ndim=ndim, **args))
        except PixelwiseError as err:
            raise PixelwiseError(f"layer {position} ({chunk!r}): {err}") from None
    return layers


@dataclass(frozen=True)
class ChainRow:
    """Receptive field (one AxisRF per axis) after one layer of a chain."""

    index: int
    layer: LayerSpec
    rf: tuple[AxisRF, ...]


def chain_receptive_fields(layers: list[LayerSpec]) -> list[ChainRow]:
    """Araujo et al.'s recurrence over a chain: one row per layer with RF, jump and left edge per axis.

    Worked example (1D): (K=5, S=2), (K=3), (K=5, D=2) gives RF 5, 9, 25 with jumps 2, 2, 2.
    """
    if not layers:
        raise PixelwiseError("the chain has no layers.")
    ndim = layers[0].ndim
    if any(layer.ndim != ndim for layer in layers):
        raise PixelwiseError("all layers of a chain need the same number of axes.")
    state = tuple(AxisRF() for _ in range(ndim))
    rows = []
    for i, layer in enumerate(layers):
        state = tuple(layer.rf(state[a], a) for a in range(ndim))
        rows.append(ChainRow(i, layer, state))
    return rows


def chain_output_sizes(layers: list[LayerSpec], size) -> list[tuple[int, ...]]:
    """Output size of every layer for an input of ``size`` (an int, or one int per axis)."""
    ndim = layers[0].ndim
    sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * ndim
    if len(sizes) != ndim:
        raise PixelwiseError(f"input size {sizes} has {len(sizes)} axes but the chain is {ndim}D.")
    out = []
    for i, layer in enumerate(layers):
        try:
            sizes = tuple(layer.output_size(s, a) for a, s in enumerate(sizes))
        except PixelwiseError as err:
            raise PixelwiseError(f"layer {i + 1} ({layer.describe()}): {err}") from None
        out.append(sizes)
    return out


def chain_valid_input_sizes(layers: list[LayerSpec], max_size: int = 1024, exact: bool = False,
                            axis: int = 0) -> list[int]:
    """Input sizes up to ``max_size`` (along ``axis``) for which every layer has an output.

    With ``exact=True`` only sizes where no strided layer drops pixels at the border (the floor in the
    output-size formula is exact), so that the output tiles the input without remainder.
    """
    valid = []
    for n in range(1, max_size + 1):
        s, ok = n, True
        for layer in layers:
            k, st, p, d = layer.kernel[axis], layer.stride[axis], layer.padding[axis], layer.dilation[axis]
            try:
                out = layer.output_size(s, axis)
            except PixelwiseError:
                ok = False
                break
            if exact and layer.kind != "tconv" and (s + 2 * p - d * (k - 1) - 1) % st:
                ok = False
                break
            s = out
        if ok:
            valid.append(n)
    return valid


def chain_to_module(layers: list[LayerSpec], channels: int = 1) -> nn.Sequential:
    """The chain as a real ``nn.Sequential`` (1D or 2D; max pooling for ``pool``) to check against torch."""
    ndim = layers[0].ndim
    if ndim not in (1, 2):
        raise PixelwiseError(f"chains are 1D or 2D, not {ndim}D.")
    conv, tconv, pool = ((nn.Conv1d, nn.ConvTranspose1d, nn.MaxPool1d) if ndim == 1
                         else (nn.Conv2d, nn.ConvTranspose2d, nn.MaxPool2d))
    modules = []
    for layer in layers:
        k, s, p, d = layer.kernel, layer.stride, layer.padding, layer.dilation
        if layer.kind == "conv":
            modules.append(conv(channels, channels, k, s, p, d))
        elif layer.kind == "tconv":
            modules.append(tconv(channels, channels, k, s, p, layer.output_padding, dilation=d))
        else:
            if any(2 * pp > kk for pp, kk in zip(p, k)):
                raise PixelwiseError(f"pooling padding {p} must be at most half the kernel {k}.")
            modules.append(pool(k, s, p, d))
    return nn.Sequential(*modules)


def format_fraction(x: Fraction) -> str:
    """'3', '-1/2' or '2.5' style: integers plainly, halves as decimals, other fractions as a/b."""
    x = Fraction(x)
    if x.denominator == 1:
        return str(x.numerator)
    if 1000 % x.denominator == 0 or x.denominator in (2, 4, 8, 16, 32, 64):
        return f"{float(x):g}"
    return f"{x.numerator}/{x.denominator}"


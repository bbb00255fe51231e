"""The restoration networks by name (one explicit table), each in the wrapper that feeds it what it eats."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.models import SRCNN, VDSR, DnCNN, PostUpsample, ResidualUNet, Unrolled
from pixelwise.physics import LinearOperator
from pixelwise.solvers.landweber import default_step

INPUTS = ("naive", "measurement", "operator")


class Restorer(nn.Module):
    """A network with what it eats: ``forward((y, op)) -> (N, C, H, W)`` image.

    ``input="naive"`` feeds ``op.naive(y)`` (the noisy, bicubic, blurred, zero-filled or FBP image),
    ``"measurement"`` feeds ``y`` itself (post-upsampling), ``"operator"`` calls ``net(y, physics=op)``
    (the unrolled network).

    A network with a noise map (``noise_level`` set: the level it is told by default, image units) takes
    ``(y, op, sigma)`` with one level per image (N,), or ``(y, op)`` for its default level.

    The wrapped network may keep its weights channels-last (:func:`build_model` does): its output is then
    returned in the standard (contiguous) layout, so what follows never sees the difference.
    """

    def __init__(self, net: nn.Module, input: str, noise_level: float | None = None):
        super().__init__()
        if input not in INPUTS:
            raise ValueError(f"input={input!r} is not one of {', '.join(INPUTS)}.")
        if noise_level is not None and input != "naive":
            raise ValueError("only a network fed the naive image can be told the noise level.")
        self.net, self.input, self.noise_level = net, input, noise_level

    def forward(self, batch: tuple) -> torch.Tensor:
        """``(y, op)`` or ``(y, op, sigma)``: a measurement of ``op`` (N, ...) -> the restored image (N, C, H, W)."""
        y, op, *told = batch
        if told and self.noise_level is None:
            raise ValueError("this network has no noise map; give (y, op) without a noise level.")
        if self.input == "operator":
            return self.net(y, physics=op)
        if self.input == "measurement":
            out = self.net(y)
        elif self.noise_level is None:
            out = self.net(op.naive(y).to(y.dtype))
        else:
            out = self.net(op.naive(y).to(y.dtype), told[0] if told else self.noise_level)
        return out.contiguous()

    def image_net(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The network as a map of fed images alone (for window-by-window prediction), told its default level."""
        if self.noise_level is None:
            return lambda v: self.net(v).contiguous()
        return lambda v: self.net(v, self.noise_level).contiguous()


def _default_level(c) -> float | None:
    """The level a noise-map network is told by default: the run's sigma, in image units."""
    return c.sigma / 255.0 if c.noise_map else None


def _dncnn(c, op, shape) -> Restorer:
    net = DnCNN(c.channels, c.depth or 17, c.width or 64, noise_map=c.noise_map)  # Zhang et al. 2017
    return Restorer(net, "naive", _default_level(c))


def _srcnn(c, op, shape) -> Restorer:
    width = c.width or 64  # Dong et al. 2016: 64 then 32 feature maps
    return Restorer(SRCNN(c.channels, width, max(width // 2, 1)), "naive")


def _vdsr(c, op, shape) -> Restorer:
    return Restorer(VDSR(c.channels, c.depth or 20, c.width or 64), "naive")  # Kim et al. 2016


def _post(c, op, shape) -> Restorer:
    return Restorer(PostUpsample(c.channels, c.measurement.scale, c.depth or 8, c.width or 64, c.up), "measurement")


def _unet(c, op, shape) -> Restorer:
    net = ResidualUNet(c.channels, c.depth or 3, c.width or 32, noise_map=c.noise_map)
    return Restorer(net, "naive", _default_level(c))


def _unrolled(c, op, shape) -> Restorer:
    """The step starts at ``1 / ||A||^2`` of ``op`` at ``shape`` (a learned parameter: a loaded run's weights
    replace it, so loading passes no shape)."""
    step = 1.0
    if op is not None and shape is not None:
        step = default_step(op, shape, generator=torch.Generator().manual_seed(c.seed))
    return Restorer(Unrolled(op, c.channels, c.iterations, step, c.shared, c.width or 32, c.depth or 4), "operator")


# name -> builder(config, fixed operator or None, training shape (1, C, P, P) or None); the one table of the
# networks a restoration run can be given by name
MODELS: dict[str, Callable[..., Restorer]] = {
    "dncnn": _dncnn, "srcnn": _srcnn, "vdsr": _vdsr, "post": _post, "unet": _unet, "unrolled": _unrolled,
}


def build_model(config, op: LinearOperator | None = None, shape=None) -> Restorer:
    """The network of ``config.model`` in its wrapper, random weights (seeded by the caller), its weights
    channels-last except the unrolled network's (``benchmarks/restore_layout.py`` times both layouts); ``op``/``shape``:
    the fixed operator and the training shape (the unrolled network's step)."""
    try:
        builder = MODELS[config.model]
    except KeyError:
        raise PixelwiseError(f"model {config.model!r} is not known; use one of {', '.join(MODELS)}.") from None
    try:
        restorer = builder(config, op, shape)
    except ValueError as err:  # a hyperparameter the network rejects
        raise PixelwiseError(str(err)) from None
    if restorer.input != "operator":  # the unrolled network applies the operator to its activations: left as it is
        restorer.net.to(memory_format=torch.channels_last)  # oneDNN's layout: 1.2x a training step on 2 cores
    return restorer

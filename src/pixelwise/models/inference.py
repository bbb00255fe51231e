"""Exact rewrites of a trained convolutional model for faster inference (torch only).

- :func:`fold_batch_norm`: in eval mode, BatchNorm after a convolution is an affine map per channel,
  y = gamma (conv(x) - mu) / sqrt(var + eps) + beta, so it folds into the convolution's weights and bias:
  W' = W * s, b' = (b - mu) * s + beta with s = gamma / sqrt(var + eps) (Ioffe & Szegedy 2015, section
  3.2; the standard inference-time fusion). One memory-bound pass over every activation disappears.
- :class:`ShuffleUp`: a 2x2 transposed convolution with stride 2 writes each input pixel to its own 2x2
  output block, y[o, 2i + a, 2j + b] = sum_c W[c, o, a, b] x[c, i, j] + bias[o], which is a 1x1 convolution
  to 4 C_out channels ordered (o, a, b) followed by a pixel shuffle (Shi et al. 2016, "Real-Time Single
  Image and Video Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network"): one matrix
  product instead of a strided deconvolution.

:func:`optimize_for_inference` applies both and returns a new model; the input model is not modified.
Outputs agree with the original in eval mode to float rounding.

:class:`CompiledInference` goes one step further where a C++ compiler is at hand: the folded model through
``torch.compile`` with frozen weights (inductor's ``freezing``: weights become constants, oneDNN convolutions get
prepacked weights and fused ReLUs), run at one fixed batch size so that it compiles once.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F


def fold_batch_norm(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm2d that directly follows a Conv2d inside an ``nn.Sequential`` into that
    convolution (the BatchNorm becomes ``nn.Identity``). In place; use on a copy in eval mode."""
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        names = list(module._modules)
        for first, second in zip(names, names[1:]):
            conv, bn = module._modules[first], module._modules[second]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                module._modules[first] = _folded(conv, bn)
                module._modules[second] = nn.Identity()
    return model


@torch.no_grad()
def _folded(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    scale = bn.running_var.add(bn.eps).rsqrt()  # (C_out,)
    if bn.affine:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale + (bn.bias if bn.affine else 0)
    fused = copy.deepcopy(conv)
    fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
    bias = shift if conv.bias is None else conv.bias * scale + shift
    fused.bias = nn.Parameter(bias.to(conv.weight.dtype))
    return fused


class ShuffleUp(nn.Module):
    """The same map as ``nn.ConvTranspose2d(c_in, c_out, 2, stride=2)`` as a 1x1 convolution and a pixel shuffle.

    (N, C_in, H, W) -> (N, C_out, 2H, 2W).
    """

    def __init__(self, deconv: nn.ConvTranspose2d):
        super().__init__()
        if not (deconv.kernel_size == (2, 2) and deconv.stride == (2, 2) and deconv.padding == (0, 0)
                and deconv.output_padding == (0, 0) and deconv.dilation == (1, 1) and deconv.groups == 1):
            raise ValueError("ShuffleUp rewrites only ConvTranspose2d(kernel_size=2, stride=2) without padding, "
                             "dilation or groups.")
        c_in, c_out = deconv.in_channels, deconv.out_channels
        with torch.no_grad():
            # W[c, o, a, b] -> W1[(o, a, b), c]: pixel_shuffle puts channel o*4 + a*2 + b at (o, 2i + a, 2j + b)
            self.weight = nn.Parameter(deconv.weight.permute(1, 2, 3, 0).reshape(4 * c_out, c_in, 1, 1).clone())
            bias = deconv.bias if deconv.bias is not None else torch.zeros(c_out)
            self.bias = nn.Parameter(bias.repeat_interleave(4).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(F.conv2d(x, self.weight, self.bias), 2)


def optimize_for_inference(model: nn.Module, shuffle_up: bool = True) -> nn.Module:
    """A copy of ``model`` in eval mode with batch norm folded and (optionally) 2x2 stride-2 transposed
    convolutions replaced by :class:`ShuffleUp`; channels-last memory format."""
    fast = fold_batch_norm(copy.deepcopy(model).eval())
    if shuffle_up:
        for module in list(fast.modules()):
            for name, child in list(module.named_children()):
                if isinstance(child, nn.ConvTranspose2d):
                    try:
                        setattr(module, name, ShuffleUp(child))
                    except ValueError:
                        pass  # another kind of transposed convolution stays as it is
    for p in fast.parameters():
        p.requires_grad_(False)
    return fast.to(memory_format=torch.channels_last)


class CompiledInference(nn.Module):
    """``model`` folded (:func:`optimize_for_inference`) and compiled with frozen weights, for no-grad inference.

    Every call runs at ``batch_size``: a smaller batch is padded with zeros and the padding's outputs dropped,
    a larger one is split, so the graph is compiled once (the first call; seconds to tens of seconds) and never
    again for a short last batch. Samples are independent in eval mode, so padding does not change the others.
    If compiling fails (no C++ compiler, an unsupported layer), the call reports why through ``log`` once and
    the folded eager model answers from then on. (N, ...) -> the model's (N, ...).
    """

    def __init__(self, model: nn.Module, batch_size: int, log=print):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1.")
        self.eager = optimize_for_inference(model, shuffle_up=False)
        self.batch_size = batch_size
        self.log = log
        # a plain attribute, not a submodule: it wraps ``self.eager`` and must not duplicate its weights
        object.__setattr__(self, "compiled", torch.compile(self.eager, options={"freezing": True}))
        self.failed = False

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        if not self.failed:
            try:
                return self.compiled(x)
            except Exception as error:  # noqa: BLE001 (any backend failure: run eager instead)
                reason = (str(error).splitlines() or [""])[0][:200]
                self.log(f"torch.compile failed ({type(error).__name__}: {reason}); predicting without it")
                self.failed = True
        return self.eager(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n = self.batch_size, x.shape[0]
        outputs = []
        for start in range(0, n, b):
            chunk = x[start:start + b]
            short = b - chunk.shape[0]
            if short:
                chunk = torch.cat([chunk, chunk.new_zeros((short, *chunk.shape[1:]))])
            chunk = chunk.contiguous(memory_format=torch.channels_last) if chunk.dim() == 4 else chunk
            outputs.append(self._run(chunk)[:b - short])
        return torch.cat(outputs)


__all__ = ["CompiledInference", "ShuffleUp", "fold_batch_norm", "optimize_for_inference"]

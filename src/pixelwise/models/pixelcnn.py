"""Gated PixelCNN prior over a grid of discrete codes: the second stage of the VQ-VAE.

van den Oord, Vinyals and Kavukcuoglu ("Neural Discrete Representation Learning", NeurIPS 2017, sec. 3.2)
fit an autoregressive prior p(k) = prod_i p(k_i | k_<i) over the (h, w) map of code indices (raster order)
after training the VQ-VAE, and sample new images by ancestral sampling of k followed by the decoder.

Masked convolutions (van den Oord, Kalchbrenner and Kavukcuoglu, "Pixel Recurrent Neural Networks", ICML
2016, sec. 3.4): a kh x kw kernel with centre (ch, cw) = (kh // 2, kw // 2) keeps

- mask "A": the rows above the centre, and the centre row left of the centre (not the centre itself);
- mask "B": the same plus the centre (a layer may see its own position's features, which by then only
  describe earlier codes);
- mask "vertical": every row at and above the centre (the vertical stack below).

Gated PixelCNN (van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves and Kavukcuoglu, "Conditional Image
Generation with PixelCNN Decoders", NeurIPS 2016, sec. 2.2, eq. 2 and fig. 2): each layer gates its
features, y = tanh(W_f * x) * sigmoid(W_g * x), in two stacks that together have no blind spot:

- vertical stack: a k x k convolution with the "vertical" mask; row r of its output sees rows <= r. It is
  shifted down by one row before it feeds the horizontal stack, so there it sees rows < r only.
- horizontal stack: a 1 x k convolution masked "A" in the first layer and "B" after, plus a 1 x 1
  convolution of the shifted vertical features, gated, a 1 x 1 projection and a residual connection (not in
  the first layer, whose input is the current position's own code).

Hence logits[:, :, r, c] depend only on codes at (r', c') with r' < r, or r' = r and c' < c.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

MASKS = ("A", "B", "vertical")


def causal_mask(kernel_size: tuple[int, int], mask_type: str) -> torch.Tensor:
    """The (kh, kw) 0/1 mask of the module docstring."""
    if mask_type not in MASKS:
        raise ValueError(f"mask_type={mask_type!r} is not known; use one of {', '.join(MASKS)}.")
    kh, kw = kernel_size
    ch, cw = kh // 2, kw // 2
    mask = torch.zeros(kh, kw)
    mask[:ch] = 1  # rows above the centre
    if mask_type == "vertical":
        mask[ch] = 1
    else:
        mask[ch, :cw + (mask_type == "B")] = 1  # left of the centre (A), and the centre itself (B)
    return mask


class MaskedConv2d(nn.Conv2d):
    """A 'same'-padded convolution whose kernel is multiplied by :func:`causal_mask` at every call.

    Shapes: x (N, C_in, H, W) -> (N, C_out, H, W); odd kernel sizes only (the centre must be a pixel).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], mask_type: str):
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        if kh < 1 or kw < 1 or kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(f"kernel_size={kernel_size} must be odd in both directions, e.g. 3 or (1, 3).")
        mask = causal_mask((kh, kw), mask_type)
        if mask.sum() == 0:
            raise ValueError(f"a {kh}x{kw} kernel with mask {mask_type!r} keeps no weight; use a wider kernel.")
        super().__init__(in_channels, out_channels, (kh, kw), padding=(kh // 2, kw // 2))
        self.mask_type = mask_type
        self.register_buffer("mask", mask[None, None], persistent=False)  # (1, 1, kh, kw), rebuilt, not saved

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


def _gate(x: torch.Tensor) -> torch.Tensor:
    """(N, 2C, H, W) -> tanh(first half) * sigmoid(second half), (N, C, H, W) (eq. 2 of the gated paper)."""
    f, g = x.chunk(2, dim=1)
    return torch.tanh(f) * torch.sigmoid(g)


class GatedLayer(nn.Module):
    """One layer of both stacks. Shapes: v, h (N, C, H, W) -> v', h' (N, C, H, W)."""

    def __init__(self, channels: int, kernel_size: int, first: bool):
        super().__init__()
        self.first = first
        self.vertical = MaskedConv2d(channels, 2 * channels, kernel_size, "vertical")
        self.horizontal = MaskedConv2d(channels, 2 * channels, (1, kernel_size), "A" if first else "B")
        self.vertical_to_horizontal = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.project = nn.Conv2d(channels, channels, 1)

    def forward(self, v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v_pre = self.vertical(v)  # (N, 2C, H, W); row r sees rows <= r
        v_down = F.pad(v_pre, (0, 0, 1, 0))[:, :, :-1]  # (N, 2C, H, W); row r now sees rows < r
        h_new = self.project(_gate(self.horizontal(h) + self.vertical_to_horizontal(v_down)))
        return _gate(v_pre), h_new if self.first else h + h_new


class PixelCNNPrior(nn.Module):
    """Autoregressive prior over code maps: a code embedding, gated layers and a 1 x 1 head.

    Shapes: indices (N, h, w) int64 in [0, K) -> logits (N, K, h, w), where logits[:, :, r, c] depend only
    on the codes before (r, c) in raster order; any h, w >= 1.
    """

    def __init__(self, num_codes: int, channels: int = 64, layers: int = 6, kernel_size: int = 3):
        super().__init__()
        if num_codes < 2:
            raise ValueError(f"num_codes={num_codes} must be >= 2.")
        if channels < 1 or layers < 1:
            raise ValueError(f"channels={channels} and layers={layers} must be >= 1.")
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size={kernel_size} must be odd and >= 3 (mask A needs a left neighbour).")
        self.num_codes = num_codes
        self.embed = nn.Embedding(num_codes, channels)
        self.layers = nn.ModuleList(GatedLayer(channels, kernel_size, first=i == 0) for i in range(layers))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(),
                                  nn.Conv2d(channels, num_codes, 1))

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        if indices.dim() != 3 or indices.dtype != torch.long:
            raise ValueError(f"indices must be an int64 (N, h, w) tensor, got {indices.dtype} "
                             f"{tuple(indices.shape)}.")
        return self.logits(self.embed(indices).permute(0, 3, 1, 2))  # embedded (N, C, h, w)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Embedded codes x (N, C, h, w) -> logits (N, K, h, w) (differentiable in x: causality tests)."""
        v = h = x
        for layer in self.layers:
            v, h = layer(v, h)
        return self.head(h)

    def log_prob(self, indices: torch.Tensor) -> torch.Tensor:
        """log p(k) = sum_i log p(k_i | k_<i) per map, (N,) in nats."""
        logp = F.log_softmax(self(indices), dim=1)  # (N, K, h, w)
        return logp.gather(1, indices[:, None]).flatten(1).sum(1)

    @torch.no_grad()
    def sample(self, n: int, height: int, width: int, generator: torch.Generator | None = None,
               temperature: float = 1.0, callback=None) -> torch.Tensor:
        """Ancestral sampling in raster order: k_i ~ p(k_i | k_<i) (softmax(logits / temperature)),
        (n, height, width) int64. All randomness comes from ``generator``; ``callback(i, idx)`` is called after
        each of the height x width positions (for progress)."""
        if n < 1 or height < 1 or width < 1:
            raise ValueError(f"n={n}, height={height} and width={width} must be >= 1.")
        if not temperature > 0:
            raise ValueError(f"temperature={temperature} must be > 0 (1 samples the model as trained).")
        device = self.embed.weight.device
        idx = torch.zeros(n, height, width, dtype=torch.long, device=device)
        for r in range(height):
            for c in range(width):
                probs = F.softmax(self(idx)[:, :, r, c] / temperature, dim=1)  # (n, K)
                idx[:, r, c] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
                if callback is not None:
                    callback(r * width + c, idx)
        return idx


__all__ = ["MASKS", "GatedLayer", "MaskedConv2d", "PixelCNNPrior", "causal_mask"]

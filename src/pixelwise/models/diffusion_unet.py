"""A small time-conditioned U-Net for epsilon prediction (the layout of Ho et al. 2020, appendix B, shrunk:
residual blocks with GroupNorm and SiLU, the sinusoidal time embedding of Vaswani et al. 2017 added to
every block through a linear layer; optionally one self-attention block between the two middle residual
blocks, at the lowest resolution, as in Ho et al.'s middle stage); optionally a class label, embedded and
added to the time embedding, with one extra "no label" index for classifier-free guidance (Ho and Salimans,
"Classifier-Free Diffusion Guidance", 2022).

Shapes: ``forward(x: (N, C, H, W), t: (N,) int64, y: (N,) int64 | None) -> (N, C, H, W)`` for any H, W: the
input is zero-padded internally up to a multiple of 2**levels and the output is cropped back, so odd sizes
work. ``y`` holds labels in 0..classes-1, or ``classes`` (= ``TimeUNet.null_label``) for "no label".
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(N,) -> (N, dim): [sin(t w_k), cos(t w_k)] with w_k = max_period^(-k / (dim / 2)), k < dim / 2."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)  # (half,)
    args = t.float()[:, None] * freqs[None]  # (N, half)
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    return F.pad(emb, (0, dim % 2))  # odd dim: one zero column


def _groups(c: int) -> int:
    return next(g for g in (8, 4, 2, 1) if c % g == 0)


class ResBlock(nn.Module):
    """GN -> SiLU -> conv3x3 -> + Linear(t_emb) -> GN -> SiLU -> conv3x3, plus a (1x1) skip."""

    def __init__(self, c_in: int, c_out: int, t_dim: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(_groups(c_in), c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(t_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(_groups(c_out), c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(t_emb)[:, :, None, None]  # (N, c_out, 1, 1) broadcast over the image
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class SelfAttention2d(nn.Module):
    """Multi-head self-attention over the H * W positions of a feature map, with a residual connection:
    x + proj(softmax(q k^T / sqrt(d)) v), q, k, v = 1x1 convolutions of GroupNorm(x), d = C / heads
    (Vaswani et al. 2017; the attention block of Ho et al. 2020). No position encoding: permuting the
    positions of x permutes the output alike. (N, C, H, W) -> (N, C, H, W); the cost grows as (H W)^2."""

    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels={channels} must be a multiple of heads={heads}.")
        self.heads = heads
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(n, 3, self.heads, c // self.heads, h * w)
        q, k, v = (qkv[:, i].transpose(-1, -2) for i in range(3))  # (N, heads, HW, d)
        out = F.scaled_dot_product_attention(q, k, v)  # (N, heads, HW, d)
        return x + self.proj(out.transpose(-1, -2).reshape(n, c, h, w))


class TimeUNet(nn.Module):
    """Epsilon-prediction U-Net: ``levels`` down/up stages with channels base * mults[i].

    Args:
        channels: image channels C.
        base: channels of the first stage.
        mults: channel multiplier per level (its length is the number of levels).
        time_dim: width of the time embedding MLP (default 4 * base).
        attention: heads of a :class:`SelfAttention2d` between the two middle blocks (0 = none).
        classes: number of class labels K (0 = unconditional). With K > 0 an ``nn.Embedding(K + 1, time_dim)``
            is added to the time embedding; index K (``null_label``) means "no label", the unconditional model
            that classifier-free guidance needs beside the conditional one.
    """

    def __init__(self, channels: int = 1, base: int = 32, mults: tuple[int, ...] = (1, 2, 2),
                 time_dim: int | None = None, attention: int = 0, classes: int = 0):
        super().__init__()
        if channels < 1 or base < 1 or not mults or min(mults) < 1 or classes < 0:
            raise ValueError(f"channels={channels} and base={base} must be >= 1, mults={mults} non-empty "
                             f"positive integers and classes={classes} >= 0.")
        time_dim = time_dim or 4 * base
        self.channels, self.base, self.mults, self.classes = channels, base, tuple(mults), classes
        self.levels = len(mults) - 1
        self.time_mlp = nn.Sequential(nn.Linear(base, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim))
        self.class_embedding = nn.Embedding(classes + 1, time_dim) if classes else None
        widths = [base * m for m in mults]
        self.inc = nn.Conv2d(channels, widths[0], 3, padding=1)
        self.down_blocks = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        for i in range(self.levels):
            self.down_blocks.append(ResBlock(widths[i], widths[i], time_dim))
            self.downsamples.append(nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1))
        self.mid = nn.ModuleList([ResBlock(widths[-1], widths[-1], time_dim),
                                  ResBlock(widths[-1], widths[-1], time_dim)])
        self.mid_attention = SelfAttention2d(widths[-1], attention) if attention else None
        self.upsamples = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for i in reversed(range(self.levels)):
            self.upsamples.append(nn.Conv2d(widths[i + 1], widths[i], 3, padding=1))
            self.up_blocks.append(ResBlock(2 * widths[i], widths[i], time_dim))
        self.out = nn.Sequential(nn.GroupNorm(_groups(widths[0]), widths[0]), nn.SiLU(),
                                 nn.Conv2d(widths[0], channels, 3, padding=1))

    @property
    def null_label(self) -> int:
        """The label index meaning "no label" (= classes); only for a class-conditional net."""
        return self.classes

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """x (N, C, H, W), t (N,), y (N,) or None -> predicted noise (N, C, H, W).

        For a class-conditional net, ``y=None`` means "no label" for every image (the unconditional model)."""
        n, _, h, w = x.shape
        if t.shape != (n,):
            raise ValueError(f"t must have shape ({n},), got {tuple(t.shape)}.")
        if y is not None and not self.classes:
            raise ValueError("this TimeUNet is unconditional (classes=0); build it with classes=K to pass labels.")
        if y is not None and y.shape != (n,):
            raise ValueError(f"y must have shape ({n},), got {tuple(y.shape)}.")
        m = 2**self.levels
        ph, pw = (-h) % m, (-w) % m  # odd sizes: pad up to a multiple of 2**levels, crop at the end
        x = F.pad(x, (0, pw, 0, ph))
        t_emb = self.time_mlp(timestep_embedding(t, self.base))  # (N, time_dim)
        if self.class_embedding is not None:
            y = torch.full((n,), self.null_label, dtype=torch.long) if y is None else y
            t_emb = t_emb + self.class_embedding(y)  # (N, time_dim)
        hidden = self.inc(x)
        skips = []
        for block, down in zip(self.down_blocks, self.downsamples):
            hidden = block(hidden, t_emb)
            skips.append(hidden)
            hidden = down(hidden)  # (N, c_{i+1}, H / 2^(i+1), W / 2^(i+1))
        hidden = self.mid[0](hidden, t_emb)
        if self.mid_attention is not None:
            hidden = self.mid_attention(hidden)
        hidden = self.mid[1](hidden, t_emb)
        for up, block in zip(self.upsamples, self.up_blocks):
            skip = skips.pop()
            hidden = up(F.interpolate(hidden, size=skip.shape[-2:], mode="nearest"))
            hidden = block(torch.cat([hidden, skip], dim=1), t_emb)  # (N, c_i, ...)
        return self.out(hidden)[..., :h, :w]


__all__ = ["ResBlock", "SelfAttention2d", "TimeUNet", "timestep_embedding"]

"""VQ-VAE (van den Oord, Vinyals and Kavukcuoglu, "Neural Discrete Representation Learning", NeurIPS 2017).

The encoder gives z_e (N, D, h, w); each D-vector is replaced by its nearest codebook entry e_k
(k = argmin_j ||z_e - e_j||^2), and the decoder sees z_q. Gradients pass the non-differentiable argmin with
the straight-through estimator: z_q_st = z_e + sg(z_q - z_e) has the value z_q and the gradient of z_e.

Losses (eq. 3 of the paper): codebook ||sg(z_e) - e||^2 moves the codes to the encoder outputs, commitment
beta ||z_e - sg(e)||^2 keeps the encoder near its codes. Codebook usage is reported as the perplexity
exp(-sum_k p_k log p_k) of the code histogram of the batch (K when all codes are used evenly, 1 when one).

Dead-code restarts: a code whose running usage falls below ``restart_threshold / K`` is moved, at the start
of a training forward, onto the encoder output of the batch that is worst served by its nearest code
(one output per dead code, deterministic, no random numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pixelwise.models.autoencoders import AEOutput, ConvAutoencoder


@dataclass
class QuantizerOutput:
    z_q: torch.Tensor  # (N, D, h, w) straight-through quantised code
    indices: torch.Tensor  # (N, h, w) int64 code index per position
    codebook_loss: torch.Tensor  # scalar ||sg(z_e) - e||^2 (mean over elements)
    commitment_loss: torch.Tensor  # scalar ||z_e - sg(e)||^2 (mean over elements; beta applied by the loss)
    perplexity: torch.Tensor  # scalar


class VectorQuantizer(nn.Module):
    """Nearest-code quantisation with a straight-through gradient, usage tracking and dead-code restarts.

    Shapes: z_e (N, D, h, w) -> QuantizerOutput with z_q (N, D, h, w) and indices (N, h, w).
    """

    def __init__(self, num_codes: int, code_dim: int, restart_threshold: float = 0.03,
                 usage_decay: float = 0.99):
        super().__init__()
        if num_codes < 2 or code_dim < 1:
            raise ValueError(f"num_codes={num_codes} must be >= 2 and code_dim={code_dim} >= 1.")
        if not 0 <= restart_threshold < 1:
            raise ValueError(f"restart_threshold={restart_threshold} must lie in [0, 1) "
                             "(0 turns restarts off).")
        if not 0 < usage_decay < 1:
            raise ValueError(f"usage_decay={usage_decay} must lie in (0, 1).")
        self.num_codes, self.code_dim = num_codes, code_dim
        self.restart_threshold, self.usage_decay = restart_threshold, usage_decay
        self.codebook = nn.Parameter(torch.empty(num_codes, code_dim).uniform_(-1 / num_codes, 1 / num_codes))
        self.register_buffer("usage", torch.full((num_codes,), 1.0 / num_codes))  # running code frequencies
        self.register_buffer("restarts", torch.zeros((), dtype=torch.long))  # codes restarted so far (saved)

    def nearest(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """flat (M, D) -> (indices (M,), squared distance to the chosen code (M,))."""
        # ||a - e||^2 = ||a||^2 - 2 a.e + ||e||^2, (M, K)
        d = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.t()
             + self.codebook.pow(2).sum(1)[None])
        dist, idx = d.min(dim=1)
        return idx, dist

    @torch.no_grad()
    def restart_dead_codes(self, flat: torch.Tensor) -> int:
        """Move codes with usage < threshold / K onto the batch's worst-served encoder outputs."""
        dead = torch.nonzero(self.usage < self.restart_threshold / self.num_codes).flatten()
        if dead.numel() == 0:
            return 0
        _, dist = self.nearest(flat)
        worst = dist.argsort(descending=True)[: dead.numel()]
        dead = dead[: worst.numel()]
        self.codebook.data[dead] = flat[worst]
        self.usage[dead] = 1.0 / self.num_codes
        self.restarts += dead.numel()
        return int(dead.numel())

    def forward(self, z_e: torch.Tensor) -> QuantizerOutput:
        n, d, h, w = z_e.shape
        if d != self.code_dim:
            raise ValueError(f"the quantiser takes {self.code_dim} channels, got {d}.")
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)  # (N*h*w, D)
        if self.training and self.restart_threshold > 0:
            self.restart_dead_codes(flat.detach())  # before the codebook enters the graph
        with torch.no_grad():
            idx, _ = self.nearest(flat)
        e = self.codebook[idx]  # (N*h*w, D)
        codebook_loss = (flat.detach() - e).pow(2).mean()
        commitment_loss = (flat - e.detach()).pow(2).mean()
        counts = torch.bincount(idx, minlength=self.num_codes).float()
        p = counts / counts.sum()
        perplexity = torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum())
        if self.training:
            with torch.no_grad():
                self.usage.mul_(self.usage_decay).add_((1 - self.usage_decay) * p)
        z_q = e.view(n, h, w, d).permute(0, 3, 1, 2)  # (N, D, h, w)
        z_q_st = z_e + (z_q - z_e).detach()  # straight-through: value z_q, gradient of z_e
        return QuantizerOutput(z_q_st, idx.view(n, h, w), codebook_loss, commitment_loss, perplexity)


class VQVAE(nn.Module):
    """Convolutional VQ-VAE: the :class:`ConvAutoencoder` body with a map bottleneck and a quantiser.

    Shapes: x (N, C, H, W) -> z_e (N, D, h, w) -> z_q (N, D, h, w) -> x_hat (N, C, H, W), h = ceil(H / 4).
    """

    def __init__(self, in_shape: tuple[int, int, int], code_dim: int = 16, num_codes: int = 64,
                 base: int = 32, restart_threshold: float = 0.03):
        super().__init__()
        self.ae = ConvAutoencoder(in_shape, code_dim, base, bottleneck="map", output="sigmoid")
        self.quantizer = VectorQuantizer(num_codes, code_dim, restart_threshold)
        self.in_shape, self.latent_dim = self.ae.in_shape, code_dim
        self.variational, self.output = False, "sigmoid"

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.ae.encode(x)

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        return self.ae.decode(z_q)

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """indices (N, h, w) -> x_hat (N, C, H, W)."""
        z_q = self.quantizer.codebook[indices].permute(0, 3, 1, 2)  # (N, D, h, w)
        return self.decode(z_q)

    def forward(self, x: torch.Tensor) -> AEOutput:
        """x (N, C, H, W) -> AEOutput with x_hat, z = z_q, indices, codebook/commitment losses, perplexity."""
        q = self.quantizer(self.ae.encode(x))
        logits = self.ae.decode_logits(q.z_q)
        return AEOutput(torch.sigmoid(logits), q.z_q, logits, x=x, codebook_loss=q.codebook_loss,
                        commitment_loss=q.commitment_loss, perplexity=q.perplexity, indices=q.indices)


__all__ = ["QuantizerOutput", "VQVAE", "VectorQuantizer"]

"""Losses of the autoencoder family, as functions with their formulas.

Notation: x in [0, 1]^P (P pixels), x_hat = g(f(x)), code z = f(x) in R^d, batch of N images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F


def reconstruction_loss(out, target: torch.Tensor, kind: str = "mse",
                        reduction: str = "pixel") -> torch.Tensor:
    """Reconstruction error of an ``AEOutput`` (or a tensor x_hat) against ``target``.

    mse: (x_hat - x)^2. bce: -[x log x_hat + (1 - x) log(1 - x_hat)], computed from the logits for
    stability (needs a sigmoid decoder).
    reduction "pixel": mean over all pixels and images (MSE per pixel); "image": sum over the pixels of
    each image, mean over images (the negative log-likelihood term of the ELBO).
    """
    if kind == "mse":
        x_hat = out if isinstance(out, torch.Tensor) else out.x_hat
        err = (x_hat - target).pow(2)
    elif kind == "bce":
        logits = None if isinstance(out, torch.Tensor) else out.logits
        if logits is None:
            raise ValueError("the BCE reconstruction loss needs a sigmoid decoder (logits); use kind='mse'.")
        err = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    else:
        raise ValueError(f"reconstruction loss {kind!r} is not known; use 'mse' or 'bce'.")
    if reduction == "pixel":
        return err.mean()
    if reduction == "image":
        return err.flatten(1).sum(1).mean()
    raise ValueError(f"reduction={reduction!r} must be 'pixel' or 'image'.")


def kl_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag sigma^2) || N(0, I)) per sample, (N,):

        KL = 1/2 sum_j (mu_j^2 + sigma_j^2 - log sigma_j^2 - 1)   (Kingma and Welling 2014, appendix B).
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).flatten(1).sum(1)


def l1_sparsity(z: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ||z||_1 = sum_j |z_j|."""
    return z.abs().flatten(1).sum(1).mean()


def kl_sparsity(z: torch.Tensor, rho: float, eps: float = 1e-6) -> torch.Tensor:
    """The KL sparsity penalty for codes in (0, 1) (Ng, "Sparse autoencoder", CS294A notes 2011):

        sum_j KL(rho || rho_hat_j)
            = sum_j [rho log(rho / rho_hat_j) + (1 - rho) log((1 - rho) / (1 - rho_hat_j))],

    rho_hat_j = mean over the batch of z_j, the average activation of code unit j.
    """
    if not 0 < rho < 1:
        raise ValueError(f"target activation rho={rho} must lie in (0, 1), e.g. 0.05.")
    rho_hat = z.flatten(1).mean(0).clamp(eps, 1 - eps)  # (d,)
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


def contractive_penalty(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """||J_f(x)||_F^2 averaged over the batch, J = dz/dx, exactly by autograd (Rifai, Vincent, Muller,
    Glorot and Bengio, "Contractive Auto-Encoders", ICML 2011, eq. 2).

    One backward pass per code unit (d passes; fine for small codes). ``x`` must require grad and ``z``
    must have been computed from it; the result is differentiable (create_graph) so it can be trained.
    Closed form for a one-layer sigmoid encoder: :func:`contractive_penalty_sigmoid`.
    """
    if not x.requires_grad:
        raise ValueError("the contractive penalty differentiates z with respect to x; call "
                         "x.requires_grad_() before encoding.")
    flat = z.flatten(1)  # (N, d)
    total = z.new_zeros(())
    for j in range(flat.shape[1]):
        (g,) = torch.autograd.grad(flat[:, j].sum(), x, create_graph=True)  # rows of J, one per image
        total = total + g.pow(2).sum()
    return total / flat.shape[0]


def contractive_penalty_sigmoid(h: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Closed form for h = sigmoid(W x + b) (Rifai et al. 2011, eq. 5), averaged over the batch:

        ||J||_F^2 = sum_j (h_j (1 - h_j))^2 sum_i W_ji^2.
    """
    return ((h * (1 - h)).pow(2) * weight.pow(2).sum(1)[None]).sum(1).mean()


@dataclass
class AutoencoderLoss:
    """The training objective of every autoencoder model, as a callable ``loss(out, target) -> scalar``.

        loss = recon(x_hat, x) + beta * mean KL            (VAE, "image" reduction, Kingma and Welling 2014)
             + sparsity_weight * l1(z) or KL(rho || rho_hat) (sparse AE)
             + contractive * ||J_f(x)||_F^2                (contractive AE, Rifai et al. 2011)
             + codebook + commitment_beta * commitment     (VQ-VAE, van den Oord et al. 2017)

    Terms whose fields the model output lacks are left out; the weights default to off.
    """

    recon: str = "mse"
    reduction: str = "pixel"
    beta: float = 1.0  # VAE KL weight (beta-VAE when != 1)
    sparsity: str | None = None  # None, "l1" or "kl"
    sparsity_weight: float = 0.0
    rho: float = 0.05
    contractive: float = 0.0
    commitment_beta: float = 0.25

    def __post_init__(self):
        if self.sparsity not in (None, "l1", "kl"):
            raise ValueError(f"sparsity={self.sparsity!r} must be None, 'l1' or 'kl'.")
        for name in ("beta", "sparsity_weight", "contractive", "commitment_beta"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 0.")

    def terms(self, out, target: torch.Tensor) -> dict[str, torch.Tensor]:
        t = {"recon": reconstruction_loss(out, target, self.recon, self.reduction)}
        if out.mu is not None:
            t["kl"] = self.beta * kl_normal(out.mu, out.logvar).mean()
        if self.sparsity == "l1" and self.sparsity_weight > 0:
            t["sparsity"] = self.sparsity_weight * l1_sparsity(out.z)
        elif self.sparsity == "kl" and self.sparsity_weight > 0:
            t["sparsity"] = self.sparsity_weight * kl_sparsity(out.z, self.rho)
        if self.contractive > 0:
            t["contractive"] = self.contractive * contractive_penalty(out.z, out.x)
        if out.codebook_loss is not None:
            t["codebook"] = out.codebook_loss
            t["commitment"] = self.commitment_beta * out.commitment_loss
        return t

    def __call__(self, out, target: torch.Tensor) -> torch.Tensor:
        return sum(self.terms(out, target).values())


__all__ = ["AutoencoderLoss", "contractive_penalty", "contractive_penalty_sigmoid", "kl_normal",
           "kl_sparsity", "l1_sparsity", "reconstruction_loss"]

"""Contrastive and metric-learning losses on embeddings: NT-Xent (SimCLR), InfoNCE (CPC) and the triplet loss.

Embeddings are rows: ``(N, D)``. Row i of the two arguments of :func:`nt_xent` (or of the query and positive of
:func:`info_nce`) are a positive pair; every other row in the batch is a negative. Similarities are cosine
similarities (the rows are L2-normalised first) divided by a temperature tau.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def _check_pair(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    if a.dim() != 2 or a.shape != b.shape or a.shape[0] < 1:
        raise ValueError(f"{names} must be two (N, D) tensors of the same shape with N >= 1, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}.")


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature={temperature} must be > 0 (SimCLR used 0.1 to 1).")


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """The normalized temperature-scaled cross-entropy of SimCLR (Chen, Kornblith, Norouzi and Hinton, "A Simple
    Framework for Contrastive Learning of Visual Representations", ICML 2020, eq. 1).

    The 2N views z_1..z_2N are z1's rows then z2's; view k's positive is the other view of the same image. With
    sim(u, v) = u.v / (|u| |v|):

        l(i, j) = -log( exp(sim(z_i, z_j) / tau) / sum_{k != i} exp(sim(z_i, z_k) / tau) )
        L = 1 / (2N) sum_{i=1..N} [ l(i, N + i) + l(N + i, i) ]

    so each view has 2N - 2 negatives (both views of every other image). ``z1``, ``z2``: (N, D). With N = 1 the
    positive is the only candidate and the loss is 0.
    """
    _check_pair(z1, z2, "nt_xent's z1 and z2")
    _check_temperature(temperature)
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2N, D)
    sim = z @ z.T / temperature  # (2N, 2N)
    self_pairs = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_pairs, float("-inf"))  # k != i in the denominator
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)  # view i <-> view N + i
    return F.cross_entropy(sim, positives)


def info_nce(query: torch.Tensor, positive: torch.Tensor, negatives: torch.Tensor | None = None,
             temperature: float = 0.1, normalize: bool = True) -> torch.Tensor:
    """InfoNCE (van den Oord, Li and Vinyals, "Representation Learning with Contrastive Predictive Coding", 2018,
    eq. 4), with the score f(q, k) = exp(q.k / tau):

        L = -1/N sum_i log( exp(q_i.k_i+ / tau) / ( exp(q_i.k_i+ / tau) + sum_{k- in K_i} exp(q_i.k- / tau) ) )

    ``query``, ``positive``: (N, D), row i a positive pair. ``negatives``: None for in-batch negatives (K_i is the
    other rows of ``positive``, as in MoCo's and CLIP's one-directional loss), (M, D) for M negatives shared by every
    query, or (N, M, D) for M negatives of each query. ``normalize``: L2-normalise every row first (cosine
    similarity); otherwise raw dot products.
    """
    _check_pair(query, positive, "info_nce's query and positive")
    _check_temperature(temperature)
    if normalize:
        query, positive = F.normalize(query, dim=-1), F.normalize(positive, dim=-1)
    if negatives is None:
        logits = query @ positive.T  # (N, N): the diagonal holds the positives
        return F.cross_entropy(logits / temperature, torch.arange(query.shape[0], device=query.device))
    n, d = query.shape
    if not (negatives.dim() == 2 and negatives.shape[1] == d) and not (negatives.dim() == 3 and
                                                                        negatives.shape[::2] == (n, d)):
        raise ValueError(f"info_nce's negatives must be (M, {d}) or ({n}, M, {d}), got {tuple(negatives.shape)}.")
    if normalize:
        negatives = F.normalize(negatives, dim=-1)
    pos = (query * positive).sum(-1, keepdim=True)  # (N, 1)
    neg = query @ negatives.T if negatives.dim() == 2 else torch.einsum("nd,nmd->nm", query, negatives)  # (N, M)
    logits = torch.cat([pos, neg], dim=1) / temperature  # (N, 1 + M): the positive is class 0
    return F.cross_entropy(logits, torch.zeros(n, dtype=torch.long, device=query.device))


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float = 1.0,
                 squared: bool = False) -> torch.Tensor:
    """The triplet loss (Schroff, Kalenichenko and Philbin, "FaceNet", CVPR 2015, eq. 2; Weinberger and Saul 2009):

        L = 1/N sum_i max(0, d(a_i, p_i) - d(a_i, n_i) + margin)

    with d the Euclidean distance (``squared=True``: its square, as FaceNet writes it). Rows are not normalised
    here (FaceNet normalises its embeddings in the network). ``anchor``, ``positive``, ``negative``: (N, D).
    """
    _check_pair(anchor, positive, "triplet_loss's anchor and positive")
    _check_pair(anchor, negative, "triplet_loss's anchor and negative")
    if margin < 0:
        raise ValueError(f"margin={margin} must be >= 0.")
    d_pos = (anchor - positive).pow(2).sum(-1)  # (N,)
    d_neg = (anchor - negative).pow(2).sum(-1)
    if not squared:
        d_pos, d_neg = d_pos.clamp(min=1e-12).sqrt(), d_neg.clamp(min=1e-12).sqrt()
    return F.relu(d_pos - d_neg + margin).mean()

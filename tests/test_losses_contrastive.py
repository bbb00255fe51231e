"""NT-Xent, InfoNCE and the triplet loss against values worked by hand, torch's triplet loss as an oracle, and the
identity that ties NT-Xent to InfoNCE (each view's negatives are the other 2N - 2 views)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from pixelwise.losses import info_nce, nt_xent, triplet_loss

E = math.e
EYE = torch.eye(2, dtype=torch.float64)
SWAP = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)

# (z1, z2, tau, the loss by hand): every view scores the same by symmetry, so L is one view's l(i, j)
NT_XENT = [
    # views (1,0), (0,1), (1,0), (0,1); the candidates of view 0 are v1 (sim 0), v2 (sim 1, the positive) and
    # v3 (sim 0), tau = 1: -log(e / (e + 2))
    (EYE, EYE, 1.0, math.log((E + 2) / E)),
    # positives orthogonal: view 0's positive v2 = (0, 1) has sim 0, v1 = (0, 1) sim 0, v3 = (1, 0) sim 1;
    # tau = 0.5: -log(1 / (1 + 1 + e^2))
    (EYE, SWAP, 0.5, math.log(2 + E**2)),
    # scaled rows: cosine similarity does not see the scale
    (3 * EYE, 0.5 * SWAP, 0.5, math.log(2 + E**2)),
    # one pair: the positive is the only candidate
    (torch.tensor([[1.0, 2.0]]), torch.tensor([[-3.0, 0.5]]), 0.1, 0.0),
]


@pytest.mark.parametrize("z1,z2,tau,expected", NT_XENT)
def test_nt_xent_by_hand(z1, z2, tau, expected):
    assert nt_xent(z1, z2, tau).item() == pytest.approx(expected, abs=1e-6)


def test_nt_xent_is_info_nce_over_the_other_two_n_minus_two_views():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(5, 7, generator=g, dtype=torch.float64), torch.randn(5, 7, generator=g, dtype=torch.float64)
    views = torch.cat([z1, z2])  # (10, 7)
    n = 5
    queries, positives, negatives = [], [], []
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        queries.append(views[i])
        positives.append(views[j])
        negatives.append(views[[k for k in range(2 * n) if k not in (i, j)]])
    expected = info_nce(torch.stack(queries), torch.stack(positives), torch.stack(negatives), temperature=0.3)
    assert nt_xent(z1, z2, 0.3).item() == pytest.approx(expected.item(), rel=1e-12)
    # and it falls when the views agree: a lower loss for z2 close to z1
    assert nt_xent(z1, z1 + 0.01 * z2, 0.3) < nt_xent(z1, z2, 0.3)


def test_info_nce_by_hand():
    q = torch.tensor([[1.0, 0.0]])
    # logits 1 (positive), 0 and -1 (negatives), tau = 1: -log(e / (e + 1 + 1/e)) = log(1 + 1/e + 1/e^2)
    shared = info_nce(q, q, torch.tensor([[0.0, 1.0], [-1.0, 0.0]]), temperature=1.0)
    assert shared.item() == pytest.approx(math.log(1 + 1 / E + 1 / E**2), abs=1e-6)
    per_query = info_nce(q, q, torch.tensor([[[0.0, 1.0], [-1.0, 0.0]]]), temperature=1.0)
    assert per_query.item() == pytest.approx(shared.item(), abs=1e-7)
    # in-batch: query i's negatives are the other positives; logits 1 and 0 -> log(1 + 1/e) for each query
    batch = info_nce(torch.eye(2), torch.eye(2), temperature=1.0)
    assert batch.item() == pytest.approx(math.log(1 + 1 / E), abs=1e-6)
    # without normalisation the dot products are raw: q = (2, 0) doubles the logits
    raw = info_nce(torch.tensor([[2.0, 0.0]]), torch.tensor([[1.0, 0.0]]), torch.tensor([[-1.0, 0.0]]), 1.0, False)
    assert raw.item() == pytest.approx(math.log(1 + E**-4), abs=1e-6)


def test_triplet_loss_by_hand_and_against_torch():
    a = torch.zeros(2, 2)
    p = torch.tensor([[3.0, 4.0], [3.0, 4.0]])  # d(a, p) = 5
    n = torch.tensor([[6.0, 8.0], [0.0, 1.0]])  # d(a, n) = 10, then 1
    # max(0, 5 - 10 + 1) = 0 and max(0, 5 - 1 + 1) = 5 -> mean 2.5; squared: 0 and 25 - 1 + 1 = 25 -> 12.5
    assert triplet_loss(a, p, n, margin=1.0).item() == pytest.approx(2.5)
    assert triplet_loss(a, p, n, margin=1.0, squared=True).item() == pytest.approx(12.5)
    g = torch.Generator().manual_seed(1)
    a, p, n = (torch.randn(9, 4, generator=g, dtype=torch.float64) for _ in range(3))
    oracle = F.triplet_margin_loss(a, p, n, margin=0.7, eps=0.0)  # torch: the same formula, plain distances
    assert triplet_loss(a, p, n, margin=0.7).item() == pytest.approx(oracle.item(), rel=1e-9)


@pytest.mark.parametrize("call,match", [
    (lambda: nt_xent(torch.ones(2, 3), torch.ones(3, 3)), "same shape"),
    (lambda: nt_xent(torch.ones(2, 3), torch.ones(2, 3), temperature=0), "temperature=0"),
    (lambda: info_nce(torch.ones(2, 3), torch.ones(2, 3), torch.ones(4, 5)), r"negatives must be \(M, 3\)"),
    (lambda: info_nce(torch.ones(2, 3), torch.ones(2, 3), torch.ones(3, 4, 3)), r"or \(2, M, 3\)"),
    (lambda: triplet_loss(torch.ones(2, 3), torch.ones(2, 3), torch.ones(2, 3), margin=-1), "margin=-1"),
    (lambda: triplet_loss(torch.ones(2, 3), torch.ones(2, 3), torch.ones(1, 3)), "anchor and negative"),
])
def test_bad_arguments_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_gradients_reach_both_views():
    z1, z2 = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    nt_xent(z1, z2).backward()
    assert z1.grad.abs().sum() > 0 and z2.grad.abs().sum() > 0

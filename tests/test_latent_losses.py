"""Losses of the autoencoder family against Monte Carlo, closed forms and hand-worked values; the linear
autoencoder against PCA; ROC-AUC and thresholds against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pixelwise.losses.latent import (
    AutoencoderLoss,
    contractive_penalty,
    contractive_penalty_sigmoid,
    kl_normal,
    kl_sparsity,
    l1_sparsity,
    reconstruction_loss,
)
from pixelwise.metrics.latent import (
    class_histogram,
    detection_rates,
    histogram_entropy,
    pca,
    pca_reconstruct,
    principal_angles,
    roc_auc,
    threshold_from_normals,
)
from pixelwise.models.autoencoders import AEOutput, MLPAutoencoder

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one intra-op thread is faster


@pytest.mark.parametrize("d", [1, 3, 7])
def test_kl_closed_form_matches_monte_carlo(d):
    g = torch.Generator().manual_seed(d)
    mu = torch.randn(4, d, generator=g, dtype=torch.float64)
    logvar = torch.randn(4, d, generator=g, dtype=torch.float64) * 0.5
    m = 200_000
    eps = torch.randn(m, 4, d, generator=g, dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * eps  # samples of q(z|x)
    log_q = (-0.5 * (eps**2 + logvar + math.log(2 * math.pi))).sum(-1)
    log_p = (-0.5 * (z**2 + math.log(2 * math.pi))).sum(-1)
    mc = (log_q - log_p).mean(0)  # E_q[log q - log p], (4,)
    se = (log_q - log_p).std(0) / math.sqrt(m)
    closed = kl_normal(mu, logvar)
    assert closed.shape == (4,)
    assert torch.all((closed - mc).abs() < 5 * se + 1e-3)


def test_kl_is_zero_only_at_the_prior():
    assert kl_normal(torch.zeros(2, 3), torch.zeros(2, 3)).abs().max() == 0
    assert kl_normal(torch.zeros(1, 1), torch.tensor([[math.log(4.0)]])).item() == pytest.approx(
        0.5 * (4 - math.log(4) - 1))


def test_reconstruction_losses_by_hand():
    x = torch.tensor([[[[0.0, 1.0], [0.5, 0.25]]]])
    logits = torch.tensor([[[[0.0, 2.0], [-1.0, 0.5]]]])
    out = AEOutput(torch.sigmoid(logits), torch.zeros(1, 2), logits)
    p = torch.sigmoid(logits)
    bce = -(x * torch.log(p) + (1 - x) * torch.log(1 - p))
    torch.testing.assert_close(reconstruction_loss(out, x, "bce"), bce.mean())
    torch.testing.assert_close(reconstruction_loss(out, x, "bce", "image"), bce.sum())
    torch.testing.assert_close(reconstruction_loss(out, x, "mse"), ((p - x) ** 2).mean())
    with pytest.raises(ValueError, match="sigmoid decoder"):
        reconstruction_loss(AEOutput(x, x), x, "bce")
    with pytest.raises(ValueError, match="not known"):
        reconstruction_loss(out, x, "l1")
    with pytest.raises(ValueError, match="reduction"):
        reconstruction_loss(out, x, "mse", "batch")


def test_sparsity_penalties_by_hand():
    z = torch.tensor([[0.1, 0.5], [0.3, 0.5]])
    assert l1_sparsity(-z).item() == pytest.approx(0.7)
    rho = 0.2
    rho_hat = [0.2, 0.5]  # the first unit is on target: its KL term is 0
    expected = sum(rho * math.log(rho / r) + (1 - rho) * math.log((1 - rho) / (1 - r)) for r in rho_hat)
    assert kl_sparsity(z, rho).item() == pytest.approx(expected, rel=1e-5)
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="rho"):
            kl_sparsity(z, bad)


@pytest.mark.parametrize("p,d,n", [(5, 3, 4), (9, 1, 2), (16, 6, 3)])
def test_contractive_autograd_matches_closed_form_for_sigmoid_encoder(p, d, n):
    torch.manual_seed(p)
    encoder = torch.nn.Linear(p, d).double()
    x = torch.randn(n, p, dtype=torch.float64, requires_grad=True)
    h = torch.sigmoid(encoder(x))
    exact = contractive_penalty(h, x)
    closed = contractive_penalty_sigmoid(h, encoder.weight)
    torch.testing.assert_close(exact, closed)
    # the penalty is differentiable: its gradient w.r.t. the weights agrees as well
    g1 = torch.autograd.grad(exact, encoder.weight, retain_graph=True)[0]
    g2 = torch.autograd.grad(closed, encoder.weight)[0]
    torch.testing.assert_close(g1, g2)


def test_contractive_needs_grad():
    with pytest.raises(ValueError, match="requires_grad"):
        contractive_penalty(torch.zeros(2, 2), torch.zeros(2, 3))


def test_autoencoder_loss_terms_and_bad_weights():
    torch.manual_seed(0)
    model = MLPAutoencoder((1, 4, 4), 3, hidden=(), variational=True)
    x = torch.rand(5, 1, 4, 4)
    out = model(x)
    loss = AutoencoderLoss(recon="bce", reduction="image", beta=0.5)
    terms = loss.terms(out, x)
    assert set(terms) == {"recon", "kl"}
    torch.testing.assert_close(terms["kl"], 0.5 * kl_normal(out.mu, out.logvar).mean())
    torch.testing.assert_close(loss(out, x), terms["recon"] + terms["kl"])
    sparse = AutoencoderLoss(sparsity="l1", sparsity_weight=0.1)
    assert set(sparse.terms(MLPAutoencoder((1, 4, 4), 3, hidden=())(x), x)) == {"recon", "sparsity"}
    for kwargs in ({"beta": -1}, {"sparsity": "l2"}, {"contractive": -0.1}):
        with pytest.raises(ValueError):
            AutoencoderLoss(**kwargs)


# --- linear autoencoder vs PCA -----------------------------------------------------------------------------
def _low_rank_data(n=400, p=12, k=3, seed=0):
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((p, k)))
    scales = np.array([3.0, 2.0, 1.5])[:k]
    x = (rng.standard_normal((n, k)) * scales) @ basis.T + 0.05 * rng.standard_normal((n, p)) + 0.3
    return x.astype(np.float32)


def test_linear_autoencoder_spans_the_principal_subspace():
    """Baldi and Hornik (1989): a linear AE trained to the optimum spans the top-k principal subspace."""
    x = _low_rank_data()
    k = 3
    torch.manual_seed(0)
    model = MLPAutoencoder((1, 1, x.shape[1]), k, hidden=(), activation="none", output="linear")
    data = torch.from_numpy(x).view(-1, 1, 1, x.shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(1500):
        loss = reconstruction_loss(model(data), data, "mse")
        opt.zero_grad()
        loss.backward()
        opt.step()
    _, components, _ = pca(x, k)
    decoder = model.decoder[0].weight.detach().numpy()  # (p, k): its columns span the decoder's range
    angles = principal_angles(decoder, components.T)
    assert np.degrees(angles.max()) < 2.0, np.degrees(angles)
    # a random subspace is far from it (the test can fail)
    random = np.random.default_rng(1).standard_normal(decoder.shape)
    assert np.degrees(principal_angles(random, components.T).max()) > 30
    # and its error equals PCA's
    rec = pca_reconstruct(x, *pca(x, k)[:2])
    pca_mse = ((rec - x) ** 2).mean()
    assert loss.item() == pytest.approx(pca_mse, rel=0.05)


def test_principal_angles_by_hand():
    a = np.array([[1.0, 0], [0, 1], [0, 0]])
    b = np.array([[1.0], [0], [1]])
    np.testing.assert_allclose(principal_angles(a, b), [np.pi / 4])
    np.testing.assert_allclose(principal_angles(a, a * 3 + 0), [0, 0], atol=1e-7)


def test_pca_errors():
    with pytest.raises(ValueError, match="components"):
        pca(np.zeros((3, 5)), 4)


# --- anomaly scores --------------------------------------------------------------------------------------
def _brute_auc(s, y):
    pos, neg = s[y], s[~y]
    return np.mean([(1.0 if a > b else 0.5 if a == b else 0.0) for a in pos for b in neg])


@pytest.mark.parametrize("seed,n,ties", [(0, 7, False), (1, 30, True), (2, 101, True)])
def test_roc_auc_matches_pair_counting(seed, n, ties):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 5, n).astype(float) if ties else rng.standard_normal(n)
    y = rng.random(n) < 0.3
    y[0], y[1] = True, False
    assert roc_auc(s, y) == pytest.approx(_brute_auc(s, y))


def test_roc_auc_against_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    s = np.round(rng.standard_normal(200), 1)
    y = rng.random(200) < 0.4
    assert roc_auc(s, y) == pytest.approx(sk.roc_auc_score(y, s))


@pytest.mark.parametrize("scores,labels,words", [
    ([1, 2], [1, 1], "both classes"), ([1, 2, 3], [1, 0], "length"), ([np.nan, 1], [1, 0], "NaN"),
])
def test_roc_auc_bad_inputs(scores, labels, words):
    with pytest.raises(ValueError, match=words):
        roc_auc(scores, labels)


def test_threshold_and_rates():
    normals = np.arange(100.0)
    t = threshold_from_normals(normals, 0.1)
    assert t == pytest.approx(89.1)
    rates = detection_rates([95, 10, 99, 20], [1, 0, 1, 1], t)
    assert rates["tpr"] == pytest.approx(2 / 3) and rates["fpr"] == 0.0
    for bad in (0.0, 1.0):
        with pytest.raises(ValueError):
            threshold_from_normals(normals, bad)
    with pytest.raises(ValueError, match="validation"):
        threshold_from_normals([], 0.1)


def test_histogram_entropy():
    assert histogram_entropy(class_histogram(np.arange(10), 10)) == pytest.approx(math.log(10))
    assert histogram_entropy(class_histogram([3] * 9, 10)) == 0.0
    with pytest.raises(ValueError):
        class_histogram([10], 10)


def test_nearest_mse_by_hand():
    """Samples (0, 0) and (1, 1) against references (0, 1) and (1, 1): (0, 0) is (0 + 1) / 2 = 0.5 from (0, 1)
    and 1 from (1, 1), so 0.5; (1, 1) is a copy, 0."""
    from pixelwise.metrics.latent import nearest_mse

    got = nearest_mse(np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([[0.0, 1.0], [1.0, 1.0]]))
    np.testing.assert_allclose(got.numpy(), [0.5, 0.0])

"""DP-SGD, its accountant, federated averaging, adversarial training steps and gradient inversion.

Oracles: Opacus (in [dev]) for the RDP accountant, the noise calibration, per-example gradients and the clipped,
averaged gradient; closed forms by hand (the Gaussian mechanism, order 2 of the sampled one); a loop of
single-example backward passes; FedAvg replayed by hand; and properties (the noise's spread, Poisson rates,
the partitions, inversion without and with DP)."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pixelwise.errors import PixelwiseError
from pixelwise.privacy.accountant import ORDERS, _log_a_integral, epsilon, noise_for_epsilon, rdp
from pixelwise.privacy.dpsgd import check_per_example, clip_and_sum, per_example_gradients, private_gradient
from pixelwise.privacy.inversion import invert_gradient, match_recovered, shared_gradient
from pixelwise.train.adversarial import AdversarialTraining
from pixelwise.train.clients import client_partition
from pixelwise.train.federated import FederatedAveraging, round_batches, rounds_per_epoch
from pixelwise.train.privacy import DPSGD, poisson_batches
from pixelwise.train.protection import AdversarialConfig

opacus = pytest.importorskip("opacus")
pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.filterwarnings("ignore::UserWarning")]

SGM = [(0.01, 1.1), (0.05, 0.6), (0.2, 2.0), (0.001, 0.5), (0.5, 0.8), (0.016, 4.0), (0.3, 0.3)]


@pytest.mark.parametrize("q,sigma", SGM)
def test_rdp_agrees_with_opacus_at_every_order(q, sigma):
    from opacus.accountants.analysis.rdp import compute_rdp

    theirs = compute_rdp(q=q, noise_multiplier=sigma, steps=1, orders=list(ORDERS))
    np.testing.assert_allclose(rdp(q, sigma), theirs, rtol=1e-6)


@pytest.mark.parametrize("q,sigma,steps,delta", [(0.01, 1.1, 1000, 1e-5), (0.02, 0.8, 2500, 1e-6),
                                                 (0.25, 1.5, 40, 1e-3), (1.0, 3.0, 10, 1e-5)])
def test_epsilon_agrees_with_opacus_rdp_accountant(q, sigma, steps, delta):
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    accountant.history = [(sigma, q, steps)]
    assert epsilon(q, sigma, steps, delta)[0] == pytest.approx(accountant.get_epsilon(delta), rel=1e-6)


def test_rdp_closed_forms_by_hand():
    """q = 1 is the Gaussian mechanism, alpha / (2 sigma^2); at alpha = 2 the expectation is
    1 + q^2 (e^{1/sigma^2} - 1), reached here by the quadrature used for fractional orders, too."""
    np.testing.assert_allclose(rdp(1.0, 2.0, [2.0, 3.5, 10.0]), [2 / 8, 3.5 / 8, 10 / 8])
    q, sigma = 0.1, 0.9
    exact = math.log1p(q * q * math.expm1(1 / sigma**2))
    assert rdp(q, sigma, [2.0])[0] == pytest.approx(exact, rel=1e-12)
    assert _log_a_integral(q, sigma, 2.0) == pytest.approx(exact, rel=1e-8)
    assert epsilon(0.0, 1.0, 100, 1e-5)[0] == 0 and math.isinf(epsilon(0.1, 0.0, 1, 1e-5)[0])


@pytest.mark.parametrize("target,q,steps", [(8.0, 0.01, 5000), (1.0, 0.05, 300), (3.0, 0.2, 50)])
def test_noise_calibration_reaches_the_target_as_opacus_does(target, q, steps):
    from opacus.accountants.utils import get_noise_multiplier

    sigma = noise_for_epsilon(target, q, steps, 1e-5)
    assert epsilon(q, sigma, steps, 1e-5)[0] <= target
    assert epsilon(q, sigma * 0.99, steps, 1e-5)[0] > target  # the smallest such noise, to 1%
    theirs = get_noise_multiplier(target_epsilon=target, target_delta=1e-5, sample_rate=q, steps=steps,
                                  accountant="rdp")
    assert sigma == pytest.approx(theirs, rel=0.02) and sigma <= theirs * 1.0001


def test_an_unreachable_target_is_refused():
    with pytest.raises(PixelwiseError, match="cannot be reached"):
        noise_for_epsilon(0.01, 0.5, 10_000, 1e-5)
    with pytest.raises(PixelwiseError, match="delta"):
        epsilon(0.1, 1.0, 10, 1.5)


def _net(norm: bool = True) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.GroupNorm(1, 3) if norm else nn.Identity(), nn.ReLU(), nn.Flatten(),
                         nn.Linear(3 * 5 * 5, 4))


def _batch(n: int = 6):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 1, 7, 7, generator=g), torch.randint(0, 4, (n,), generator=g)


def test_per_example_gradients_match_a_loop_and_opacus():
    from opacus import GradSampleModule

    model, (x, y) = _net(), _batch()
    grads, losses = per_example_gradients(model, F.cross_entropy, x, y)
    for i in range(len(x)):  # one backward pass per example
        model.zero_grad()
        loss = F.cross_entropy(model(x[i:i + 1]), y[i:i + 1])
        loss.backward()
        assert losses[i].item() == pytest.approx(loss.item(), rel=1e-6)
        for name, p in model.named_parameters():
            torch.testing.assert_close(grads[name][i], p.grad, rtol=1e-5, atol=1e-7)
    wrapped = GradSampleModule(copy.deepcopy(model), loss_reduction="mean")
    F.cross_entropy(wrapped(x), y).backward()
    for name, p in wrapped._module.named_parameters():
        torch.testing.assert_close(grads[name], p.grad_sample, rtol=1e-5, atol=1e-7)


def test_clipped_average_matches_opacus_dp_optimizer():
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    model, (x, y) = _net(), _batch()
    ours, _ = private_gradient(model, F.cross_entropy, x, y, clip=0.5, noise=0.0, expected_batch=6)
    other = copy.deepcopy(model)
    wrapped = GradSampleModule(other, loss_reduction="mean")
    F.cross_entropy(wrapped(x), y).backward()
    optimizer = DPOptimizer(torch.optim.SGD(other.parameters(), lr=0.1), noise_multiplier=0.0, max_grad_norm=0.5,
                            expected_batch_size=6, loss_reduction="mean")
    optimizer.pre_step()  # clip, (no) noise, scale: the gradient the step would use
    for name, p in other.named_parameters():
        torch.testing.assert_close(ours[name], p.grad, rtol=1e-4, atol=1e-8)


def test_clipping_by_hand_and_the_noise_spread():
    grads = {"a": torch.tensor([[3.0, 0.0], [0.3, 0.4]]), "b": torch.tensor([[0.0], [0.0]])}
    summed, norms = clip_and_sum(grads, clip=1.0)
    torch.testing.assert_close(norms, torch.tensor([3.0, 0.5]))
    torch.testing.assert_close(summed["a"], torch.tensor([1.3, 0.4]))  # (1, 0) after clipping, plus (0.3, 0.4)
    model = nn.Linear(200, 100)  # 20,100 parameters: the spread of the noise is measured to about 1%
    x, y = torch.zeros(4, 200), torch.zeros(4, 100)
    clean, _ = private_gradient(model, F.mse_loss, x, y, clip=2.0, noise=0.0, expected_batch=4)
    noisy, _ = private_gradient(model, F.mse_loss, x, y, clip=2.0, noise=1.5, expected_batch=4,
                                generator=torch.Generator().manual_seed(0))
    spread = torch.cat([(noisy[k] - clean[k]).flatten() for k in clean]).std().item()
    assert spread == pytest.approx(1.5 * 2.0 / 4, rel=0.03)


def test_dpsgd_refuses_batch_norm_and_takes_empty_batches():
    with pytest.raises(ValueError, match="batch normalisation"):
        check_per_example(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)))
    with pytest.raises(PixelwiseError, match="--norm group"):
        DPSGD(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)), 1.0, 1.0, 4)
    model = _net()
    step = DPSGD(model, 1.0, 1.0, 4)
    torch.manual_seed(0)
    loss = step(model, F.cross_entropy, torch.zeros(0, 1, 7, 7), torch.zeros(0, dtype=torch.long))
    assert loss.item() == 0 and all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_poisson_batches_include_each_case_at_the_rate():
    sampler = poisson_batches(50, 0.2, 400)
    counts = np.zeros(50)
    sizes = []
    for idx in sampler(0, torch.Generator().manual_seed(0)):
        counts[idx] += 1
        sizes.append(len(idx))
    assert counts.mean() / 400 == pytest.approx(0.2, rel=0.03)
    assert np.var(sizes) == pytest.approx(50 * 0.2 * 0.8, rel=0.2)  # binomial sizes, not a fixed batch


@pytest.mark.parametrize("how", ["iid", "class", "brightness"])
def test_client_partitions(how):
    labels = np.repeat(np.arange(10), 12)  # 120 cases, 12 per class
    brightness = np.random.default_rng(0).random(120)
    parts = client_partition(120, 5, how, seed=3, labels=labels, statistic=brightness)
    assert sorted(i for p in parts for i in p) == list(range(120))
    assert {len(p) for p in parts} == {24}
    if how == "class":  # 10 shards of one class each, two per client
        assert all(len(set(labels[p])) == 2 for p in parts)
    if how == "brightness":  # contiguous bands
        bands = sorted((brightness[p].min(), brightness[p].max()) for p in parts)
        assert all(a[1] < b[0] for a, b in zip(bands, bands[1:]))
    if how == "iid":
        assert max(len(set(labels[p])) for p in parts) >= 8
    assert client_partition(120, 5, how, seed=3, labels=labels, statistic=brightness) == parts


def test_client_partition_refusals():
    with pytest.raises(PixelwiseError, match="more than the 4 training cases"):
        client_partition(4, 5, "iid", 0)
    with pytest.raises(PixelwiseError, match="needs class labels"):
        client_partition(10, 2, "class", 0)


def test_a_fedavg_round_is_the_weighted_average_of_the_clients_local_training():
    """Replayed by hand: each chosen client trains a copy with a fresh Adam on its own batches; the global weights
    become the average weighted by the clients' case counts; the hook leaves no gradient."""
    model = _net()
    x, y = _batch(12)
    parts = [[0, 1, 2, 3, 4, 5, 6], [7, 8, 9], [10, 11]]

    def client(k):
        def epoch_batches(epoch, generator):
            order = torch.tensor(parts[k])[torch.randperm(len(parts[k]), generator=generator)]
            for s in range(0, len(order), 2):
                yield x[order[s:s + 2]], y[order[s:s + 2]]
        return epoch_batches

    hook = FederatedAveraging(model, [client(k) for k in range(3)], [7, 3, 2], local_epochs=2, lr=0.01)
    start = copy.deepcopy(model)
    chosen, seeds = torch.tensor([0, 2]), torch.tensor([11, 12])
    hook(model, F.cross_entropy, chosen, seeds)
    expected = {k: torch.zeros_like(v) for k, v in start.state_dict().items()}
    for k, seed in zip(chosen.tolist(), seeds.tolist()):
        local = copy.deepcopy(start)
        opt = torch.optim.Adam(local.parameters(), lr=0.01)
        g = torch.Generator().manual_seed(seed)
        for epoch in range(2):
            for xb, yb in client(k)(epoch, g):
                opt.zero_grad()
                F.cross_entropy(local(xb), yb).backward()
                opt.step()
        for name, v in local.state_dict().items():
            expected[name] += [7, 3, 2][k] / 9 * v
    for name, v in model.state_dict().items():
        torch.testing.assert_close(v, expected[name], rtol=1e-5, atol=1e-6)
    assert all(p.grad is None for p in model.parameters())
    rounds = list(round_batches(10, 0.3, )(0, torch.Generator().manual_seed(0)))
    assert len(rounds) == rounds_per_epoch(10, 0.3) == 4 and all(len(c) == 3 for c, _ in rounds)


def test_adversarial_step_mixes_clean_and_fgsm_losses_by_hand():
    """f(x) = sum(w x): FGSM moves x by epsilon sign(w) (the loss -f grows along it), so with weight 1/4 the loss
    is 3/4 L(x) + 1/4 L(x + eps sign(w)) (pixels inside [0, 1], unit normalisation)."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 1, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, -2.0, 0.5, -0.1]]))
    loss_fn = lambda out, y: -out.mean()  # noqa: E731
    x = torch.full((1, 1, 2, 2), 0.5)
    settings = AdversarialConfig(adversarial="fgsm", epsilon=0.1, adv_weight=0.25)
    value = AdversarialTraining(model, settings)(model, loss_fn, x, None)
    shifted = x.flatten() - 0.1 * torch.tensor([1.0, -2.0, 0.5, -0.1]).sign()
    expected = 0.75 * -(0.5 * (1 - 2 + 0.5 - 0.1)) + 0.25 * -(shifted * torch.tensor([1.0, -2, 0.5, -0.1])).sum()
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)


def test_match_recovered_by_hand():
    truth = torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)])
    recovered = torch.stack([torch.full((1, 4, 4), 0.9), torch.full((1, 4, 4), 0.2)])
    order, psnrs = match_recovered(recovered, truth)
    assert order == [1, 0]
    assert psnrs == pytest.approx([10 * math.log10(1 / 0.04), 10 * math.log10(1 / 0.01)])


def test_gradient_inversion_recovers_an_image_and_dp_stops_it():
    """One 8x8 image from the gradient of a small conv net: the plain gradient gives it back (PSNR > 25 dB, far above
    a constant image's); DP-SGD's (clip 1, noise 1) leaves a recovery at least 10 dB worse."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Sigmoid(), nn.Flatten(), nn.Linear(4 * 64, 3))
    yy, xx = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    x = ((xx - 3) ** 2 + (yy - 4) ** 2 < 9).float()[None, None] * 0.8 + 0.1
    y = torch.tensor([1])
    g = shared_gradient(model, F.cross_entropy, x, y)
    plain = invert_gradient(model, F.cross_entropy, g, y, tuple(x.shape), iterations=200, tv_weight=1e-3,
                            generator=torch.Generator().manual_seed(1))
    noisy = shared_gradient(model, F.cross_entropy, x, y, clip=1.0, noise=1.0,
                            generator=torch.Generator().manual_seed(2))
    private = invert_gradient(model, F.cross_entropy, noisy, y, tuple(x.shape), iterations=200, tv_weight=1e-3,
                              generator=torch.Generator().manual_seed(1))
    p_plain, p_private = match_recovered(plain, x)[1][0], match_recovered(private, x)[1][0]
    assert p_plain > 25 and p_plain - p_private >= 10, (p_plain, p_private)


def test_fit_backward_hook_is_used_and_default_unchanged():
    from pixelwise.train import FitConfig, fit

    x, y = _batch(8)
    calls = []

    def backward(forward, loss_fn, xb, yb):
        calls.append(len(xb))
        loss = loss_fn(forward(xb), yb)
        loss.backward()
        return loss

    def batches(epoch, generator):
        yield x[:4], y[:4]
        yield x[4:], y[4:]

    a, b = _net(), _net()
    config = FitConfig(epochs=2, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ra = fit(a, F.cross_entropy, batches, 2, config=config, log=lambda s: None)
        rb = fit(b, F.cross_entropy, batches, 2, config=config, log=lambda s: None, backward=backward)
    assert calls == [4, 4, 4, 4]
    assert [r["train_loss"] for r in ra.history] == [r["train_loss"] for r in rb.history]
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)

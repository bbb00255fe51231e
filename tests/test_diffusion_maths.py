"""DDPM maths checked numerically: the closed-form marginal against simulating the chain, the posterior
against Gaussian conditioning, the one-step identity L_x = (beta_t / alpha_t) L_eps, and the sampler
against the exact noise predictor of Gaussian data; plus the time-conditioned U-Net's shapes."""

from __future__ import annotations

import math

import pytest
import torch

from pixelwise.diffusion import NoiseSchedule, epsilon_loss, min_snr_weights, sample, step
from pixelwise.models.diffusion_unet import SelfAttention2d, TimeUNet, timestep_embedding

SCHEDULE_TABLE = [("linear", 50), ("cosine", 50), ("linear", 7), ("cosine", 1)]

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one intra-op thread is faster


def _schedule(kind, T):
    return NoiseSchedule.named(kind, T)


@pytest.mark.parametrize("kind,T", SCHEDULE_TABLE)
def test_schedule_quantities(kind, T):
    s = _schedule(kind, T)
    assert s.T == T and s.betas.shape == (T,)
    torch.testing.assert_close(s.alphas, 1 - s.betas)
    products = [math.prod(s.alphas[: i + 1].tolist()) for i in range(T)]
    torch.testing.assert_close(s.alpha_bars, torch.tensor(products, dtype=torch.float64))
    assert torch.all(s.alpha_bars[1:] < s.alpha_bars[:-1])
    assert s.alpha_bar_prev[0] == 1


def test_cosine_alpha_bar_follows_the_formula():
    T, s = 40, 0.008
    sched = NoiseSchedule.cosine(T, s)
    f = [math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2 for t in range(T + 1)]
    expected = torch.tensor([f[t] / f[0] for t in range(1, T + 1)], dtype=torch.float64)
    torch.testing.assert_close(sched.alpha_bars[:-1], expected[:-1])  # the last beta is clipped at 0.999
    assert sched.betas.max() <= 0.999


def test_linear_schedule_ends():
    s = NoiseSchedule.linear(1000)
    assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(0.02)
    assert NoiseSchedule.linear(100).alpha_bars[-1] == pytest.approx(s.alpha_bars[-1].item(), rel=0.5)


@pytest.mark.parametrize("make,words", [
    (lambda: NoiseSchedule.linear(0), "T="), (lambda: NoiseSchedule.linear(10, 0.5, 0.1), "beta_start"),
    (lambda: NoiseSchedule(torch.tensor([0.1, 1.0])), "beta_t"),
    (lambda: NoiseSchedule.named("sqrt", 10), "not known"),
    (lambda: NoiseSchedule.cosine(10, s=-1), "offset"), (lambda: NoiseSchedule(torch.zeros(0)), "non-empty"),
])
def test_bad_schedules(make, words):
    with pytest.raises(ValueError, match=words):
        make()


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_closed_form_marginal_matches_simulated_chain(kind):
    """x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) n_t, step by step, vs the closed form
    N(sqrt(alpha_bar_t) x_0, 1 - alpha_bar_t)."""
    sched = _schedule(kind, 30)
    g = torch.Generator().manual_seed(0)
    x0 = torch.tensor([-1.0, 0.3, 2.0], dtype=torch.float64)
    m = 100_000
    x = x0.expand(m, 3).clone()
    for t in range(sched.T):
        noise = torch.randn(m, 3, generator=g, dtype=torch.float64)
        x = sched.alphas[t].sqrt() * x + sched.betas[t].sqrt() * noise
        if t in (0, 4, 17, 29):
            mean_cf = sched.alpha_bars[t].sqrt() * x0
            var_cf = 1 - sched.alpha_bars[t]
            se_mean = (var_cf / m).sqrt()
            assert torch.all((x.mean(0) - mean_cf).abs() < 5 * se_mean), t
            se_var = var_cf * math.sqrt(2 / m)
            assert torch.all((x.var(0) - var_cf).abs() < 5 * se_var), t
            # and add_noise draws from the same distribution
            y = sched.add_noise(x0.expand(m, 3), torch.randn(m, 3, generator=g, dtype=torch.float64), t)
            assert torch.all((y.mean(0) - mean_cf).abs() < 5 * se_mean)


@pytest.mark.parametrize("kind,T", [("linear", 50), ("cosine", 50), ("linear", 3)])
def test_posterior_matches_gaussian_conditioning(kind, T):
    """(x_{t-1}, x_t) | x_0 is jointly Gaussian: x_{t-1} ~ N(sqrt(ab_{t-1}) x_0, 1 - ab_{t-1}),
    x_t = sqrt(a_t) x_{t-1} + sqrt(b_t) n. Conditioning gives mean m1 + C / V (x_t - m2) and variance
    (1 - ab_{t-1}) - C^2 / V with C = sqrt(a_t) (1 - ab_{t-1}), V = 1 - ab_t."""
    sched = _schedule(kind, T)
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(6, dtype=torch.float64, generator=g)
    x_t = torch.randn(6, dtype=torch.float64, generator=g)
    for t in range(T):
        a, abp, ab = sched.alphas[t], sched.alpha_bar_prev[t], sched.alpha_bars[t]
        c, v = a.sqrt() * (1 - abp), 1 - ab
        mean = abp.sqrt() * x0 + c / v * (x_t - ab.sqrt() * x0)
        var = (1 - abp) - c**2 / v
        torch.testing.assert_close(sched.posterior_mean(x_t, x0, t), mean)
        torch.testing.assert_close(sched.posterior_mean_ho(x_t, x0, t), mean)
        torch.testing.assert_close(sched.posterior_variance(t), var, atol=1e-12, rtol=1e-9)
    tt = torch.arange(6) % T  # batched t gives the same
    expected = torch.stack([sched.posterior_mean(x_t[i], x0[i], int(tt[i])) for i in range(6)])
    torch.testing.assert_close(sched.posterior_mean(x_t.view(6, 1), x0.view(6, 1), tt).flatten(), expected)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_one_step_identity_L_x_equals_beta_over_alpha_L_eps(kind):  # noqa: N802
    """With x_0 predicted from eps (x0_hat = (x_t - sqrt(1 - ab_t) eps_hat) / sqrt(ab_t)):
    ||x_0 - x0_hat||^2 = (1 - ab_t) / ab_t ||eps - eps_hat||^2, which at the first step (ab_1 = a_1,
    1 - ab_1 = b_1) is L_x = (beta_1 / alpha_1) L_eps; the posterior means differ by
    beta_t^2 / (alpha_t (1 - ab_t)) ||eps - eps_hat||^2, again beta_1 / alpha_1 at the first step."""
    sched = _schedule(kind, 20)
    g = torch.Generator().manual_seed(2)
    x0, eps, eps_hat = (torch.randn(4, 1, 5, 5, generator=g, dtype=torch.float64) for _ in range(3))
    for t in range(sched.T):
        x_t = sched.add_noise(x0, eps, t)
        torch.testing.assert_close(sched.predict_x0(x_t, eps, t), x0)
        l_eps = (eps - eps_hat).pow(2).sum()
        l_x = (x0 - sched.predict_x0(x_t, eps_hat, t)).pow(2).sum()
        ab, a, b = sched.alpha_bars[t], sched.alphas[t], sched.betas[t]
        torch.testing.assert_close(l_x, (1 - ab) / ab * l_eps)
        true_mean = sched.posterior_mean(x_t, x0, t)
        torch.testing.assert_close(sched.epsilon_mean(x_t, eps, t), true_mean)
        l_mu = (true_mean - sched.epsilon_mean(x_t, eps_hat, t)).pow(2).sum()
        torch.testing.assert_close(l_mu, b**2 / (a * (1 - ab)) * l_eps)
        if t == 0:
            torch.testing.assert_close(l_x, b / a * l_eps)
            torch.testing.assert_close(l_mu, b / a * l_eps)


def test_step_mean_variance_and_last_step():
    sched = NoiseSchedule.linear(10)
    g = torch.Generator().manual_seed(3)
    x_t, eps = torch.randn(2, 1, 3, 3, generator=g), torch.randn(2, 1, 3, 3, generator=g)
    out = step(sched, eps, 5, x_t, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.mean, sched.epsilon_mean(x_t, eps, 5))
    assert out.variance == pytest.approx(sched.betas[5].item())
    z = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.prev_sample, out.mean + out.variance**0.5 * z)
    post = step(sched, eps, 5, x_t, variance="posterior")
    assert post.variance == pytest.approx(sched.posterior_variance(5).item())
    last = step(sched, eps, 0, x_t)
    assert last.variance == 0.0 and torch.equal(last.prev_sample, last.mean)
    clipped = step(sched, eps, 5, x_t, clip_x0=1e6)  # nothing clipped: the same mean
    torch.testing.assert_close(clipped.mean, out.mean)
    with pytest.raises(ValueError, match="t="):
        step(sched, eps, 10, x_t)
    with pytest.raises(ValueError, match="variance"):
        step(sched, eps, 1, x_t, variance="learned")


@pytest.mark.parametrize("kind,variance", [("linear", "beta"), ("cosine", "posterior")])
def test_sampler_with_exact_noise_predictor_recovers_gaussian_data(kind, variance):
    """For data x_0 ~ N(m, s^2) the optimal predictor is E[eps | x_t] = sqrt(1 - ab) (x_t - sqrt(ab) m) /
    (ab s^2 + 1 - ab); ancestral sampling with it must return samples with mean m and std s."""
    m, s = 0.7, 0.3
    sched = _schedule(kind, 200)

    def oracle(x, t):
        ab = sched.alpha_bars[t].float().view(-1, 1)
        return (1 - ab).sqrt() * (x - ab.sqrt() * m) / (ab * s**2 + 1 - ab)

    x = sample(oracle, sched, (10_000, 1), torch.Generator().manual_seed(0), variance=variance)
    assert x.mean().item() == pytest.approx(m, abs=0.01)
    assert x.std().item() == pytest.approx(s, rel=0.05)
    seen = []
    sample(oracle, NoiseSchedule.linear(5), (2, 1), callback=lambda t, out: seen.append(t))
    assert seen == [4, 3, 2, 1, 0]


@pytest.mark.parametrize("attention", [0, 2])
@pytest.mark.parametrize("shape", [(2, 1, 28, 28), (3, 1, 8, 8), (1, 2, 13, 9), (2, 3, 5, 7)])
def test_time_unet_shapes_and_time_dependence(shape, attention):
    torch.manual_seed(0)
    net = TimeUNet(shape[1], base=8, mults=(1, 2, 2), attention=attention)
    assert (net.mid_attention is not None) == bool(attention)
    x = torch.randn(shape)
    t = torch.arange(shape[0])
    y = net(x, t)
    assert y.shape == x.shape
    y.pow(2).mean().backward()
    assert all(p.grad is not None for p in net.parameters())
    with torch.no_grad():
        assert not torch.allclose(net(x, t), net(x, t + 37))


def test_self_attention_by_hand_and_permutation_equivariance():
    torch.manual_seed(0)
    block = SelfAttention2d(4, heads=2)
    x = torch.randn(3, 4, 5, 3)
    # by hand: per head h (channels 2h, 2h+1), out = softmax(Q K^T / sqrt(2)) V over the 15 positions
    z = block.norm(x)
    qkv = torch.einsum("oc,nchw->nohw", block.qkv.weight[:, :, 0, 0], z) + block.qkv.bias[None, :, None, None]
    q, k, v = (qkv[:, 4 * i:4 * i + 4].flatten(2) for i in range(3))  # (N, 4, HW)
    heads = []
    for h in range(2):
        qh, kh, vh = (a[:, 2 * h:2 * h + 2] for a in (q, k, v))
        weights = torch.softmax(torch.einsum("ndi,ndj->nij", qh, kh) / math.sqrt(2), dim=-1)
        heads.append(torch.einsum("nij,ndj->ndi", weights, vh))
    mixed = torch.cat(heads, 1).reshape(3, 4, 5, 3)
    expected = x + torch.einsum("oc,nchw->nohw", block.proj.weight[:, :, 0, 0], mixed) \
        + block.proj.bias[None, :, None, None]
    torch.testing.assert_close(block(x), expected, atol=1e-5, rtol=1e-5)
    # no position encoding: permuting the positions permutes the output alike
    perm = torch.randperm(15)
    shuffled = x.flatten(2)[..., perm].reshape(x.shape)
    torch.testing.assert_close(block(shuffled), block(x).flatten(2)[..., perm].reshape(x.shape),
                               atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="multiple of heads"):
        SelfAttention2d(6, heads=4)


def test_time_unet_bad_inputs_and_embedding():
    with pytest.raises(ValueError, match="mults"):
        TimeUNet(1, 8, mults=())
    with pytest.raises(ValueError, match="t must have shape"):
        TimeUNet(1, 8)(torch.zeros(2, 1, 8, 8), torch.zeros(3, dtype=torch.long))
    emb = timestep_embedding(torch.tensor([0, 5]), 7)
    assert emb.shape == (2, 7)
    torch.testing.assert_close(emb[0, :3], torch.zeros(3))  # sin(0) = 0
    torch.testing.assert_close(emb[0, 3:6], torch.ones(3))  # cos(0) = 1


def test_epsilon_loss_trains_a_tiny_net():
    torch.manual_seed(0)
    sched = NoiseSchedule.linear(20)
    net = TimeUNet(1, base=8, mults=(1, 2))
    x0 = (torch.rand(16, 1, 8, 8) > 0.5).float() * 2 - 1
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(60):
        loss = epsilon_loss(net, sched, x0, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10


def test_snr_and_min_snr_weights_by_hand():
    """betas (0.5, 0.5) give alpha_bar = (0.5, 0.25), so SNR = (1, 1/3); with gamma = 0.5 the Min-SNR weights
    min(SNR, gamma) / SNR are (0.5, 1) (Hang et al. 2023, epsilon target)."""
    schedule = NoiseSchedule(torch.tensor([0.5, 0.5]))
    t = torch.tensor([0, 1, 1, 0])
    torch.testing.assert_close(schedule.snr(t), torch.tensor([1.0, 1 / 3, 1 / 3, 1.0], dtype=torch.float64))
    assert float(schedule.snr(1)) == pytest.approx(1 / 3)
    torch.testing.assert_close(min_snr_weights(schedule, t, 0.5),
                               torch.tensor([0.5, 1.0, 1.0, 0.5], dtype=torch.float64))
    torch.testing.assert_close(min_snr_weights(schedule, t, 5.0), torch.ones(4, dtype=torch.float64))
    cosine = NoiseSchedule.cosine(1000)
    w = min_snr_weights(cosine, torch.arange(1000), 5.0)
    assert w.max() == 1 and w.min() > 0 and bool((w[1:] >= w[:-1]).all())  # noisier steps weigh no less
    with pytest.raises(ValueError, match="gamma"):
        min_snr_weights(schedule, t, 0.0)

"""DDIM sampling (Song, Meng and Ermon 2021): the step sequence by hand, eta = 1 on every step is the DDPM
ancestral sampler with the posterior variance, eta = 0 draws no noise after x_T, point data are recovered
exactly and Gaussian data in distribution; ``generate(steps=...)`` and ``diffuse sample --steps`` end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pixelwise.cli import main
from pixelwise.diffusion import NoiseSchedule, langevin_correct, sample
from pixelwise.diffusion.ddim import ddim_sample, ddim_step, ddim_timesteps
from pixelwise.errors import PixelwiseError
from pixelwise.tasks.diffuse import DiffusionConfig, generate, run

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one intra-op thread is faster


@pytest.mark.parametrize("T,steps,expected", [
    (1000, 5, [999, 749, 500, 250, 0]),  # 999 k / 4 = 999, 749.25, 499.5, 249.75, 0, rounded half up
    (10, 3, [9, 5, 0]),  # 4.5 rounds up to 5
    (7, 7, [6, 5, 4, 3, 2, 1, 0]),  # every step
    (10, 1, [9]),
    (2, 2, [1, 0]),
])
def test_timesteps_by_hand(T, steps, expected):
    assert ddim_timesteps(T, steps) == expected


def test_timesteps_are_distinct_for_every_count():
    for steps in range(1, 60):
        times = ddim_timesteps(59, steps)
        assert len(times) == steps and times[0] == 58 and times[-1] == (0 if steps > 1 else 58)
        assert all(a > b for a, b in zip(times, times[1:], strict=False))


def _toy_model(x, t):
    """Any smooth noise predictor, different at every t, for comparing two samplers step by step."""
    return torch.sin(1.3 * x + 0.01 * t.view(-1, *([1] * (x.dim() - 1))).float()) * 0.8


@pytest.mark.parametrize("kind,T,clip", [("cosine", 30, None), ("linear", 17, 1.0), ("cosine", 1, None)])
def test_eta_one_on_every_step_is_ancestral_with_posterior_variance(kind, T, clip):
    """Song et al. 2021, section 4.1: with eta = 1 the DDIM step is the DDPM posterior step (sigma^2 =
    beta_tilde_t), so with the same generator the two samplers give the same samples."""
    sched = NoiseSchedule.named(kind, T)
    shape = (5, 2, 3, 7)
    ancestral = sample(_toy_model, sched, shape, torch.Generator().manual_seed(3), "posterior", clip)
    ddim = ddim_sample(_toy_model, sched, shape, T, 1.0, torch.Generator().manual_seed(3), clip)
    torch.testing.assert_close(ddim, ancestral, atol=2e-5, rtol=1e-5)


def test_one_step_by_hand():
    """betas (0.1, 0.2): alpha_bar = (0.9, 0.72). From t = 1 to 0 with x_t = 1, eps = 0.5, eta = 0:
    x0 = (1 - sqrt(0.28) 0.5) / sqrt(0.72) = 0.866707..., x_s = sqrt(0.9) x0 + sqrt(0.1) 0.5 = 0.980344...;
    then to x_0 (t_next = -1) the result is x0 itself."""
    sched = NoiseSchedule(torch.tensor([0.1, 0.2]))
    out = ddim_step(sched, torch.tensor([0.5]), 1, 0, torch.tensor([1.0]))
    assert out.pred_x0.item() == pytest.approx(0.8667065, abs=1e-6)
    assert out.prev_sample.item() == pytest.approx(0.9803439, abs=1e-6)
    assert out.variance == 0.0
    last = ddim_step(sched, torch.tensor([0.5]), 1, -1, torch.tensor([1.0]), eta=1.0)
    assert last.prev_sample.item() == pytest.approx(0.8667065, abs=1e-6) and last.variance == 0.0
    noisy = ddim_step(sched, torch.tensor([0.5]), 1, 0, torch.tensor([1.0]), eta=0.5)
    # sigma^2 = 0.25 (1 - 0.9) / (1 - 0.72) (1 - 0.72 / 0.9) = 0.25 * 0.1 / 0.28 * 0.2 = 0.017857...
    assert noisy.variance == pytest.approx(0.0178571, abs=1e-6)
    assert noisy.mean.item() == pytest.approx(0.9655329, abs=1e-6)  # sqrt(0.9) x0 + sqrt(0.1 - sigma^2) 0.5


def test_eta_zero_draws_only_x_T():
    """Deterministic DDIM: after x_T ~ N(0, I) no noise is drawn, so the generator has moved by exactly one
    draw of the sample's shape, and every step reports variance 0."""
    sched, shape = NoiseSchedule.cosine(40), (3, 1, 5, 5)
    generator, seen = torch.Generator().manual_seed(11), []
    ddim_sample(_toy_model, sched, shape, 8, 0.0, generator, callback=lambda t, out: seen.append((t, out.variance)))
    reference = torch.Generator().manual_seed(11)
    torch.randn(shape, generator=reference)
    assert torch.equal(generator.get_state(), reference.get_state())
    assert [t for t, _ in seen] == ddim_timesteps(40, 8) and all(v == 0 for _, v in seen)


@pytest.mark.parametrize("steps,eta", [(2, 0.0), (5, 0.0), (5, 1.0), (23, 0.3)])
def test_point_data_are_recovered_exactly(steps, eta):
    """Data all at m: the exact noise predictor is (x_t - sqrt(ab) m) / sqrt(1 - ab), so every x0 estimate is
    m and the sampler must end at m, whatever the steps and the noise."""
    m, sched = 0.7, NoiseSchedule.cosine(50)

    def oracle(x, t):
        ab = sched.alpha_bars[t].float().view(-1, 1)
        return (x - ab.sqrt() * m) / (1 - ab).sqrt()

    x = ddim_sample(oracle, sched, (100, 1), steps, eta, torch.Generator().manual_seed(0))
    torch.testing.assert_close(x, torch.full_like(x, m), atol=1e-5, rtol=0)


def _gaussian_oracle(sched, m, s):
    """For x_0 ~ N(m, s^2) the optimal predictor E[eps | x_t] = sqrt(1 - ab) (x_t - sqrt(ab) m) / (ab s^2 + 1 - ab)."""

    def oracle(x, t):
        ab = sched.alpha_bars[t].float().view(-1, 1)
        return (1 - ab).sqrt() * (x - ab.sqrt() * m) / (ab * s**2 + 1 - ab)

    return oracle


@pytest.mark.parametrize("steps,eta,rel", [(100, 0.0, 0.04), (1000, 0.0, 0.02), (1000, 1.0, 0.03)])
def test_gaussian_data_in_distribution(steps, eta, rel):
    """DDIM with the exact predictor of N(m, s^2) data must return mean m and std s, to the discretisation
    of the steps (measured: std 0.295 at 100 steps, 0.301 at 1000, eta = 0)."""
    m, s = 0.7, 0.3
    sched = NoiseSchedule.cosine(1000)
    x = ddim_sample(_gaussian_oracle(sched, m, s), sched, (10_000, 1), steps, eta, torch.Generator().manual_seed(0))
    assert x.mean().item() == pytest.approx(m, abs=0.01)
    assert x.std().item() == pytest.approx(s, rel=rel)


def test_deterministic_ddim_converges_with_more_steps():
    """From the same x_T, eta = 0 follows the probability-flow ODE more closely with more steps: the std of
    the Gaussian data (0.3) is approached from below (measured 0.268, 0.295, 0.301 at 20, 100, 1000)."""
    m, s = 0.7, 0.3
    sched = NoiseSchedule.cosine(1000)
    oracle = _gaussian_oracle(sched, m, s)
    errors = [abs(ddim_sample(oracle, sched, (10_000, 1), steps, 0.0, torch.Generator().manual_seed(1)).std().item()
                  - s) for steps in (20, 100, 1000)]
    assert errors[0] > errors[1] > errors[2] and errors[0] > 0.02


@pytest.mark.parametrize("call,words", [
    (lambda: ddim_timesteps(10, 0), "steps=0"),
    (lambda: ddim_timesteps(10, 11), "1..10"),
    (lambda: ddim_timesteps(10, 2.5), "steps=2.5"),
    (lambda: ddim_step(NoiseSchedule.cosine(5), torch.zeros(1), 2, 3, torch.zeros(1)), "go down"),
    (lambda: ddim_step(NoiseSchedule.cosine(5), torch.zeros(1), 5, 3, torch.zeros(1)), "go down"),
    (lambda: ddim_step(NoiseSchedule.cosine(5), torch.zeros(1), 2, 1, torch.zeros(1), eta=-1), "eta=-1"),
])
def test_bad_arguments(call, words):
    with pytest.raises(ValueError, match=words):
        call()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    pytest.importorskip("sklearn")
    out = tmp_path_factory.mktemp("ddim") / "run"
    run(DiffusionConfig(data="digits", out=str(out), T=12, base=8, mults=(1, 2), max_images=64, epochs=1,
                        batch_size=32, n_samples=2), progress=False, log=lambda m: None)
    return out


def test_generate_with_steps(tiny_run):
    calls = []
    images = generate(tiny_run, 3, seed=4, steps=4, callback=lambda t, out: calls.append(t))
    assert images.shape == (3, 1, 8, 8) and 0 <= images.min() and images.max() <= 1
    assert calls == ddim_timesteps(12, 4)
    np.testing.assert_array_equal(images, generate(tiny_run, 3, seed=4, steps=4))
    assert not np.array_equal(images, generate(tiny_run, 3, seed=4, steps=4, eta=1.0))
    every = generate(tiny_run, 3, seed=4, steps=12, eta=1.0)
    np.testing.assert_allclose(every, generate(tiny_run, 3, seed=4, variance="posterior"), atol=1e-5)


@pytest.mark.parametrize("kwargs,words", [
    ({"steps": 0}, "steps=0 must be a whole number in 1..12"),
    ({"steps": 13}, "1..12"),
    ({"steps": 2.0}, "steps=2.0"),
    ({"steps": True}, "steps=True"),
    ({"steps": 4, "eta": -0.5}, "eta=-0.5"),
    ({"eta": 1.0}, "--steps K"),
    ({"steps": 4, "variance": "posterior"}, "leave out one"),
])
def test_generate_bad_sampler_arguments(tiny_run, kwargs, words):
    with pytest.raises(PixelwiseError, match=words):
        generate(tiny_run, 2, **kwargs)


def test_cli_sample_with_steps(tiny_run, tmp_path, capsys):
    png = tmp_path / "s.png"
    assert main(["diffuse", "sample", "--run", str(tiny_run), "-n", "3", "--steps", "5", "--eta", "0.5",
                 "--out", str(png)]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), generate(tiny_run, 3, steps=5, eta=0.5))
    assert main(["diffuse", "sample", "--run", str(tiny_run), "--eta", "1", "--out", str(png)]) == 2
    err = capsys.readouterr().err
    assert "--steps K" in err and err.count("\n") == 1


# --- predictor-corrector: Langevin corrector steps (Song et al. 2021) -------------------------------------


@pytest.mark.parametrize("T,M,snr", [(200, 1, 0.1), (200, 2, 0.1), (1000, 1, 0.1)])
def test_predictor_corrector_with_exact_predictor_recovers_gaussian_data(T, M, snr):
    """With the exact score of N(m, s^2) data, corrector steps leave the sampled distribution where it belongs
    (measured: std 0.300 to 0.304 for s = 0.3)."""
    m, s = 0.7, 0.3
    sched = NoiseSchedule.cosine(T)
    x = sample(_gaussian_oracle(sched, m, s), sched, (10_000, 1), torch.Generator().manual_seed(0),
               corrector_steps=M, snr=snr)
    assert x.mean().item() == pytest.approx(m, abs=0.01)
    assert x.std().item() == pytest.approx(s, rel=0.03)


def test_langevin_corrector_pulls_a_wrong_start_to_the_marginal():
    """Started far from p_t (std 0.2 around 0, where p_t = N(sqrt(ab) m, ab s^2 + 1 - ab) has std 0.747 around
    0.488 at t = 100 of 200), Langevin steps with the exact score end near p_t (measured after 200 steps at
    r = 0.1: mean 0.470, std 0.754)."""
    m, s, t = 0.7, 0.3, 100
    sched = NoiseSchedule.cosine(200)
    oracle = _gaussian_oracle(sched, m, s)
    ab = sched.alpha_bars[t].item()
    generator = torch.Generator().manual_seed(0)
    x = 0.2 * torch.randn(10_000, 1, generator=generator)
    for _ in range(200):
        x = langevin_correct(sched, oracle(x, torch.full((10_000,), t)), t, x, 0.1, generator)
    assert x.mean().item() == pytest.approx(ab**0.5 * m, abs=0.04)
    assert x.std().item() == pytest.approx((ab * s**2 + 1 - ab) ** 0.5, rel=0.03)


def test_one_corrector_step_by_hand():
    """x = (1, 2) (two samples of one pixel), eps = (0.5, -1), t = 0 of betas (0.1, 0.2): score = -eps / sqrt(0.1)
    = (-1.5811, 3.1623), mean |score| = 2.3717; with z the generator's draw, the step is
    2 alpha_0 (r mean|z| / mean|score|)^2 and x + step score + sqrt(2 step) z."""
    sched = NoiseSchedule(torch.tensor([0.1, 0.2]))
    x, eps = torch.tensor([[1.0], [2.0]]), torch.tensor([[0.5], [-1.0]])
    out = langevin_correct(sched, eps, 0, x, 0.2, torch.Generator().manual_seed(5))
    z = torch.randn(2, 1, generator=torch.Generator().manual_seed(5))
    size = 2 * 0.9 * (0.2 * z.abs().mean().item() / 2.3717082) ** 2
    score = torch.tensor([[-1.5811388], [3.1622777]])
    torch.testing.assert_close(out, x + size * score + (2 * size) ** 0.5 * z, atol=1e-5, rtol=1e-5)


def test_no_corrector_is_the_plain_sampler_and_each_corrector_step_is_one_call():
    sched, shape, calls = NoiseSchedule.linear(9), (2, 1, 3, 3), []

    def counting(x, t):
        calls.append(int(t[0]))
        return _toy_model(x, t)

    plain = sample(_toy_model, sched, shape, torch.Generator().manual_seed(2))
    torch.testing.assert_close(sample(counting, sched, shape, torch.Generator().manual_seed(2), corrector_steps=0),
                               plain, atol=0, rtol=0)
    calls.clear()
    corrected = sample(counting, sched, shape, torch.Generator().manual_seed(2), corrector_steps=2)
    assert len(calls) == 3 * 9 - 2 and calls[:3] == [8, 7, 7] and calls[-1] == 0
    assert not torch.equal(corrected, plain)


@pytest.mark.parametrize("call,words", [
    (lambda: sample(_toy_model, NoiseSchedule.linear(3), (1, 1), corrector_steps=-1), "corrector_steps=-1"),
    (lambda: sample(_toy_model, NoiseSchedule.linear(3), (1, 1), corrector_steps=1.5), "corrector_steps=1.5"),
    (lambda: langevin_correct(NoiseSchedule.linear(3), torch.ones(2, 1), 1, torch.ones(2, 1), 0.0), "snr=0"),
    (lambda: langevin_correct(NoiseSchedule.linear(3), torch.ones(2, 1), 3, torch.ones(2, 1), 0.1), "t=3"),
    (lambda: langevin_correct(NoiseSchedule.linear(3), torch.ones(2), 1, torch.ones(2), 0.1), "batch"),
])
def test_corrector_bad_arguments(call, words):
    with pytest.raises(ValueError, match=words):
        call()


def test_generate_and_cli_with_corrector_steps(tiny_run, tmp_path, capsys):
    calls = []
    images = generate(tiny_run, 2, seed=1, corrector_steps=1, snr=0.2, callback=lambda t, out: calls.append(t))
    assert images.shape == (2, 1, 8, 8) and calls == list(reversed(range(12)))
    np.testing.assert_array_equal(images, generate(tiny_run, 2, seed=1, corrector_steps=1, snr=0.2))
    assert not np.array_equal(images, generate(tiny_run, 2, seed=1))
    png = tmp_path / "pc.png"
    assert main(["diffuse", "sample", "--run", str(tiny_run), "-n", "2", "--seed", "1", "--corrector-steps", "1",
                 "--snr", "0.2", "--out", str(png)]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "pc.npy"), images)
    assert main(["diffuse", "sample", "--run", str(tiny_run), "--corrector-steps", "1", "--steps", "4",
                 "--out", str(png)]) == 2
    err = capsys.readouterr().err
    assert "--corrector-steps 0" in err and err.count("\n") == 1


@pytest.mark.parametrize("kwargs,words", [
    ({"corrector_steps": -1}, "corrector_steps=-1"),
    ({"corrector_steps": 1.5}, "corrector_steps=1.5"),
    ({"corrector_steps": 1, "snr": 0.0}, "snr=0.0"),
    ({"corrector_steps": 1, "steps": 3}, "not DDIM"),
])
def test_generate_bad_corrector_arguments(tiny_run, kwargs, words):
    with pytest.raises(PixelwiseError, match=words):
        generate(tiny_run, 2, **kwargs)


def test_a_run_trained_with_a_corrector_samples_with_it(tmp_path):
    pytest.importorskip("sklearn")
    with pytest.raises(PixelwiseError, match="snr=-1"):
        DiffusionConfig(corrector_steps=1, snr=-1.0)
    with pytest.raises(PixelwiseError, match="corrector_steps=-2"):
        DiffusionConfig(corrector_steps=-2)
    out = tmp_path / "pc"
    result = run(DiffusionConfig(data="digits", out=str(out), T=6, base=8, mults=(1, 2), max_images=64, epochs=1,
                                 batch_size=32, n_samples=2, corrector_steps=2, snr=0.3),
                 progress=False, log=lambda m: None)
    assert result.metrics["n_samples"] == 2 and result.metrics["corrector_steps"] == 2
    np.testing.assert_array_equal(generate(out, 2, seed=3), generate(out, 2, seed=3, corrector_steps=2, snr=0.3))
    assert generate(out, 2, seed=3, steps=3).shape == (2, 1, 8, 8)  # DDIM: the run's corrector left out

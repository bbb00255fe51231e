"""GANs: shapes, losses by hand, the gradient penalty against a critic with a known gradient, the gradient
routing of the one-loss adversarial objective and its saved step counter, mode coverage, ``latent train --model
gan`` end to end, and bitwise kill-and-resume in both stages (the judge, then the GAN)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from latent_runs import AdamSteps, same_run

from pixelwise.errors import PixelwiseError
from pixelwise.losses.gan import (
    critic_loss,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    wgan_generator_loss,
)
from pixelwise.metrics import summarise
from pixelwise.models.gan import GAN, DigitClassifier, Discriminator, Generator
from pixelwise.tasks.classify import ClassifierConfig, jitter, mode_coverage, train_classifier
from pixelwise.tasks.latent import (
    AdversarialObjective,
    LatentConfig,
    loop_settings,
    objective_value,
    run,
    train_batches,
)
from pixelwise.train import fit
from pixelwise.train.checkpoint import load_state
from pixelwise.train.files import read_csv

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one intra-op thread is faster


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (2, 13, 9), (1, 4, 5)])
def test_shapes(shape):
    torch.manual_seed(0)
    g, d = Generator(shape, 7, 8), Discriminator(shape, 8, norm="none")
    x = g(torch.randn(3, 7))
    assert x.shape == (3, *shape) and x.abs().max() <= 1
    assert d(x).shape == (3,)
    assert DigitClassifier(shape, 10, 8)(x).shape == (3, 10)


@pytest.mark.parametrize("make,words", [
    (lambda: Generator((1, 3, 8)), "H, W >= 4"), (lambda: Generator((1, 8, 8), latent_dim=0), "latent_dim"),
    (lambda: Discriminator((1, 8, 8), norm="layer"), "norm"),
    (lambda: DigitClassifier((1, 8, 8), 1), "num_classes"),
])
def test_bad_models(make, words):
    with pytest.raises(ValueError, match=words):
        make()


def test_losses_by_hand():
    real, fake = torch.tensor([0.0, 2.0]), torch.tensor([-1.0, 0.0])
    sp = torch.nn.functional.softplus  # -log sigmoid(a) = softplus(-a); -log(1 - sigmoid(a)) = softplus(a)
    expected = sp(-real).mean() + sp(fake).mean()
    torch.testing.assert_close(discriminator_loss(real, fake), expected)
    torch.testing.assert_close(generator_loss(fake), sp(-fake).mean())
    torch.testing.assert_close(critic_loss(real, fake), torch.tensor(-0.5 - 1.0))
    torch.testing.assert_close(wgan_generator_loss(fake), torch.tensor(0.5))
    at_half = discriminator_loss(torch.tensor([0.0]), torch.tensor([0.0])).item()  # D = 1/2 everywhere
    assert at_half == pytest.approx(2 * math.log(2))


@pytest.mark.parametrize("scale,expected", [(1.0, 0.0), (3.0, 4.0), (0.5, 0.25)])
def test_gradient_penalty_of_a_linear_critic(scale, expected):
    """D(x) = <w, x> has gradient w everywhere: the penalty is (||w|| - 1)^2 whatever the mix."""
    w = torch.randn(1, 2, 3, 3)
    w = scale * w / w.norm()
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    real, fake = torch.randn(4, 2, 3, 3), torch.randn(4, 2, 3, 3)
    gp = gradient_penalty(critic, real, fake, torch.rand(4))
    assert gp.item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("kind", ["gan", "wgan"])
def test_objective_routes_each_gradient_to_its_player(kind):
    """One backward of L_D + L_G(frozen D) gives D exactly dL_D and G exactly dL_G."""
    torch.manual_seed(0)
    gan = GAN((1, 8, 8), 4, 8, norm="none")
    objective = AdversarialObjective(gan, kind, n_critic=1, gp_lambda=10.0)
    real, z, mix = torch.rand(5, 1, 8, 8) * 2 - 1, torch.randn(5, 4), torch.rand(5)
    objective((real, z, mix)).backward()
    got = {n: p.grad.clone() for n, p in gan.named_parameters()}
    gan.zero_grad()
    fake = gan.generator(z)
    if kind == "gan":
        l_d = discriminator_loss(gan.discriminator(real), gan.discriminator(fake.detach()))
    else:
        l_d = critic_loss(gan.discriminator(real), gan.discriminator(fake.detach())) + 10 * gradient_penalty(
            gan.discriminator, real, fake, mix)
    d_params = list(gan.discriminator.parameters())
    d_names = [n for n, _ in gan.discriminator.named_parameters()]
    for name, grad in zip(d_names, torch.autograd.grad(l_d, d_params)):
        torch.testing.assert_close(got["discriminator." + name], grad)
    scores = gan.discriminator(gan.generator(z))
    l_g = generator_loss(scores) if kind == "gan" else wgan_generator_loss(scores)
    g_params = list(gan.generator.parameters())
    g_names = [n for n, _ in gan.generator.named_parameters()]
    for name, grad in zip(g_names, torch.autograd.grad(l_g, g_params)):
        torch.testing.assert_close(got["generator." + name], grad)


def test_n_critic_leaves_the_generator_without_gradient():
    torch.manual_seed(0)
    gan = GAN((1, 8, 8), 4, 8, norm="none")
    objective = AdversarialObjective(gan, "wgan", n_critic=3)
    batch = (torch.rand(4, 1, 8, 8), torch.randn(4, 4), torch.rand(4))
    with_g = []
    for _ in range(6):
        gan.zero_grad(set_to_none=True)
        objective(batch).backward()
        with_g.append(all(p.grad is not None for p in gan.generator.parameters()))
        assert all(p.grad is not None for p in gan.discriminator.parameters())
    assert with_g == [False, False, True, False, False, True]


class _Fixed(torch.nn.Module):
    """A 'classifier' that reads the class off the first pixel (for mode-coverage tests)."""

    def forward(self, x):
        k = (x[:, 0, 0, 0] * 10).long().clamp(0, 9)
        return torch.nn.functional.one_hot(k, 10).float() * 20


@pytest.mark.parametrize("classes,found,entropy", [
    (list(range(10)) * 3, 10, math.log(10)), ([4] * 30, 1, 0.0), ([1, 2] * 15, 2, math.log(2)),
])
def test_mode_coverage(classes, found, entropy):
    x = np.zeros((len(classes), 1, 4, 4), np.float32)
    x[:, 0, 0, 0] = (np.array(classes) + 0.5) / 10
    cov = mode_coverage(_Fixed(), x)
    assert cov["classes_found"] == found and cov["entropy"] == pytest.approx(entropy)
    assert cov["confident_fraction"] == 1.0 and sum(cov["histogram"]) == pytest.approx(1.0)


def test_mode_coverage_agreement_with_the_classes_asked_for():
    class Scaled(torch.nn.Module):  # class from pixel (0, 0), logit scale from pixel (0, 1): 0 gives uniform
        def forward(self, x):
            k = (x[:, 0, 0, 0] * 10).long().clamp(0, 9)
            return torch.nn.functional.one_hot(k, 10).float() * 20 * x[:, 0, 0, 1, None]

    x = np.zeros((4, 1, 2, 2), np.float32)
    x[:, 0, 0, 0] = (np.array([1, 2, 3, 4]) + 0.5) / 10
    x[:, 0, 0, 1] = [1, 1, 1, 0]  # the last image: uniform probabilities, argmax class 0, not confident
    cov = mode_coverage(Scaled(), x, labels=np.array([1, 2, 0, 0]))
    # classified as 1, 2, 3, 0: agree on images 0, 1 and 3; confident and agreeing on 0 and 1
    assert cov["agreement"] == 0.75 and cov["confident_agreement"] == 0.5 and cov["confident_fraction"] == 0.75
    assert "agreement" not in mode_coverage(Scaled(), x)
    with pytest.raises(ValueError, match="do not match"):
        mode_coverage(Scaled(), x, labels=np.zeros(3))


@pytest.mark.parametrize("kwargs,words", [
    ({"model": "dcgan"}, "wgan"), ({"n_critic": 0}, "n_critic"), ({"batch_size": 1}, "batch_size"),
    ({"gp_lambda": -1}, "gp_lambda"), ({"classifier_epochs": 0}, "classifier_epochs"), ({"n_samples": 0}, "n_samples"),
    ({"anomaly_class": 1}, "anomaly_class"), ({"betas": (0.5,)}, "betas"),
])
def test_bad_gan_configs(kwargs, words):
    with pytest.raises(PixelwiseError, match=words):
        LatentConfig(**{"model": "wgan", **kwargs})


@pytest.mark.parametrize("kind,n_critic,words", [("vae", 1, "kind"), ("gan", 0, "n_critic")])
def test_bad_objectives(kind, n_critic, words):
    with pytest.raises(ValueError, match=words):
        AdversarialObjective(GAN((1, 8, 8), 4, 8), kind, n_critic)


def test_the_step_counter_is_in_the_state_dict_and_restored():
    """The counter that schedules the generator term travels with the weights: an objective loaded from another
    after 4 calls takes its generator step where the other would (n_critic = 3: at the 6th call)."""
    torch.manual_seed(0)
    a = AdversarialObjective(GAN((1, 8, 8), 4, 8, norm="none"), "wgan", n_critic=3)
    batch = (torch.rand(4, 1, 8, 8), torch.randn(4, 4), torch.rand(4))
    for _ in range(4):
        a(batch)
    assert int(a.state_dict()["calls"]) == 4
    b = AdversarialObjective(GAN((1, 8, 8), 4, 8, norm="none"), "wgan", n_critic=3)
    b.load_state_dict(a.state_dict())
    with_g = []
    for _ in range(3):
        b.zero_grad(set_to_none=True)
        b(batch).backward()
        with_g.append(all(p.grad is not None for p in b.gan.generator.parameters()))
    assert with_g == [False, True, False]


# model -> the papers' optimiser settings: DCGAN (Radford et al. 2016, sec. 4); WGAN-GP (Gulrajani et al. 2017,
# Algorithm 1: alpha = 1e-4, beta_1 = 0, beta_2 = 0.9, n_critic = 5, lambda = 10)
PAPER_SETTINGS = {"gan": dict(lr=2e-4, betas=(0.5, 0.999), n_critic=1, gp_lambda=10.0),
                  "wgan": dict(lr=1e-4, betas=(0.0, 0.9), n_critic=5, gp_lambda=10.0)}


@pytest.mark.parametrize("model", list(PAPER_SETTINGS))
def test_gan_config_defaults_are_the_papers(model):
    config = LatentConfig(model=model)
    assert {k: getattr(config, k) for k in PAPER_SETTINGS[model]} == PAPER_SETTINGS[model]
    loop = loop_settings(config)
    assert loop.betas == PAPER_SETTINGS[model]["betas"] and loop.lr == PAPER_SETTINGS[model]["lr"]
    assert (loop.schedule, loop.monitor, loop.mode) == ("constant", "val_coverage", "max")
    assert loop_settings(config, labelled=False).monitor == "train_loss"  # no labels: no judge


class _ToyGAN(torch.nn.Module):
    """Two small MLP players on 2-D points (the recipe's objective only needs .generator, .discriminator)."""

    def __init__(self, latent_dim: int = 4, width: int = 64):
        super().__init__()
        nn = torch.nn
        self.latent_dim = latent_dim
        self.generator = nn.Sequential(nn.Linear(latent_dim, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                       nn.Linear(width, 2))
        self.discriminator = nn.Sequential(nn.Linear(2, width), nn.LeakyReLU(0.2), nn.Linear(width, width),
                                           nn.LeakyReLU(0.2), nn.Linear(width, 1), nn.Flatten(0))


def _energy_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """2 E|X - Y| - E|X - X'| - E|Y - Y'| (Szekely and Rizzo 2013): zero iff the distributions agree."""
    return float(2 * torch.cdist(a, b).mean() - torch.cdist(a, a).mean() - torch.cdist(b, b).mean())


def test_dcgan_learns_a_2d_gaussian():
    """The recipe's objective, batches and loop settings (the papers' defaults) fit N(mu, diag(0.5, 0.1)^2):
    the energy distance to held-out data falls to a tenth of its value at initialisation (about 3.4 there,
    0.02-0.06 after 384 steps over several seeds) and the sample mean moves most of the way to mu."""
    torch.manual_seed(0)
    mu, sigma = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 0.1])
    data = torch.Generator().manual_seed(0)
    train, test = mu + sigma * torch.randn(1024, 2, generator=data), mu + sigma * torch.randn(512, 2, generator=data)
    config = LatentConfig(model="gan", latent_dim=4, batch_size=64, epochs=24, seed=0)
    objective = AdversarialObjective(_ToyGAN(config.latent_dim), config.model, config.n_critic, config.gp_lambda)
    z = torch.randn(512, config.latent_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = objective.gan.generator(z)
    batches, steps = train_batches(train, config.latent_dim, config.batch_size)
    result = fit(objective, objective_value, batches, steps, None, loop_settings(config, labelled=False),
                 log=lambda _: None)
    assert result.steps == 24 * 16
    with torch.no_grad():
        after = objective.gan.generator(z)
    assert _energy_distance(after, test) < 0.1 * _energy_distance(before, test)
    assert (after.mean(0) - mu).norm() < 0.25 * (before.mean(0) - mu).norm()


def test_cli_gan_end_to_end(tmp_path):
    pytest.importorskip("sklearn")
    import json

    from pixelwise.cli import main

    out = tmp_path / "g"
    assert main(["latent", "train", "--model", "wgan", "--data", "digits", "--max-images", "200", "--epochs", "2",
                 "--latent-dim", "8", "--base", "8", "--classifier-epochs", "2", "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "wgan" and 1 <= metrics["mode_coverage"]["classes_found"] <= 10
    # per sample: the judge's top probability and whether it is confident; their aggregate matches the histogram
    rows = read_csv(out / "per_case.csv")
    assert len(rows) == metrics["n_cases"] == 64 and all(0.1 <= r["max_probability"] <= 1 for r in rows)
    assert metrics["metrics"]["confident"]["mean"] == pytest.approx(metrics["mode_coverage"]["confident_fraction"])
    assert metrics["metrics"]["max_probability"] == pytest.approx(
        summarise([r["max_probability"] for r in rows], seed=0), rel=1e-6)
    assert metrics["metrics"]["real_test_max_probability"]["n"] == 20
    assert (out / "classifier" / "checkpoints" / "best.safetensors").is_file()
    # the run's Adam really got the WGAN-GP betas, and the run folder records n_critic and lambda
    state = load_state(out / "checkpoints" / "last_state.pt")
    assert tuple(state["optimizer"]["param_groups"][0]["betas"]) == PAPER_SETTINGS["wgan"]["betas"]
    config = json.loads((out / "config.json").read_text())
    assert (config["n_critic"], config["gp_lambda"]) == (5, 10.0)
    assert main(["latent", "sample", "--run", str(out), "-n", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").is_file()
    assert main(["latent", "eval", "--run", str(out), "--quiet"]) == 0
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert main(["latent", "eval", "--run", str(out), "--which", "last", "--quiet"]) == 0
    assert (out / "evaluations" / "test-last" / "metrics.json").is_file()
    assert main(["latent", "eval", "--run", str(out), "--data", "digits"]) == 2  # evaluated by its samples


def _blob(size: int, centre: tuple[float, float], sigma: float) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64),
                            indexing="ij")
    return torch.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * sigma ** 2))[None, None]


def _moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mass, centroid (row, col) and mean squared radius about the centroid of each image (N, 1, H, W)."""
    size = x.shape[-1]
    yy, xx = torch.meshgrid(torch.arange(size, dtype=x.dtype), torch.arange(size, dtype=x.dtype), indexing="ij")
    mass = x.sum((1, 2, 3))
    cy, cx = (x * yy).sum((1, 2, 3)) / mass, (x * xx).sum((1, 2, 3)) / mass
    r2 = (x * ((yy - cy[:, None, None, None]) ** 2 + (xx - cx[:, None, None, None]) ** 2)).sum((1, 2, 3)) / mass
    return mass, torch.stack([cy, cx], 1), r2


def test_jitter_with_no_range_is_the_identity():
    x = torch.rand(3, 2, 9, 7, generator=torch.Generator().manual_seed(1))
    out = jitter(x, torch.Generator().manual_seed(0), 0.0, 0.0, 0.0)
    torch.testing.assert_close(out, x, atol=1e-6, rtol=0)


def test_jitter_shift_moves_mass_by_at_most_the_range():
    """Pure translation of an interior blob: bilinear weights sum to one, so the mass is kept, and the
    centroid moves by at most max_shift of the side in each axis (and by different amounts per image)."""
    x = _blob(31, (15.0, 15.0), 1.5).repeat(16, 1, 1, 1)
    out = jitter(x, torch.Generator().manual_seed(0), max_rotation=0.0, max_shift=0.1, max_scale=0.0)
    mass0, c0, _ = _moments(x)
    mass, c, _ = _moments(out)
    torch.testing.assert_close(mass, mass0, rtol=1e-6, atol=0)
    moved = (c - c0).abs()
    assert moved.max() <= 0.1 * 31 + 1e-6 and moved.max() > 0.5 * 0.1 * 31 / 2
    assert len({round(float(v), 3) for v in moved[:, 0]}) == 16


def test_jitter_rotation_keeps_a_centred_round_blob_and_zoom_scales_its_radius():
    sigma = 5.0
    x = _blob(41, (20.0, 20.0), sigma).repeat(8, 1, 1, 1)
    rotated = jitter(x, torch.Generator().manual_seed(0), max_rotation=45.0, max_shift=0.0, max_scale=0.0)
    # bilinear interpolation errs by at most h^2/8 max|f''| per axis, 1 / (4 sigma^2) for this unit-peak blob
    torch.testing.assert_close(rotated, x, atol=1 / (4 * sigma**2), rtol=0)
    zoomed = jitter(x, torch.Generator().manual_seed(0), max_rotation=0.0, max_shift=0.0, max_scale=0.2)
    _, c, r2 = _moments(zoomed)
    _, c0, r20 = _moments(x)
    ratio = (r2 / r20).sqrt()  # the radius scales by the zoom, which lies in 1 +- 0.2
    assert ((ratio > 0.8 - 1e-2) & (ratio < 1.2 + 1e-2)).all() and (ratio - 1).abs().max() > 0.05
    torch.testing.assert_close(c, c0, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kwargs,words", [
    ({"max_rotation": -1}, "max_rotation"), ({"max_shift": float("nan")}, "max_shift"),
    ({"max_scale": 1.0}, "max_scale"), ({"val_fraction": 1.0}, "val_fraction"),
])
def test_bad_classifier_configs(kwargs, words):
    with pytest.raises(PixelwiseError, match=words):
        ClassifierConfig(**kwargs)


def test_jittered_training_is_seeded_and_differs_from_plain():
    rng = np.random.default_rng(0)
    images = rng.random((40, 1, 8, 8)).astype(np.float32)
    labels = np.arange(40) % 4
    runs = [train_classifier(images, labels, ClassifierConfig(epochs=2, batch_size=8, base=4, augment=a),
                             log=lambda m: None)[0] for a in (True, True, False)]
    x = torch.from_numpy(images)
    with torch.no_grad():
        a, b, c = (m(x) for m in runs)
    torch.testing.assert_close(a, b)
    assert (a - c).abs().max() > 1e-4


# --- kill and resume: bitwise in deterministic mode, in both stages ------------------------------------------
def _tiny_gan(out) -> LatentConfig:
    """96 training digits: the judge takes 1 step per epoch (86 images, batch 128), the GAN 3 (batch 32);
    n_critic = 2, so that the saved step counter decides where the resumed run's generator steps fall."""
    return LatentConfig(data="digits", out=str(out), model="wgan", n_critic=2, latent_dim=4, base=4, max_images=120,
                        epochs=3, batch_size=32, classifier_epochs=2, n_samples=16, deterministic=True)


@pytest.mark.parametrize("kill_at,steps_after", [
    (2 + 5, 6),  # inside the GAN's second epoch: the finished judge reused, the GAN resumed at epoch 2
    (2, 1 + 9),  # inside the judge's second epoch (no GAN checkpoint yet): the judge resumed, then the whole GAN
])
def test_kill_and_resume_is_bitwise(tmp_path, monkeypatch, kill_at, steps_after):
    pytest.importorskip("sklearn")
    whole = run(_tiny_gan(tmp_path / "whole"), progress=False, log=lambda _: None)
    assert sum(row["steps"] for row in whole.history) == 9
    assert len(read_csv(tmp_path / "whole" / "classifier" / "history.csv")) == 2
    steps = AdamSteps(monkeypatch, interrupt_at=kill_at)
    with pytest.raises(KeyboardInterrupt):
        run(_tiny_gan(tmp_path / "cut"), progress=False, log=lambda _: None)
    run(_tiny_gan(tmp_path / "cut"), resume=True, progress=False, log=lambda _: None)
    assert steps.n == steps_after
    same_run(tmp_path / "whole", tmp_path / "cut", stages=("", "classifier"))
    state = load_state(tmp_path / "cut" / "checkpoints" / "last_state.pt")
    assert int(state["model"]["calls"]) == 9  # the counter is part of the loop's checkpoint


def test_a_run_killed_in_its_judge_stage_refuses_changed_settings(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    AdamSteps(monkeypatch, interrupt_at=2)
    config = _tiny_gan(tmp_path / "cut")
    with pytest.raises(KeyboardInterrupt):
        run(config, progress=False, log=lambda _: None)
    assert not (tmp_path / "cut" / "checkpoints" / "last_state.pt").exists()
    with pytest.raises(PixelwiseError, match="n_critic=3"):
        run(dataclasses.replace(_tiny_gan(tmp_path / "cut"), n_critic=3), resume=True, progress=False,
            log=lambda _: None)

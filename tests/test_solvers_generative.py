"""Generative priors inside solvers, against closed forms: CSGM (Bora et al. 2017) with a linear generator is ridge
regression in the latent code; DPS (Chung et al. 2023) with the exact noise predictor of a Gaussian image
distribution samples that distribution when unguided and fits the measured pixels when guided."""

from __future__ import annotations

import pytest
import torch

from pixelwise.diffusion import NoiseSchedule
from pixelwise.physics import Inpainting, random_mask
from pixelwise.solvers.dps import dps
from pixelwise.solvers.generative import csgm

pytestmark = pytest.mark.usefixtures("one_thread")


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_csgm_with_a_linear_generator_is_ridge_regression_in_the_code():
    """G(z) = B z + c: the minimiser of ||A G(z) - y||^2 + lam ||z||^2 is z* = (M^T M + lam I)^-1 M^T (y - A c), with
    M = A B; it is unique (convex), so every restart reaches it."""
    size, d, lam = (5, 7), 4, 0.05
    b = torch.randn(35, d, generator=_g(1), dtype=torch.float64) * 0.3
    c = torch.rand(35, generator=_g(2), dtype=torch.float64)

    def generator(z):
        return (z.double() @ b.T + c).reshape(-1, 1, *size).float()

    op = Inpainting(random_mask(size, 0.6, _g(3)))
    y = op.A(generator(torch.randn(1, d, generator=_g(4))).double()) + 0.01
    m = op.A(torch.eye(35, dtype=torch.float64).reshape(35, 1, *size)).reshape(35, 35).T @ b  # A B, (35, d)
    rhs = (y.reshape(-1) - op.A(c.reshape(1, 1, *size)).reshape(-1))
    z = torch.linalg.solve(m.T @ m + lam * torch.eye(d, dtype=torch.float64), m.T @ rhs)
    expected = (z @ b.T + c).reshape(1, 1, *size)
    found = csgm(op, y, generator, d, lam, iterations=1500, restarts=3, lr=0.02, seed=_g(5))
    torch.testing.assert_close(found, expected, atol=2e-3, rtol=0)


def test_csgm_keeps_the_restart_that_fits_the_measurement_best():
    """A generator with two basins (|z| near 1 gives the image 1, near -1 the image 0): from several restarts the
    one in the basin of the measured image is kept."""
    op = Inpainting(torch.ones(3, 3))

    def generator(z):
        return torch.sigmoid(20 * z[:, :1]).reshape(-1, 1, 1, 1).expand(-1, 1, 3, 3)

    y = torch.ones(1, 1, 3, 3, dtype=torch.float64)
    found = csgm(op, y, generator, 1, lam=0.0, iterations=50, restarts=6, lr=0.05, seed=_g(0))
    assert float(found.min()) > 0.9


def _gaussian_model(schedule: NoiseSchedule, mean: float, std: float):
    """The exact noise predictor of x0 ~ N(mean, std^2 I) (in [-1, 1]): E[eps | x_t] = sqrt(1 - ab) (x_t - sqrt(ab)
    mean) / (ab std^2 + 1 - ab)."""
    def model(x, t):
        ab = schedule.alpha_bars[t].to(x.dtype).view(-1, 1, 1, 1)
        return (1 - ab).sqrt() * (x - ab.sqrt() * mean) / (ab * std**2 + 1 - ab)
    return model


@pytest.fixture(scope="module")
def gaussian():
    schedule = NoiseSchedule.cosine(100)
    return schedule, _gaussian_model(schedule, -0.2, 0.4)  # images ~ N(0.4, 0.2^2) in [0, 1]


def test_dps_without_guidance_samples_the_prior(gaussian):
    schedule, model = gaussian
    op = Inpainting(torch.ones(32, 32))
    x = dps(op, torch.zeros(1, 1, 32, 32), model, schedule, (1, 1, 32, 32), step=0.0, generator=_g(1))
    assert float(x.mean()) == pytest.approx(0.4, abs=0.03)
    assert float(x.std()) == pytest.approx(0.2, rel=0.1)


def test_dps_fits_the_measured_pixels_and_leaves_the_others_to_the_prior(gaussian):
    schedule, model = gaussian
    mask = random_mask((32, 32), 0.5, _g(2))
    op = Inpainting(mask)
    truth = 0.4 + 0.2 * torch.randn(1, 1, 32, 32, generator=_g(3))
    y = op.A(truth)
    kept = mask.bool()
    seen = []
    guided = dps(op, y, model, schedule, (1, 1, 32, 32), step=1.0, generator=_g(4),
                 callback=lambda k, x0: seen.append(k))
    free = dps(op, y, model, schedule, (1, 1, 32, 32), step=0.0, generator=_g(4))
    error = (guided - truth.double()).abs()[0, 0]
    assert float(error[kept].mean()) < 0.25 * float((free - truth.double()).abs()[0, 0][kept].mean())
    assert float(guided[0, 0][~kept].mean()) == pytest.approx(0.4, abs=0.05)  # unmeasured: the prior's mean
    assert seen == list(range(1, 101))


@pytest.mark.parametrize("call", [
    lambda: csgm(Inpainting(torch.ones(2, 2)), torch.zeros(1, 1, 2, 2), lambda z: z, 1, lam=-1.0),
    lambda: csgm(Inpainting(torch.ones(2, 2)), torch.zeros(1, 1, 2, 2), lambda z: z, 1, restarts=0),
    lambda: dps(Inpainting(torch.ones(2, 2)), torch.zeros(1, 1, 2, 2), lambda x, t: x, NoiseSchedule.cosine(2),
                (1, 1, 2, 2), step=-1.0),
    lambda: dps(Inpainting(torch.ones(2, 2)), torch.zeros(1, 1, 2, 2), lambda x, t: x, NoiseSchedule.cosine(2),
                (1, 1, 2, 2), clip_x0=0.0),
])
def test_bad_hyperparameters_raise_value_error(call):
    with pytest.raises(ValueError):
        call()

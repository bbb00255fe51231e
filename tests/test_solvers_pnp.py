"""Plug-and-play, RED, the data step and l1-wavelet, against closed forms: a denoiser that is the proximal map of
a ridge penalty turns HQS, ADMM and PnP-PGD into Tikhonov problems solved exactly; a symmetric linear denoiser
turns RED into a linear system; the data step is checked against a dense solve of (A^T A + alpha I) x = b."""

from __future__ import annotations

import math

import pytest
import torch

from pixelwise.data.samples import sample
from pixelwise.metrics import psnr
from pixelwise.physics import (
    MRI,
    AveragePool,
    Blur,
    GaussianNoise,
    Identity,
    Inpainting,
    Radon,
    gaussian_kernel,
    motion_kernel,
    random_mask,
    views,
)
from pixelwise.solvers import tikhonov, tv_pdhg
from pixelwise.solvers.data_step import data_step
from pixelwise.solvers.landweber import default_step
from pixelwise.solvers.pnp import pnp, scaled_denoiser, sigma_schedule
from pixelwise.solvers.red import red
from pixelwise.solvers.wavelet import l1_wavelet, soft_threshold

pytestmark = pytest.mark.usefixtures("one_thread")


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _dense(op, shape) -> torch.Tensor:
    """The matrix of A (rows: measurement entries, columns: pixels), from the images of the basis vectors."""
    n = math.prod(shape)
    return op.A(torch.eye(n, dtype=torch.float64).reshape(n, *shape)).reshape(n, -1).T


DATA_STEP_OPERATORS = {
    "denoise (FFT)": lambda s: Identity(),
    "circular blur (FFT)": lambda s: Blur(gaussian_kernel(1.0), "circular"),
    "MRI (FFT)": lambda s: MRI.cartesian(s, 2, generator=_g(2)),
    "inpainting (element-wise)": lambda s: Inpainting(random_mask(s, 0.5, _g(1))),
    "zero-boundary motion blur (CG)": lambda s: Blur(motion_kernel(3, 30), "zero"),
    "average pooling (CG)": lambda s: AveragePool(3),
    "CT (CG)": lambda s: Radon(s, views(5)),
}


@pytest.mark.parametrize("name", list(DATA_STEP_OPERATORS))
def test_data_step_is_the_dense_solution(name):
    size = (9, 12)  # the blur's 7x7 kernel fits, and 3 divides both sides for the pooling
    op = DATA_STEP_OPERATORS[name](size)
    g = _g(3)
    z = torch.randn(1, 1, *size, generator=g, dtype=torch.float64)
    y = op.A(torch.randn(1, 1, *size, generator=g, dtype=torch.float64))
    a = _dense(op, (1, *size))  # (M, 108)
    alpha = 0.3
    expected = torch.linalg.solve(a.T @ a + alpha * torch.eye(a.shape[1], dtype=torch.float64),
                                  a.T @ y.reshape(-1) + alpha * z.reshape(-1))
    got = data_step(op, y, z, alpha, cg_iterations=200, tol=1e-12)
    torch.testing.assert_close(got.reshape(-1), expected, atol=1e-8, rtol=0)


def test_sigma_schedule_is_geometric_by_hand():
    assert sigma_schedule(8.0, 1.0, 4) == pytest.approx([8.0, 4.0, 2.0, 1.0])
    assert sigma_schedule(49 / 255, 2 / 255, 1) == [2 / 255]


def test_scaled_denoiser_moves_the_noise_level_to_the_trained_range():
    """net(v) = v + 1 is not homogeneous, so the scale s shows: D(v, sigma) = (s v + 1) / s = v + 1 / s."""
    v = torch.zeros(1, 1, 2, 2, dtype=torch.float64)
    fixed = scaled_denoiser(lambda u: u + 1, (0.1, 0.1))
    assert float(fixed(v, 0.1)[0, 0, 0, 0]) == pytest.approx(1.0)  # s = 1
    assert float(fixed(v, 0.05)[0, 0, 0, 0]) == pytest.approx(0.5)  # s = 0.1 / 0.05 = 2
    assert float(fixed(v, 0.4)[0, 0, 0, 0]) == pytest.approx(4.0)  # s = 0.25
    blind = scaled_denoiser(lambda u: u + 1, (0.0, 0.2))
    assert float(blind(v, 0.01)[0, 0, 0, 0]) == pytest.approx(1.0)  # inside the range: as it is
    assert float(blind(v, 0.4)[0, 0, 0, 0]) == pytest.approx(2.0)  # s = 0.2 / 0.4
    assert fixed(v, 0.1).dtype == torch.float64  # the solver's dtype back


def _ridge_denoiser(mu: float):
    """The proximal map of mu/2 ||z||^2 at noise level sigma: argmin 1/(2 sigma^2)||z - v||^2 + mu/2 ||z||^2."""
    return lambda v, sigma: v / (1 + sigma**2 * mu)


@pytest.fixture(scope="module")
def blur_problem():
    x = sample("camera", grey=True, size=24)[None].double()
    op = Blur(gaussian_kernel(1.2), "circular")
    return op, GaussianNoise(0.02)(op.A(x), _g(4))


@pytest.mark.parametrize("algorithm", ["hqs", "admm", "pgd"])
def test_pnp_with_a_proximal_denoiser_solves_the_tikhonov_problem(algorithm, blur_problem):
    """Fixed denoiser level s (sigma_start = sigma_end = s), D = prox of s^2 g with g = mu/2 ||z||^2:
    ADMM (penalty rho = 2 alpha, z = prox_{g'/rho} with g' = 2 alpha s^2 g) minimises ||Ax - y||^2 + 2 alpha s^2 g,
    PGD minimises 1/2||Ax - y||^2 + s^2/eta g, and HQS has the fixed point
    z = c x with (A^T A + alpha (1 - c)) x = A^T y, c = 1 / (1 + s^2 mu): each a Tikhonov solution (L = I)."""
    op, y = blur_problem
    mu, s, lam, sigma_n = 40.0, 0.1, 0.23, 0.02
    alpha = lam * sigma_n**2 / s**2
    c = 1 / (1 + s**2 * mu)
    z = pnp(op, y, _ridge_denoiser(mu), sigma_n, lam, iterations=400, algorithm=algorithm, sigma_start=s,
            sigma_end=s, generator=_g(0))
    if algorithm == "admm":
        expected = tikhonov(op, y, alpha * s**2 * mu, "identity")
    elif algorithm == "pgd":
        eta = default_step(op, y.shape, _g(0))
        expected = tikhonov(op, y, s**2 * mu / eta, "identity")
    else:
        expected = c * tikhonov(op, y, alpha * (1 - c), "identity")
    torch.testing.assert_close(z, expected, atol=1e-6, rtol=0)


def test_red_with_a_symmetric_linear_denoiser_solves_its_linear_system(blur_problem):
    """D(x) = W x with W a symmetric circular blur: the gradient of (R1) is exact, and the fixed point of (R2)
    solves (A^T A + alpha (I - W)) x = A^T y, diagonal in the DFT: x = F^-1[F(A^T y) / (|K|^2 + alpha (1 - W^))]."""
    op, y = blur_problem
    smoother = Blur(gaussian_kernel(0.8), "circular")
    lam, sigma_n, sigma_d = 0.5, 0.02, 0.03
    x = red(op, y, lambda v, sigma: smoother.A(v), sigma_n, lam, sigma_d, iterations=3000, tol=1e-13)
    alpha = lam * sigma_n**2 / sigma_d**2
    size = y.shape[-2:]
    k2 = op.fourier_multiplier(size)
    w = torch.fft.fft2(smoother.A(_delta(size))).real[0, 0]  # the smoother's (real, even) spectrum
    expected = torch.fft.ifft2(torch.fft.fft2(op.A_adjoint(y)) / (k2 + alpha * (1 - w))).real
    torch.testing.assert_close(x, expected, atol=1e-7, rtol=0)


def _delta(size):
    d = torch.zeros(1, 1, *size, dtype=torch.float64)
    d[..., 0, 0] = 1.0
    return d


def test_pnp_and_red_with_a_tv_denoiser_beat_the_naive_reconstruction(blur_problem):
    """A classical denoiser plugged in (TV at weight sigma^2 / 0.05, a stand-in for a trained one) must improve on
    the blurred measurement."""
    op, y = blur_problem
    x = sample("camera", grey=True, size=24)[None].double()

    def tv(v, sigma):
        return tv_pdhg(Identity(), v, 0.5 * sigma, iterations=100)

    baseline = psnr(op.naive(y)[0], x[0], 1.0)
    assert psnr(pnp(op, y, tv, 0.02, iterations=8)[0].clamp(0, 1), x[0], 1.0) > baseline + 0.5
    assert psnr(red(op, y, tv, 0.02, iterations=10)[0].clamp(0, 1), x[0], 1.0) > baseline + 0.5


def test_l1_wavelet_with_the_identity_is_soft_thresholding_of_the_details():
    """A = I: (S1) is separable in the orthogonal basis, its minimiser is W^T S_lam(W y) on the details."""
    from pixelwise.physics import Wavelet

    y = torch.randn(1, 2, 16, 24, generator=_g(5), dtype=torch.float64)
    w = Wavelet("db2", 2)
    c = w.A(y)
    mask = w.detail_mask((16, 24))
    expected = w.A_adjoint(c * (1 - mask) + soft_threshold(c, 0.3) * mask)
    torch.testing.assert_close(l1_wavelet(Identity(), y, 0.3, "db2", 2, iterations=3), expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("size", [(32, 32), (29, 35)])  # odd sizes solve on the padded domain
def test_l1_wavelet_beats_zero_filling_for_undersampled_mri(size):
    x = sample("camera", grey=True, size=40)[None].double()[..., : size[0], : size[1]]
    op = MRI.cartesian(size, 3, generator=_g(6))
    y = GaussianNoise(0.005)(op.A(x), _g(7))
    seen = []
    out = l1_wavelet(op, y, 0.001, "db4", iterations=60, callback=lambda k, z: seen.append(z.shape))
    assert out.shape == x.shape and seen[0] == x.shape
    assert psnr(out[0].clamp(0, 1), x[0], 1.0) > psnr(op.naive(y)[0], x[0], 1.0) + 1.0


BAD = [
    ("unknown algorithm", lambda: pnp(Identity(), torch.zeros(1, 1, 4, 4), _ridge_denoiser(1), 0.1, algorithm="x")),
    ("zero lambda", lambda: pnp(Identity(), torch.zeros(1, 1, 4, 4), _ridge_denoiser(1), 0.1, lam=0.0)),
    ("zero iterations", lambda: red(Identity(), torch.zeros(1, 1, 4, 4), _ridge_denoiser(1), 0.1, iterations=0)),
    ("zero alpha", lambda: data_step(Identity(), torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), 0.0)),
    ("rising schedule", lambda: sigma_schedule(0.1, 0.2, 3)),
    ("trained range", lambda: scaled_denoiser(lambda v: v, (0.2, 0.1))),
]


@pytest.mark.parametrize("what, call", BAD, ids=[b[0] for b in BAD])
def test_bad_hyperparameters_raise_value_error(what, call):
    with pytest.raises(ValueError):
        call()


def test_fista_l1_wavelet_meets_beck_and_teboulles_rate_and_its_optimality_conditions():
    """FISTA on (S1) is not monotone, but Beck & Teboulle (2009, Thm 4.4) bound its gap after k steps of size 1/L:
    F(x_k) - F* <= 2 L ||x0 - x*||^2 / (k + 1)^2. Circular Gaussian blur has ||A|| = 1 (its kernel sums to 1 and
    is non-negative), so L = 1. x* comes from a long run, checked by the optimality conditions of (S1) written in
    the wavelet domain, independently of the thresholding: with c = W x* and g = W A^T (A x* - y), g = -lam sign(c)
    on the non-zero details, |g| <= lam on the zero ones, and g = 0 on the unpenalised approximation."""
    from pixelwise.physics import Wavelet

    x = sample("camera", grey=True, size=32)[None].double()
    op = Blur(gaussian_kernel(1.2), "circular")
    y = GaussianNoise(0.02)(op.A(x), _g(8))
    lam, w = 0.01, Wavelet("haar", 3)
    details = w.detail_mask((32, 32)).expand(1, 1, 32, 32) > 0

    def objective(v):
        return 0.5 * float(((op.A(v) - y) ** 2).sum()) + lam * float((w.A(v)[details]).abs().sum())

    best = l1_wavelet(op, y, lam, "haar", 3, iterations=500, tol=0.0)
    c, g = w.A(best), w.A(op.A_adjoint(op.A(best) - y))
    active = details & (c.abs() > 1e-9)
    assert int(active.sum()) > 10 and int((details & ~active).sum()) > 10  # both kinds of detail are present
    torch.testing.assert_close(g[active], -lam * torch.sign(c[active]), atol=1e-6, rtol=0)
    assert float(g[details & ~active].abs().max()) <= lam * (1 + 1e-6)
    assert float(g[~details].abs().max()) < 1e-6
    x0 = op.naive(y)
    gap0 = float(((x0 - best) ** 2).sum())
    for k in (5, 20, 80):
        xk = l1_wavelet(op, y, lam, "haar", 3, iterations=k, tol=0.0)
        assert objective(xk) - objective(best) <= 1.01 * 2 * gap0 / (k + 1) ** 2, k
        assert objective(xk) < objective(x0)

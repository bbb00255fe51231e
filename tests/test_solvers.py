"""Every solver must beat its naive baseline (adjoint, zero-filled, bicubic, FBP) on real photographs."""

from __future__ import annotations

import math

import pytest
import torch

from pixelwise.data.samples import sample
from pixelwise.metrics import psnr
from pixelwise.physics import (
    MRI,
    AveragePool,
    BicubicDownsample,
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
from pixelwise.solvers import (
    box_prox,
    choose_lambda,
    conjugate_gradient,
    denoiser_prox,
    landweber,
    least_squares_cg,
    log_grid,
    proximal_gradient,
    search_lambda,
    tikhonov,
    tv_denoise,
    tv_norm,
    tv_pdhg,
    tv_prox,
)

SIZE = 64


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _photo(name):
    return sample(name, grey=True, size=SIZE)[None].double()  # (1, 1, 64, 64) crop of a real photograph


# name -> (operator, noise sigma in measurement units)
PROBLEMS = {
    "denoise": lambda: (Identity(), 0.1),
    "blur_circular": lambda: (Blur(gaussian_kernel(1.5), "circular"), 0.01),
    "blur_zero_motion": lambda: (Blur(motion_kernel(7, 30), "zero"), 0.01),
    "downsample": lambda: (AveragePool(2), 0.01),
    "bicubic": lambda: (BicubicDownsample(2), 0.01),
    "inpaint": lambda: (Inpainting(random_mask((SIZE, SIZE), 0.5, _g(1))), 0.01),
    "mri_4x": lambda: (MRI.cartesian((SIZE, SIZE), 4, generator=_g(2)), 0.01),
    "ct_30_views": lambda: (Radon((SIZE, SIZE), views(30)), 0.3),
}

def _tv(lam):
    return tv_prox(lam, clip=(0.0, 1.0))


# (problem, solver id, solver(op, y) -> x); the naive baseline is op.naive(y)
CASES = [
    ("blur_circular", "cg_5", lambda op, y: least_squares_cg(op, y, iterations=5)),
    ("ct_30_views", "cg_5", lambda op, y: least_squares_cg(op, y, iterations=5)),
    ("blur_circular", "landweber_20", lambda op, y: landweber(op, y, iterations=20)),
    ("blur_zero_motion", "landweber_20", lambda op, y: landweber(op, y, iterations=20)),
    ("blur_circular", "tikhonov_fft", lambda op, y: tikhonov(op, y, 0.01, "gradient")),
    ("blur_zero_motion", "tikhonov_cg", lambda op, y: tikhonov(op, y, 0.01, "gradient", iterations=40)),
    ("inpaint", "tikhonov_cg", lambda op, y: tikhonov(op, y, 0.01, "gradient", iterations=60)),
    ("denoise", "tikhonov_fft", lambda op, y: tikhonov(op, y, 0.3, "gradient")),
    ("ct_30_views", "tikhonov_cg", lambda op, y: tikhonov(op, y, 1.0, "gradient", iterations=20)),
    ("denoise", "tv_fgp", lambda op, y: tv_denoise(y, 0.1)),
    ("denoise", "tv_pdhg", lambda op, y: tv_pdhg(op, y, 0.1, iterations=100)),
    ("blur_circular", "tv_pdhg", lambda op, y: tv_pdhg(op, y, 0.003, iterations=100)),
    ("downsample", "tv_pdhg", lambda op, y: tv_pdhg(op, y, 0.003, iterations=100)),
    ("bicubic", "tv_pdhg", lambda op, y: tv_pdhg(op, y, 0.003, iterations=100)),
    ("ct_30_views", "tv_pdhg", lambda op, y: tv_pdhg(op, y, 1.0, iterations=100)),
    ("mri_4x", "fista_tv", lambda op, y: proximal_gradient(op, y, _tv(0.03), iterations=30)),
    ("inpaint", "fista_tv", lambda op, y: proximal_gradient(op, y, _tv(0.03), iterations=30)),
    ("ct_30_views", "fista_tv", lambda op, y: proximal_gradient(op, y, _tv(1.0), iterations=30)),
    ("mri_4x", "pnp_tv_denoiser", lambda op, y: proximal_gradient(
        op, y, denoiser_prox(lambda v: tv_denoise(v, 0.02, iterations=20)), iterations=30)),
    ("blur_circular", "ista_box", lambda op, y: proximal_gradient(op, y, box_prox(0, 1), iterations=10,
                                                                  accelerate=False)),
]


# each case runs on one of the two photographs, alternating, to keep the suite fast
PHOTOS = ["camera", "astronaut"]


@pytest.mark.parametrize(
    "problem, solver_id, solve, photo",
    [(*case, PHOTOS[i % 2]) for i, case in enumerate(CASES)],
    ids=[f"{c[0]}-{c[1]}-{PHOTOS[i % 2]}" for i, c in enumerate(CASES)],
)
def test_solver_beats_naive_baseline(problem, solver_id, solve, photo):
    x = _photo(photo)
    op, sigma = PROBLEMS[problem]()
    y = GaussianNoise(sigma)(op.A(x), _g(3))
    baseline = psnr(op.naive(y)[0], x[0], 1.0)
    result = solve(op, y)
    assert result.shape == x.shape
    gain = psnr(result[0], x[0], 1.0) - baseline
    assert gain > 0.3, f"{solver_id} on {problem}/{photo}: {gain:+.2f} dB over the naive reconstruction"


def test_tv_denoise_on_colour_photograph_channels_independently():
    x = sample("astronaut", size=48)[None].double()  # (1, 3, 48, 48)
    y = x + 0.1 * torch.randn(x.shape, generator=_g(), dtype=x.dtype)
    out = tv_denoise(y, 0.08)
    assert psnr(out[0], x[0], 1.0) > psnr(y[0], x[0], 1.0) + 3.0
    torch.testing.assert_close(out[:, 1:2], tv_denoise(y[:, 1:2], 0.08), atol=2e-3, rtol=0)


def test_tv_denoise_matches_skimage_chambolle():
    restoration = pytest.importorskip("skimage.restoration")
    x = _photo("camera")
    y = x + 0.1 * torch.randn(x.shape, generator=_g(), dtype=x.dtype)
    ours = tv_denoise(y, 0.1, iterations=400, tol=1e-7)[0, 0].numpy()
    theirs = restoration.denoise_tv_chambolle(y[0, 0].numpy(), weight=0.1, eps=1e-7, max_num_iter=2000)
    assert abs(ours - theirs).max() < 5e-3  # the same objective and discretisation


def test_tv_pdhg_and_fgp_reach_the_same_minimiser_and_lower_the_objective():
    x = _photo("astronaut")[..., :32, :32]
    y = x + 0.1 * torch.randn(x.shape, generator=_g(), dtype=x.dtype)
    a = tv_denoise(y, 0.05, iterations=500, tol=1e-8)
    b = tv_pdhg(Identity(), y, 0.05, iterations=1500, tol=1e-8)
    assert float((a - b).abs().max()) < 2e-3

    def objective(z):
        return 0.5 * float(((z - y) ** 2).sum()) + 0.05 * float(tv_norm(z))

    assert objective(a) < objective(y) and objective(a) <= objective(b) + 1e-3


@pytest.mark.parametrize("name, lam, size", [("mri_4x", 0.003, 33), ("ct_30_views", 0.3, 25)])
def test_tv_pdhg_step_ratio_reaches_the_same_minimiser_in_fewer_iterations(name, lam, size):
    x = _photo("camera")[..., :size, :size]  # odd sizes
    op = MRI.cartesian((size, size), 4, generator=_g(2)) if name == "mri_4x" else Radon((size, size), views(30))
    y = op.A(x)
    y = y + 0.01 * torch.randn(y.shape, generator=_g(3), dtype=y.dtype)
    runs = {}
    for ratio in (1.0, 100.0):
        used: list[int] = []
        z = tv_pdhg(op, y, lam, iterations=6000, tol=1e-7, step_ratio=ratio, callback=lambda k, _, u=used: u.append(k))
        runs[ratio] = (z, len(used))
    assert float((runs[1.0][0] - runs[100.0][0]).abs().max()) < 2e-3
    assert runs[100.0][1] < runs[1.0][1] / 2, {r: n for r, (_, n) in runs.items()}


def test_diagonally_preconditioned_pdhg_reaches_the_same_minimiser_sooner_on_ct():
    """Pock & Chambolle's diagonal steps (TV6) solve the same problem: on 60-view CT of a 47 x 47 crop the
    preconditioned and the scalar solvers, run to a relative change of 1e-8, end at the same image and the same
    objective (to 1e-5); after 100 iterations (the solve recipe's step ratios) the preconditioned iterate is
    several times nearer that minimiser (measured: 0.007 against 0.028 at most per pixel). An operator that does
    not say its entries are nonnegative (MRI) is refused."""
    from pixelwise.solvers.methods import PRECONDITIONED_STEP_RATIO
    from pixelwise.solvers.tv_baseline import TV_STEP_RATIO

    x = _photo("camera")[..., :47, :47]
    op = Radon((47, 47), views(60))
    y = op.A(x) + 0.01 * torch.randn(op.A(x).shape, generator=_g(4), dtype=x.dtype)
    lam = 0.3
    steps = {"scalar": {"step_ratio": TV_STEP_RATIO},
             "pre": {"step_ratio": PRECONDITIONED_STEP_RATIO, "precondition": True}}
    final = {name: tv_pdhg(op, y, lam, iterations=5000, tol=1e-8, **kw) for name, kw in steps.items()}

    def objective(z):
        return 0.5 * float(((op.A(z) - y) ** 2).sum()) + lam * float(tv_norm(z))

    assert float((final["pre"] - final["scalar"]).abs().max()) < 1e-3
    assert abs(objective(final["pre"]) - objective(final["scalar"])) <= 1e-5 * objective(final["scalar"])
    early = {name: float((tv_pdhg(op, y, lam, iterations=100, tol=1e-12, **kw) - final["pre"]).abs().max())
             for name, kw in steps.items()}
    assert early["pre"] < early["scalar"] / 2, early
    mri = MRI.cartesian((16, 16), 4, generator=_g(2))
    with pytest.raises(ValueError, match="nonnegative entries"):
        tv_pdhg(mri, mri.A(x[..., :16, :16]), 0.01, iterations=5, precondition=True)


def test_tikhonov_fft_and_cg_paths_agree():
    x = _photo("camera")[..., :31, :33]  # odd sizes
    op = Blur(gaussian_kernel(1.0), "circular")
    y = GaussianNoise(0.01)(op.A(x), _g())
    for reg in ("identity", "gradient"):
        fft = tikhonov(op, y, 0.02, reg, method="fft")
        cg = tikhonov(op, y, 0.02, reg, method="cg", iterations=200, tol=1e-10)
        torch.testing.assert_close(fft, cg, atol=1e-6, rtol=0)


def test_cg_solves_a_small_spd_system_exactly():
    g = _g()
    m = torch.randn(12, 12, generator=g, dtype=torch.float64)
    m = m @ m.T + 0.1 * torch.eye(12, dtype=torch.float64)
    b = torch.randn(12, generator=g, dtype=torch.float64)
    x = conjugate_gradient(lambda v: m @ v, b, iterations=100, tol=1e-12)
    torch.testing.assert_close(m @ x, b, atol=1e-8, rtol=0)


def test_callback_sees_every_iteration_and_can_stop():
    op, _ = PROBLEMS["blur_circular"]()
    y = op.A(_photo("camera"))
    seen = []
    landweber(op, y, iterations=7, callback=lambda k, x: seen.append(k))
    assert seen == list(range(1, 8))
    stopped = []
    tv_pdhg(op, y, 0.01, iterations=50, callback=lambda k, x: stopped.append(k) or k == 3)
    assert stopped == [1, 2, 3]


def test_tolerance_stops_early():
    y = _photo("camera") + 0.1 * torch.randn(1, 1, SIZE, SIZE, generator=_g(), dtype=torch.float64)
    count = []
    tv_denoise(y, 0.1, iterations=1000, tol=1e-3, callback=lambda k, x: count.append(k))
    assert 1 < len(count) < 1000


def test_choose_lambda_on_a_validation_image_then_applies_to_another():
    op, sigma = PROBLEMS["blur_circular"]()
    validation, test = _photo("astronaut"), _photo("camera")
    y_val = GaussianNoise(sigma)(op.A(validation), _g(1))
    grid = log_grid(1e-4, 1.0, 5)
    choice = choose_lambda(lambda lam: tikhonov(op, y_val, lam), validation, grid)
    assert choice.lam in grid and len(choice.table) == 5
    assert choice.score == max(score for _, score in choice.table)
    assert "lambda =" in choice.describe()
    y = GaussianNoise(sigma)(op.A(test), _g(2))
    assert psnr(tikhonov(op, y, choice.lam)[0], test[0], 1.0) > psnr(op.naive(y)[0], test[0], 1.0)


# (optimum, grid, widen, hit_edge, at_edge): a smooth peak in log(lambda) inside, below and far above the grid
SEARCHES = [
    (0.03, (1e-3, 1.0), 3, False, False),
    (2e-5, (1e-2, 1.0), 3, True, False),  # three decades below: found after widening
    (7.0, (1e-3, 1e-1), 3, True, False),
    (1e6, (1e-2, 1.0), 2, True, True),  # too far: still at the edge, and reported so
    (0.5, (0.1, 0.2), 0, True, True),  # no widening allowed
]


@pytest.mark.parametrize("optimum, grid, widen, hit_edge, at_edge", SEARCHES)
def test_search_lambda_widens_past_an_edge_and_refines(optimum, grid, widen, hit_edge, at_edge):
    calls = []

    def score(lam):
        calls.append(lam)
        return -(math.log10(lam) - math.log10(optimum)) ** 2

    found = search_lambda(score, *grid, per_decade=2, widen=widen, refine=2)
    assert (found.hit_edge, found.at_edge) == (hit_edge, at_edge)
    assert len(calls) == len(set(calls)) == len(found.table)  # each lambda scored once
    assert found.table == sorted(found.table) and found.score == max(v for _, v in found.table)
    assert found.grid == grid and found.searched == (found.table[0][0], found.table[-1][0])
    if not at_edge:  # within the refined resolution of 1/6 decade
        assert abs(math.log10(found.lam / optimum)) <= 1 / 12 + 1e-9
    else:
        assert found.lam == found.searched[1]
    assert ("widened" in found.describe()) == hit_edge


BAD = [
    ("negative lambda", lambda: tikhonov(Identity(), torch.zeros(1, 1, 8, 8), -1.0)),
    ("unknown regulariser", lambda: tikhonov(Identity(), torch.zeros(1, 1, 8, 8), 1.0, "laplace")),
    ("fft on non-circulant", lambda: tikhonov(Blur(gaussian_kernel(1.0), "zero"), torch.zeros(1, 1, 8, 8),
                                              1.0, method="fft")),
    ("singular system", lambda: tikhonov(MRI(torch.tensor([0, 1, 0, 0.0])), torch.zeros(1, 1, 4, 4, 2), 0.0)),
    ("negative iterations", lambda: landweber(Identity(), torch.zeros(1, 1, 8, 8), iterations=-1)),
    ("negative step", lambda: landweber(Identity(), torch.zeros(1, 1, 8, 8), step=-1.0)),
    ("empty lambda grid", lambda: choose_lambda(lambda lam: None, torch.zeros(1, 8, 8), [])),
    ("bad grid bounds", lambda: log_grid(1.0, 0.1, 3)),
    ("bad search bounds", lambda: search_lambda(lambda lam: 0.0, 1.0, 1.0)),
    ("no search points", lambda: search_lambda(lambda lam: 0.0, 0.1, 1.0, per_decade=0)),
    ("empty box", lambda: box_prox(1.0, 0.0)),
    ("zero step ratio", lambda: tv_pdhg(Identity(), torch.zeros(1, 1, 8, 8), 0.1, step_ratio=0.0)),
]


@pytest.mark.parametrize("what, call", BAD, ids=[b[0] for b in BAD])
def test_bad_hyperparameters_raise_value_error(what, call):
    with pytest.raises(ValueError):
        call()

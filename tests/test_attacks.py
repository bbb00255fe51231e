"""FGSM and PGD: by hand on a linear score, against Captum's robust FGSM and PGD (the oracle in [dev]) on a small
convnet, and their properties (the ball and the bounds, PGD at least as strong as FGSM, one PGD step = FGSM)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pixelwise.attacks import fgsm, pgd, project_linf

captum = pytest.importorskip("captum.robust")
pytestmark = pytest.mark.usefixtures("one_thread")


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 6, 3)).eval()


def _per_case(out, y):
    return F.cross_entropy(out, y, reduction="none")  # Captum sums per-case losses; the mean has the same signs


def _data():
    g = torch.Generator().manual_seed(1)
    return torch.rand(4, 1, 5, 6, generator=g), torch.tensor([0, 1, 2, 1])


def test_fgsm_on_a_linear_score_by_hand():
    """L = -w.x: grad = -w, so x' = clip(x - eps sign(w)) to [0, 1]."""
    w = torch.tensor([[0.5, -1.0, 2.0, -0.3]])
    forward = lambda x: x @ w.T  # noqa: E731
    loss = lambda out, y: -out.sum()  # noqa: E731
    x = torch.tensor([[0.5, 0.5, 0.02, 0.99]])
    out = fgsm(forward, loss, x, None, 0.05)
    torch.testing.assert_close(out, torch.tensor([[0.45, 0.55, 0.0, 1.0]]))
    assert torch.equal(fgsm(forward, loss, x, None, 0.0), x)


@pytest.mark.parametrize("epsilon", [0.01, 0.1])
def test_fgsm_agrees_with_captum(epsilon):
    model, (x, y) = _model(), _data()
    attack = captum.FGSM(model, _per_case, lower_bound=0.0, upper_bound=1.0)
    attack.zero_thresh = 0.0  # Captum zeroes |grad| < 1e-6 by default; the method's definition does not
    torch.testing.assert_close(fgsm(model, F.cross_entropy, x, y, epsilon), attack.perturb(x, epsilon, y))


@pytest.mark.parametrize("steps,step_size", [(1, 0.05), (7, 0.02), (10, 0.01)])
def test_pgd_agrees_with_captum_without_random_start(steps, step_size):
    model, (x, y) = _model(), _data()
    attack = captum.PGD(model, _per_case, lower_bound=0.0, upper_bound=1.0)
    attack.fgsm.zero_thresh = 0.0
    theirs = attack.perturb(x, radius=0.05, step_size=step_size, step_num=steps, target=y)
    ours = pgd(model, F.cross_entropy, x, y, 0.05, steps, step_size, random_start=False)
    torch.testing.assert_close(ours, theirs)


def test_pgd_stays_in_the_ball_and_bounds_and_beats_fgsm():
    model, (x, y) = _model(), _data()
    eps = 0.1
    adv = pgd(model, F.cross_entropy, x, y, eps, steps=20, generator=torch.Generator().manual_seed(0))
    assert (adv - x).abs().max() <= eps + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    with torch.no_grad():
        clean, strong = F.cross_entropy(model(x), y), F.cross_entropy(model(adv), y)
        weak = F.cross_entropy(model(fgsm(model, F.cross_entropy, x, y, eps)), y)
    assert strong >= weak - 1e-6 and weak > clean
    one = pgd(model, F.cross_entropy, x, y, eps, steps=1, step_size=eps, random_start=False)
    torch.testing.assert_close(one, fgsm(model, F.cross_entropy, x, y, eps))  # one full step is FGSM
    a = pgd(model, F.cross_entropy, x, y, eps, steps=3, generator=torch.Generator().manual_seed(4))
    b = pgd(model, F.cross_entropy, x, y, eps, steps=3, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)  # the random start is seeded


def test_projection_is_elementwise_clamping():
    x = torch.tensor([0.0, 0.5, 1.0])
    torch.testing.assert_close(project_linf(torch.tensor([0.3, 0.2, 0.6]), x, 0.1), torch.tensor([0.1, 0.4, 0.9]))
    torch.testing.assert_close(project_linf(torch.tensor([-1.0, 2.0, 1.5]), x, 2.0, None), torch.tensor([-1.0, 2, 1.5]))
    with pytest.raises(ValueError, match="steps"):
        pgd(lambda z: z, lambda o, y: o.sum(), x, None, 0.1, steps=0)

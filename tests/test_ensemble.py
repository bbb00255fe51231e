"""The x8 geometric self-ensemble: a hand-worked value, exact equivariance whatever the network, the identity on
a network that is already equivariant; `restore eval / apply --ensemble` and `solve --ensemble` give what the
loaded network averaged by hand gives, beside the run's own results; the tasks without the symmetry are refused."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pixelwise.cli import main
from pixelwise.errors import PixelwiseError
from pixelwise.models.ensemble import TRANSFORMS, dihedral_mean
from pixelwise.physics import Identity
from pixelwise.physics.presets import Measurement
from pixelwise.tasks.restore import RestorationConfig
from pixelwise.tasks.restore.inference import check_ensemble

pytestmark = pytest.mark.usefixtures("one_thread")


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _transform(x, k, flip):
    t = torch.rot90(x, k, (-2, -1))
    return t.flip(-1) if flip else t


def test_a_column_ramp_averages_to_its_mean_value():
    """f(x) = x * w with w[i, j] = j on an n x n square: the eight transforms turn w into j, n-1-j, i and n-1-i
    (twice each), whose mean is (n - 1) / 2 everywhere."""
    n = 7
    w = torch.arange(n, dtype=torch.float64).expand(n, n)
    x = torch.rand(2, 3, n, n, generator=_g(), dtype=torch.float64)
    assert torch.allclose(dihedral_mean(lambda t: t * w, x), x * (n - 1) / 2)


def test_the_mean_is_equivariant_whatever_the_network_and_changes_nothing_for_an_equivariant_one():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, (1, 3), padding=(0, 1))).double()
    x = torch.rand(1, 2, 9, 9, generator=_g(1), dtype=torch.float64)
    with torch.no_grad():
        base = dihedral_mean(net, x)
        assert not torch.allclose(base, net(x))  # the network itself is not equivariant
        for k, flip in TRANSFORMS:
            assert torch.allclose(dihedral_mean(net, _transform(x, k, flip)), _transform(base, k, flip)), (k, flip)
    pointwise = lambda t: t**2 + 1  # noqa: E731 (equivariant already)
    assert torch.allclose(dihedral_mean(pointwise, x), pointwise(x))


def test_a_network_that_changes_the_size_of_a_non_square_input():
    torch.manual_seed(1)
    up = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(1, 1, 3, padding=1)).double()
    x = torch.rand(2, 1, 5, 8, generator=_g(2), dtype=torch.float64)
    with torch.no_grad():
        out = dihedral_mean(up, x)
        assert out.shape == (2, 1, 10, 16)
        assert torch.allclose(dihedral_mean(up, x.flip(-2)), out.flip(-2))  # a vertical flip: also in the group


@pytest.mark.parametrize("measurement,model,refused", [
    (Measurement(operator="denoise"), "dncnn", None),
    (Measurement(operator="downsample", scale=2), "post", None),
    (Measurement(operator="inpaint"), "unet", None),
    (Measurement(operator="blur"), "dncnn", None),
    (Measurement(operator="blur", kernel="motion"), "dncnn", "which motion blur is not symmetric"),
    (Measurement(operator="mri"), "unet", "which MRI is not symmetric"),
    (Measurement(operator="ct", views=10), "unet", "which CT is not symmetric"),
    (Measurement(operator="mri"), "unrolled", "which the unrolled network is not symmetric"),
])
def test_the_tasks_without_the_squares_symmetries_are_refused(measurement, model, refused):
    config = RestorationConfig(measurement=measurement, model=model)
    if refused is None:
        check_ensemble(config)
    else:
        with pytest.raises(PixelwiseError, match=refused):
            check_ensemble(config)


def test_eval_and_apply_average_the_loaded_network_beside_the_runs_own_results(prior_runs, tmp_path):
    from pixelwise.data.io import read_image, write_image
    from pixelwise.data.samples import sample, to_uint8
    from pixelwise.tasks.restore import evaluate, load_run

    run = prior_runs / "dn"
    own = (run / "metrics.json").read_bytes()
    plain = evaluate(run, data="bundled", progress=False, log=lambda s: None)
    x8 = evaluate(run, data="bundled", ensemble=True, progress=False, log=lambda s: None)
    assert x8["ensemble"] is True and (run / "evaluations" / "bundled-denoise-x8" / "metrics.json").is_file()
    assert (run / "metrics.json").read_bytes() == own
    assert x8["mean"]["naive"] == plain["mean"]["naive"]  # the same noisy images
    assert x8["mean"]["network"]["psnr"] != plain["mean"]["network"]["psnr"]

    picture = sample("camera", grey=True, size=24)
    write_image(tmp_path / "in" / "camera.png", to_uint8(picture))
    assert main(["restore", "apply", "--run", str(run), "--ensemble", "--out", str(tmp_path / "out"), "--quiet",
                 str(tmp_path / "in")]) == 0
    _, model, _ = load_run(run)
    y = torch.as_tensor(read_image(tmp_path / "in" / "camera.png", mode="L")).float()[None, None] / 255
    with torch.no_grad():
        expected = dihedral_mean(lambda u: model((u, Identity())), y)[0]
    written = read_image(tmp_path / "out" / "camera.png", mode="L")
    assert (abs(written.astype(int) - to_uint8(expected.clamp(0, 1)).squeeze().astype(int)) <= 1).all()


def test_solve_averages_the_denoiser_prior_and_refuses_the_ensemble_without_one(prior_runs, tmp_path, capsys):
    from pixelwise.tasks.restore import load_run
    from pixelwise.tasks.solve.priors import load_denoiser

    prior = load_denoiser(str(prior_runs / "dn"), channels=1, ensemble=True)
    _, model, _ = load_run(prior_runs / "dn")
    v = torch.rand(1, 1, 24, 24, generator=_g(4), dtype=torch.float64)
    with torch.no_grad():
        expected = dihedral_mean(lambda u: model((u.float(), Identity())), v).double()
    assert torch.allclose(prior.call(v, 25 / 255), expected, atol=1e-6) and prior.info["ensemble"] is True
    out = tmp_path / "never"
    assert main(["solve", "camera", "--grey", "--size", "24", "--operator", "blur", "--method", "tv", "--ensemble",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "ensemble (--ensemble) averages a denoiser" in err and err.count("\n") == 1, err
    assert not out.exists()

"""Networks told the noise level (FFDNet's noise-level map): the models, the restore recipe's batches and wrapper,
plug-and-play's use of them, and the inputs they refuse."""

from __future__ import annotations

import json

import pytest
import torch

from pixelwise.cli import main
from pixelwise.errors import PixelwiseError
from pixelwise.models import DnCNN, ResidualUNet
from pixelwise.models.restoration import with_noise_map
from pixelwise.physics import Identity
from pixelwise.physics.presets import Measurement
from pixelwise.solvers.pnp import scaled_denoiser
from pixelwise.tasks.restore import RestorationConfig, build_model
from pixelwise.tasks.restore.batches import simulate_batches

pytestmark = pytest.mark.usefixtures("one_thread")


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _perturbed(model: torch.nn.Module) -> torch.nn.Module:
    """Every weight moved off its start (the last layers start at zero, which would hide the map)."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=_g(5)))
    return model.eval()


def test_the_map_is_one_more_channel_holding_each_images_level():
    y = torch.rand(3, 2, 5, 7, generator=_g())
    one = with_noise_map(y, 0.1)
    each = with_noise_map(y, torch.tensor([0.1, 0.2, 0.3]))
    assert one.shape == each.shape == (3, 3, 5, 7)
    assert torch.equal(one[:, :2], y) and torch.all(one[:, 2] == 0.1)
    assert [float(each[i, 2].unique()) for i in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="2 noise levels for 3 images"):
        with_noise_map(y, torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="pass sigma"):
        with_noise_map(y, None)


NETS = [("dncnn", lambda: DnCNN(1, depth=4, width=8, noise_map=True), (2, 1, 13, 17)),
        ("residual unet", lambda: ResidualUNet(1, depth=2, base_channels=4, noise_map=True), (2, 1, 12, 19))]


@pytest.mark.parametrize("name, build, shape", NETS, ids=[n for n, _, _ in NETS])
def test_a_told_network_starts_as_the_identity_and_then_depends_on_the_level(name, build, shape):
    y = torch.rand(shape, generator=_g(1))
    net = build()
    assert torch.allclose(net(y, 0.1), y)  # the zero last layer: the identity whatever the level
    net = _perturbed(net)
    low, high = net(y, 0.05), net(y, torch.tensor([0.3, 0.3]))
    assert low.shape == y.shape and not torch.allclose(low, high)
    with pytest.raises(ValueError, match="pass sigma"):
        net(y)


@pytest.mark.parametrize("net", [DnCNN(1, depth=3, width=4), ResidualUNet(1, depth=2, base_channels=4)],
                         ids=["dncnn", "residual unet"])
def test_a_network_without_a_map_refuses_a_level(net):
    with pytest.raises(ValueError, match="no noise map"):
        net(torch.rand(1, 1, 8, 8), 0.1)


def _config(**settings) -> RestorationConfig:
    return RestorationConfig(measurement=Measurement(operator="denoise"), depth=3, width=4, **settings)


@pytest.mark.parametrize("model", ["dncnn", "unet"])
def test_the_wrapper_tells_the_batch_level_or_the_runs_sigma(model):
    config = _config(model=model, noise_map=True, sigma=20.0, sigma_range=(0.0, 50.0))
    restorer = _perturbed(build_model(config))
    y, op = torch.rand(2, 1, 16, 16, generator=_g(2)), Identity()
    assert restorer.noise_level == pytest.approx(20 / 255)
    told = restorer((y, op, torch.full((2,), 20 / 255)))
    assert torch.allclose(restorer((y, op)), told)  # the default: the run's sigma
    assert not torch.allclose(restorer((y, op, torch.full((2,), 45 / 255))), told)
    assert torch.allclose(restorer.image_net()(y), told)  # window by window: the same default
    plain = build_model(_config(model=model))
    with pytest.raises(ValueError, match="no noise map"):
        plain((y, op, torch.full((2,), 0.1)))


def test_training_batches_carry_the_level_of_the_noise_they_hold():
    """Denoising batches of a constant image: y - x is the noise itself, whose std per crop must be its level."""
    config = _config(model="dncnn", noise_map=True, sigma_range=(5.0, 50.0), batch_size=6, steps_per_epoch=1,
                     patch=40)
    images = [torch.full((1, 64, 64), 0.5)]
    ((y, op, levels), x), = list(simulate_batches(config, images, Identity())(0, _g(3)))
    assert levels.shape == (6,) and bool(((levels >= 5 / 255) & (levels <= 50 / 255)).all())
    measured = (y - x).flatten(1).std(dim=1)
    assert torch.allclose(measured, levels, rtol=0.06)  # 1600 samples: the std is within 6% of sigma


BAD = [
    ("a model without a map", dict(model="srcnn", noise_map=True), "use it with --model dncnn or unet"),
    ("the measurements regime", dict(model="dncnn", noise_map=True, regime="measurements", splitting="r2r"),
     "--regime simulate"),
]


@pytest.mark.parametrize("what, settings, message", BAD, ids=[b[0] for b in BAD])
def test_bad_noise_map_settings_are_refused(what, settings, message):
    with pytest.raises(PixelwiseError, match=message):
        _config(**settings)


def test_plug_and_play_tells_a_told_net_the_level_and_scales_outside_its_range():
    """net(v, level) = v + level: inside (0.02, 0.2) the level passes as it is (s = 1); above, the input is
    scaled by s = 0.2 / sigma and the net told 0.2, D = (s v + 0.2) / s = v + sigma; below likewise at 0.02."""
    calls = []

    def net(v, level):
        calls.append(level)
        return v + level

    told = scaled_denoiser(net, (0.02, 0.2), told=True)
    v = torch.zeros(1, 1, 2, 2, dtype=torch.float64)
    assert float(told(v, 0.1)[0, 0, 0, 0]) == pytest.approx(0.1)
    assert float(told(v, 0.4)[0, 0, 0, 0]) == pytest.approx(0.4)
    assert float(told(v, 0.01)[0, 0, 0, 0]) == pytest.approx(0.01)
    assert calls == pytest.approx([0.1, 0.2, 0.02])


@pytest.fixture(scope="module")
def told_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("told") / "run"
    args = ["restore", "train", "--task", "denoise", "--noise-map", "--sigma-range", "1,50", "--data", "phantoms",
            "--size", "24", "--phantoms", "8", "--depth", "3", "--width", "8", "--patch", "24", "--batch-size", "4",
            "--steps-per-epoch", "3", "--epochs", "1", "--tv-iterations", "20", "--tv-lambda", "0.01", "--quiet",
            "--out", str(out)]
    assert main(args) == 0
    return out


def test_a_told_denoiser_run_is_plug_and_plays_prior_at_each_level(told_run):
    from pixelwise.tasks.restore import load_run
    from pixelwise.tasks.solve.priors import load_denoiser

    prior = load_denoiser(str(told_run), channels=1)
    _, model, _ = load_run(told_run)
    v = torch.rand(1, 1, 24, 24, generator=_g(4), dtype=torch.float64)
    for level in (5 / 255, 30 / 255):
        expected = model((v.float(), Identity(), torch.full((1,), level))).double()
        assert torch.allclose(prior.call(v, level), expected, atol=1e-6)
    assert prior.info["noise_map"] is True


def test_export_feeds_a_told_network_its_level_as_a_last_channel(told_run, tmp_path):
    """onnxruntime (the oracle) on the image with a constant map of sigma / 255 answers what the network told that
    level answers, at an odd size the graph was not traced at."""
    ort = pytest.importorskip("onnxruntime")
    from pixelwise.tasks.restore import load_run

    assert main(["export", "--run", str(told_run), "--out", str(tmp_path / "net.onnx"), "--quiet"]) == 0
    _, model, _ = load_run(told_run)
    y = torch.rand(2, 1, 19, 23, generator=_g(6))
    session = ort.InferenceSession(str(tmp_path / "net.onnx"), providers=["CPUExecutionProvider"])
    for level in (5 / 255, 40 / 255):
        fed = torch.cat([y, torch.full_like(y, level)], dim=1)
        got = torch.as_tensor(session.run(None, {"image": fed.numpy()})[0])
        with torch.no_grad():
            expected = model((y, Identity(), torch.full((2,), level)))
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_apply_tells_the_level_given_and_refuses_it_for_a_run_without_a_map(told_run, prior_runs, tmp_path, capsys):
    """Each written picture is the network's output told that level (rounded to 8 bits), worked out here by
    calling the loaded network directly."""
    from pixelwise.data.io import read_image, write_image
    from pixelwise.data.samples import sample, to_uint8
    from pixelwise.tasks.restore import load_run

    picture = sample("camera", grey=True, size=24)
    write_image(tmp_path / "in" / "camera.png", to_uint8(picture))
    _, model, _ = load_run(told_run)
    y = torch.as_tensor(read_image(tmp_path / "in" / "camera.png", mode="L")).float()[None, None] / 255
    expected = {}
    for sigma in (5, 40):
        assert main(["restore", "apply", "--run", str(told_run), "--sigma", str(sigma), "--out",
                     str(tmp_path / str(sigma)), "--quiet", str(tmp_path / "in")]) == 0
        with torch.no_grad():
            expected[sigma] = model((y, Identity(), torch.full((1,), sigma / 255)))[0]
        written = read_image(tmp_path / str(sigma) / "camera.png", mode="L")
        assert (abs(written.astype(int) - to_uint8(expected[sigma].clamp(0, 1)).squeeze().astype(int)) <= 1).all()
    assert not torch.allclose(expected[5], expected[40])
    assert main(["restore", "apply", "--run", str(prior_runs / "dn"), "--sigma", "5", "--out", str(tmp_path / "no"),
                 "--quiet", str(tmp_path / "in")]) == 2
    assert "trained without --noise-map" in capsys.readouterr().err
    assert main(["restore", "apply", "--run", str(told_run), "--sigma", "-5", "--out", str(tmp_path / "neg"),
                 "--quiet", str(tmp_path / "in")]) == 2
    assert "sigma=-5.0 must be a finite number >= 0" in capsys.readouterr().err
    assert not (tmp_path / "no").exists() and not (tmp_path / "neg").exists()


def test_eval_at_another_level_measures_and_tells_that_level_beside_the_runs_own_results(told_run):
    """The naive (noisy) image at sigma 5 scores 20 log10(255 / 5) = 34.15 dB up to 8-bit rounding and clipping; the
    run's own results stay as they were."""
    from pixelwise.tasks.restore import evaluate

    own = (told_run / "metrics.json").read_bytes()
    metrics = evaluate(told_run, data="bundled", sigma=5, progress=False, log=lambda s: None)
    assert metrics["sigma"] == 5
    assert metrics["mean"]["naive"]["psnr"] == pytest.approx(34.15, abs=0.3)
    assert (told_run / "evaluations" / "bundled-denoise-sigma-5" / "metrics.json").is_file()
    assert (told_run / "metrics.json").read_bytes() == own
    with pytest.raises(PixelwiseError, match="sigma=nan must be a finite number"):
        evaluate(told_run, sigma=float("nan"), progress=False, log=lambda s: None)


def test_eval_at_several_levels_writes_one_evaluation_each_and_a_table(told_run, tmp_path, capsys):
    """``restore eval --sigma 5 15``: one evaluation per level (the noisy image's PSNR about 20 log10(255 / sigma):
    34.15 and 24.61 dB, a little above from 8-bit clipping), and a table of the same means; a repeated or bad level
    is refused, exit 2, before anything is written."""
    assert main(["restore", "eval", "--run", str(told_run), "--data", "bundled", "--sigma", "5", "15", "--quiet"]) == 0
    printed = capsys.readouterr().out.splitlines()
    table = [line.split() for line in printed[printed.index(next(r for r in printed if r.startswith("sigma"))) + 1:]]
    for (sigma, expected), line in zip([(5, 34.15), (15, 24.61)], table, strict=True):
        metrics = json.loads((told_run / "evaluations" / f"bundled-denoise-sigma-{sigma}" / "metrics.json").read_text())
        assert metrics["sigma"] == sigma and metrics["mean"]["naive"]["psnr"] == pytest.approx(expected, abs=0.6)
        assert [float(v) for v in line] == pytest.approx([sigma] + [metrics["mean"][m]["psnr"]
                                                                    for m in ("naive", "tv", "network")], abs=0.006)
    out = tmp_path / "levels"
    assert main(["restore", "eval", "--run", str(told_run), "--data", "bundled", "--sigma", "15", "5", "--out",
                 str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["sigma-15", "sigma-5"]
    for bad, words in ((["5", "5"], "repeats a level"), (["5", "-1"], "must be a finite number >= 0")):
        refused = tmp_path / "refused"
        assert main(["restore", "eval", "--run", str(told_run), "--sigma", *bad, "--out", str(refused),
                     "--quiet"]) == 2
        assert words in capsys.readouterr().err and not refused.exists()

"""The DDPM recipe and ``pixelwise diffuse train | sample`` end to end on the bundled 8x8 digits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pixelwise.cli import main
from pixelwise.diffusion import NoiseSchedule, sample
from pixelwise.errors import PixelwiseError
from pixelwise.tasks.diffusion import DiffusionConfig, generate, load_run, run

pytest.importorskip("sklearn")


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one intra-op thread is faster


def test_recipe_trains_samples_and_is_reproducible(tmp_path):
    kw = dict(data="digits", T=20, base=8, mults=(1, 2), max_images=160, epochs=3, batch_size=32, lr=3e-3,
              n_samples=6)
    a = run(DiffusionConfig(out=str(tmp_path / "a"), **kw), progress=False, log=lambda m: None)
    assert a.history[-1]["val_loss"] < a.history[0]["val_loss"]
    assert a.history[0]["val_loss"] < 1.2  # epsilon MSE starts near 1 (the noise variance)
    for name in ("config.json", "split.json", "history.csv", "metrics.json", "report.html"):
        assert (tmp_path / "a" / name).is_file()
    assert (tmp_path / "a" / "plots" / "samples.png").is_file()
    assert a.metrics["n_samples"] == 6 and 0 <= a.metrics["sample_mean"] <= 1
    images = generate(tmp_path / "a", 3, seed=5)
    assert images.shape == (3, 1, 8, 8) and images.min() >= 0 and images.max() <= 1
    np.testing.assert_array_equal(images, generate(tmp_path / "a", 3, seed=5))
    posterior = generate(tmp_path / "a", 3, seed=5, variance="posterior")  # the sampler's sigma_t^2 overridden
    config, net, split = load_run(tmp_path / "a")
    x = sample(net, NoiseSchedule.named(config.schedule, config.T), (3, *split["shape"]),
               torch.Generator().manual_seed(5), "posterior", config.clip_x0)
    np.testing.assert_array_equal(posterior, ((x.clamp(-1, 1) + 1) / 2).numpy())
    assert not np.array_equal(posterior, images)
    with pytest.raises(PixelwiseError, match="variance"):
        generate(tmp_path / "a", 3, variance="learned")
    b = run(DiffusionConfig(out=str(tmp_path / "b"), **kw), progress=False, log=lambda m: None)
    assert a.history[-1]["val_loss"] == b.history[-1]["val_loss"]


@pytest.mark.parametrize("kwargs,words", [
    ({"T": 0}, "T="), ({"schedule": "sigmoid"}, "schedule"), ({"variance": "learned"}, "variance"),
    ({"mults": ()}, "mults"), ({"split": (1.0, 0.0)}, "split"), ({"clip_x0": 0.0}, "clip_x0"),
    ({"max_images": 1}, "max_images"), ({"ema": 1.0}, "ema="), ({"min_snr": 0.0}, "min_snr="),
    ({"min_snr": -5.0}, "min_snr="), ({"attention": -1}, "attention="),
    ({"attention": 5, "base": 8, "mults": (1, 2)}, "divides the 16 channels"),
])
def test_bad_configs(kwargs, words):
    with pytest.raises(PixelwiseError, match=words):
        DiffusionConfig(**kwargs)


def test_cli_train_and_sample(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["diffuse", "train", "--data", "digits", "--T", "10", "--base", "8", "--mults", "1,2",
                 "--epochs", "1", "--max-images", "64", "--samples", "4", "--out", str(out), "--quiet",
                 "--attention", "2"])
    assert code == 0
    assert json.loads((out / "metrics.json").read_text())["T"] == 10
    assert json.loads((out / "config.json").read_text())["attention"] == 2
    assert main(["diffuse", "sample", "--run", str(out), "-n", "3", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").is_file() and np.load(tmp_path / "s.npy").shape == (3, 1, 8, 8)


@pytest.mark.parametrize("argv,words", [
    (["diffuse", "train", "--mults", "1,x", "--out", "X"], "--mults"),
    (["diffuse", "train", "--T", "0", "--out", "X"], "T=0"),
    (["diffuse", "train", "--ema", "2", "--out", "X"], "ema=2"),
    (["diffuse", "train", "--min-snr", "0", "--out", "X"], "min_snr=0"),
    (["diffuse", "sample", "--run", "X"], "not a diffusion run folder"),
    (["diffuse", "sample", "--run", "X", "-n", "0"], "n=0"),
])
def test_cli_bad_input(tmp_path, capsys, argv, words):
    argv = [str(tmp_path / a) if a == "X" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


def test_min_snr_training_weights_the_loss_and_still_learns(tmp_path):
    """``min_snr`` trains with the weighted objective: the same data and seed give a different run than the
    plain objective (the weights are not all 1 at T = 20), it learns, and validation stays the plain epsilon
    MSE (so the two runs' val_loss are comparable)."""
    kw = dict(data="digits", T=20, base=8, mults=(1, 2), max_images=160, epochs=3, batch_size=32, lr=3e-3,
              n_samples=2)
    plain = run(DiffusionConfig(out=str(tmp_path / "plain"), **kw), progress=False, log=lambda m: None)
    weighted = run(DiffusionConfig(out=str(tmp_path / "w"), min_snr=5.0, **kw), progress=False, log=lambda m: None)
    assert weighted.history[-1]["val_loss"] < weighted.history[0]["val_loss"]
    assert weighted.history[0]["train_loss"] < plain.history[0]["train_loss"]  # weights <= 1, some < 1
    assert abs(weighted.history[-1]["val_loss"] - plain.history[-1]["val_loss"]) < 0.2
    assert json.loads((tmp_path / "w" / "config.json").read_text())["min_snr"] == 5.0


def test_weighted_mse_by_hand():
    from pixelwise.tasks.diffusion import _mse, _weighted_mse

    pred = torch.tensor([[[[1.0, 3.0]]], [[[0.0, 2.0]]]])  # (2, 1, 1, 2)
    eps = torch.zeros_like(pred)
    # per-sample means of squares: (1 + 9) / 2 = 5 and (0 + 4) / 2 = 2
    assert _weighted_mse(pred, (eps, torch.tensor([1.0, 1.0]))).item() == pytest.approx(_mse(pred, eps).item())
    assert _weighted_mse(pred, (eps, torch.tensor([0.5, 1.0]))).item() == pytest.approx((0.5 * 5 + 2) / 2)

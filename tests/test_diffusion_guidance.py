"""Class-conditional DDPM with classifier-free guidance (Ho and Salimans 2022): the guided estimate and the
label dropout by hand, the sampler with exact Gaussian noise predictors (guidance extrapolates the mean by
w (m_c - m_u)), the conditional U-Net, and the recipe and CLI end to end on generated two-class images."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pixelwise.cli import main
from pixelwise.diffusion import NoiseSchedule, drop_labels, guided_epsilon, sample
from pixelwise.errors import PixelwiseError
from pixelwise.models.diffusion_unet import TimeUNet
from pixelwise.tasks.diffuse import DiffusionConfig, generate, grid_rows, run

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one intra-op thread is faster


@pytest.mark.parametrize("w,expected", [(0.0, [2.0, -1.0]), (1.0, [4.0, -3.0]), (2.5, [7.0, -6.0])])
def test_guided_epsilon_by_hand(w, expected):
    conditional, unconditional = torch.tensor([2.0, -1.0]), torch.tensor([0.0, 1.0])
    # (1 + w) c - w u: w = 1 gives 2c - u = (4, -3); w = 2.5 gives 3.5 c - 2.5 u = (7, -6)
    torch.testing.assert_close(guided_epsilon(conditional, unconditional, w), torch.tensor(expected))


def test_guided_epsilon_rejects_negative_weights():
    with pytest.raises(ValueError, match="w=-1"):
        guided_epsilon(torch.zeros(2), torch.zeros(2), -1.0)


def test_drop_labels_rate_seed_and_bounds():
    labels = torch.arange(20_000) % 7
    kept = drop_labels(labels, 0.0, 7)
    assert torch.equal(kept, labels)
    assert torch.equal(drop_labels(labels, 1.0, 7), torch.full_like(labels, 7))
    dropped = drop_labels(labels, 0.3, 7, torch.Generator().manual_seed(1))
    hidden = dropped == 7
    assert hidden.float().mean().item() == pytest.approx(0.3, abs=0.01)  # 3 sigma of Binomial(20000, 0.3): 0.01
    assert torch.equal(dropped[~hidden], labels[~hidden])  # the rest keep their own label
    assert torch.equal(dropped, drop_labels(labels, 0.3, 7, torch.Generator().manual_seed(1)))
    with pytest.raises(ValueError, match="probability"):
        drop_labels(labels, 1.5, 7)


@pytest.mark.parametrize("w", [0.0, 0.5, 2.0])
def test_guided_sampler_with_exact_gaussian_predictors_extrapolates_the_mean(w):
    """With exact noise predictors for N(m_c, s^2) (conditional) and N(m_u, s^2) (unconditional), the guided
    estimate is the exact predictor of N(m_c + w (m_c - m_u), s^2) at every t (equal variances: the scores'
    x terms cancel), so ancestral sampling must return that Gaussian."""
    m_c, m_u, s = 0.4, 0.1, 0.2
    sched = NoiseSchedule.cosine(200)

    def oracle(mean):
        def eps(x, t):
            ab = sched.alpha_bars[t].float().view(-1, 1)
            return (1 - ab).sqrt() * (x - ab.sqrt() * mean) / (ab * s**2 + 1 - ab)
        return eps

    def guided(x, t):
        return guided_epsilon(oracle(m_c)(x, t), oracle(m_u)(x, t), w)

    x = sample(guided, sched, (10_000, 1), torch.Generator().manual_seed(0))
    assert x.mean().item() == pytest.approx(m_c + w * (m_c - m_u), abs=0.01)
    assert x.std().item() == pytest.approx(s, rel=0.05)


@pytest.mark.parametrize("shape", [(3, 1, 8, 8), (2, 2, 13, 9)])
def test_conditional_time_unet(shape):
    torch.manual_seed(0)
    net = TimeUNet(shape[1], base=8, mults=(1, 2), classes=3)
    assert net.null_label == 3 and net.class_embedding.weight.shape == (4, 32)  # K + 1 rows of time_dim = 4 base
    x, t = torch.randn(shape), torch.arange(shape[0])
    with torch.no_grad():
        a, b = net(x, t, torch.zeros(shape[0], dtype=torch.long)), net(x, t, torch.full((shape[0],), 2))
        assert a.shape == x.shape and not torch.allclose(a, b)
        torch.testing.assert_close(net(x, t), net(x, t, torch.full((shape[0],), 3)))  # None = "no label"
    plain = sum(p.numel() for p in TimeUNet(shape[1], base=8, mults=(1, 2)).parameters())
    assert sum(p.numel() for p in net.parameters()) == plain + 4 * 32
    with pytest.raises(ValueError, match="unconditional"):
        TimeUNet(1, 8)(torch.zeros(2, 1, 8, 8), torch.zeros(2, dtype=torch.long), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="y must have shape"):
        net(x, t, torch.zeros(shape[0] + 1, dtype=torch.long))
    with pytest.raises(ValueError, match="classes=-1"):
        TimeUNet(1, 8, classes=-1)


def test_grid_rows_put_one_class_per_column():
    images = np.arange(7)[:, None, None, None] * np.ones((7, 1, 2, 2))
    rows, titles = grid_rows(images, 3)  # samples of classes 0, 1, 2, 0, 1, 2, 0
    assert [r[:, 0, 0, 0].tolist() for r in rows] == [[0, 1, 2], [3, 4, 5], [6]]
    assert titles == ["classes 0..2", "", ""]
    rows, titles = grid_rows(images)
    assert len(rows) == 1 and rows[0] is images and titles == ["7 samples"]


def _two_classes(path, n=96, seed=0):
    """Class 0: dark 8x8 images (grey 50 +- noise); class 1: bright ones (grey 205 +- noise)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = np.where(labels[:, None, None] == 1, 205, 50) + rng.normal(0, 10, (n, 8, 8))
    np.savez(path, images=images.clip(0, 255).astype(np.uint8), labels=labels.astype(np.uint8))
    return path


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("conditional")
    data = _two_classes(root / "two.npz")
    config = DiffusionConfig(data=str(data), out=str(root / "run"), T=50, base=16, mults=(1, 2), epochs=60,
                             batch_size=16, lr=3e-3, n_samples=4, conditional=True, label_dropout=0.2, guidance=1.0,
                             ema=None)
    return run(config, progress=False, log=lambda m: None), data


@pytest.mark.slow  # the conditional_run fixture trains for about 8 s
def test_conditional_recipe_draws_the_class_asked_for(conditional_run):
    result, _ = conditional_run
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]
    assert json.loads((result.run_dir / "split.json").read_text())["classes"] == 2
    assert result.metrics["conditional"] and result.metrics["guidance"] == 1.0
    per_sample = (result.run_dir / "per_case.csv").read_text().splitlines()  # each class in turn: 0, 1, 0, 1
    assert per_sample[0].startswith("sample,label,") and [r.split(",")[1] for r in per_sample[1:]] == list("0101")
    means = {}
    for w in (0.0, 2.0):  # the class means are 0.2 and 0.8
        dark = generate(result.run_dir, 16, seed=3, labels=0, guidance=w).mean((1, 2, 3))
        bright = generate(result.run_dir, 16, seed=3, labels=1, guidance=w).mean((1, 2, 3))
        means[w] = (dark.mean(), bright.mean())
        assert dark.mean() < 0.4 and bright.mean() > 0.6
    assert (dark < 0.35).all() and (bright > 0.65).all()  # guided (w = 2): every sample of the class asked for
    # guidance pushes each class away from the unconditional mixture (mean 0.5)
    assert means[2.0][0] < means[0.0][0] and means[2.0][1] > means[0.0][1]
    each = generate(result.run_dir, 6, seed=3, labels="each", guidance=2.0).mean((1, 2, 3))
    assert (each[[0, 2, 4]] < 0.35).all() and (each[[1, 3, 5]] > 0.65).all()
    np.testing.assert_array_equal(each, generate(result.run_dir, 6, seed=3, labels=[0, 1, 0, 1, 0, 1],
                                                 guidance=2.0).mean((1, 2, 3)))
    unconditional = generate(result.run_dir, 32, seed=3)  # no labels: the "no label" model, both kinds
    with pytest.raises(PixelwiseError, match="labels=K"):
        generate(result.run_dir, 2, guidance=1.0)
    assert (unconditional.mean((1, 2, 3)) < 0.5).any() and (unconditional.mean((1, 2, 3)) > 0.5).any()


@pytest.mark.slow  # the conditional_run fixture trains for about 8 s
@pytest.mark.parametrize("labels,words", [(2, "0..1"), (-1, "0..1"), ([0, 1], "one class or 4"), (0.5, "integers"),
                                          ("all", "'each'")])
def test_bad_labels(conditional_run, labels, words):
    with pytest.raises(PixelwiseError, match=words):
        generate(conditional_run[0].run_dir, 4, labels=labels)


@pytest.mark.slow  # the conditional_run fixture trains for about 8 s
def test_cli_conditional_train_and_sample(conditional_run, tmp_path, capsys):
    _, data = conditional_run
    out = tmp_path / "run"
    assert main(["diffuse", "train", "--data", str(data), "--T", "5", "--base", "8", "--mults", "1,2", "--epochs",
                 "1", "--samples", "2", "--out", str(out), "--quiet", "--conditional", "--guidance", "2",
                 "--label-dropout", "0.3"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["conditional"] and config["guidance"] == 2.0 and config["label_dropout"] == 0.3
    assert main(["diffuse", "sample", "--run", str(out), "-n", "3", "--label", "1", "--guidance", "0.5",
                 "--out", str(tmp_path / "s.png")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (3, 1, 8, 8)
    assert main(["diffuse", "sample", "--run", str(out), "-n", "3", "--label", "each",
                 "--out", str(tmp_path / "e.png")]) == 0
    for argv, words in [
        (["diffuse", "sample", "--run", str(out), "-n", "3", "--label", "2"], "0..1"),
        (["diffuse", "sample", "--run", str(out), "-n", "3", "--guidance", "1"], "--label"),
        (["diffuse", "sample", "--run", str(out), "--label", "x"], "class number"),
        (["diffuse", "train", "--data", "X", "--conditional", "--label-dropout", "1", "--out", "Y"],
         "--label-dropout=1.0"),
        (["diffuse", "train", "--guidance", "1", "--out", "Y"], "conditional"),
    ]:
        argv = [str(tmp_path / a) if a in ("X", "Y") else a for a in argv]
        try:
            code = main(argv)
        except SystemExit as exit:  # argparse's own errors (a --label that is no number)
            code = exit.code
        assert code == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") <= 2, err
    assert not (tmp_path / "Y").exists()


def test_conditional_needs_labels_and_unconditional_runs_refuse_them(tmp_path):
    unlabelled = tmp_path / "unlabelled.npz"
    np.savez(unlabelled, images=np.zeros((8, 8, 8), np.uint8))
    with pytest.raises(PixelwiseError, match="has no labels"):
        run(DiffusionConfig(data=str(unlabelled), out=str(tmp_path / "c"), T=5, base=8, mults=(1, 2), epochs=1,
                            conditional=True), progress=False, log=lambda m: None)
    assert not (tmp_path / "c").exists()
    plain = run(DiffusionConfig(data=str(unlabelled), out=str(tmp_path / "p"), T=5, base=8, mults=(1, 2), epochs=1,
                                batch_size=4, n_samples=2), progress=False, log=lambda m: None)
    with pytest.raises(PixelwiseError, match="unconditional DDPM"):
        generate(plain.run_dir, 2, labels=0)
    with pytest.raises(PixelwiseError, match="guidance=-1"):
        generate(plain.run_dir, 2, guidance=-1.0)
    for kwargs, words in [({"guidance": 1.0}, "conditional=True"), ({"conditional": True, "label_dropout": 0.0},
                                                                     "label_dropout"),
                          ({"conditional": True, "guidance": -2.0}, "guidance=-2")]:
        with pytest.raises(PixelwiseError, match=words):
            DiffusionConfig(**kwargs)

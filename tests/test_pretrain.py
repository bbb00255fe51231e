"""pixelwise pretrain: images read from every kind of source, pretext batches by hand, a denoising autoencoder that
beats the mean image, evaluations that never replace the run's results, and linear probes checked against
scikit-learn's logistic regression (the oracle) and by what labels must give."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from pixelwise.cli import main
from pixelwise.errors import DataError, PixelwiseError
from pixelwise.losses import masked_mse
from pixelwise.metrics.probe import fit_logistic, linear_probe
from pixelwise.tasks.pretrain import PretrainConfig, evaluate, read_images, run
from pixelwise.tasks.pretrain.batches import _top1, make_batch, pretext_scores

pytestmark = pytest.mark.usefixtures("one_thread")
QUIET = dict(progress=False, log=lambda s: None)


def test_images_from_folders_class_folders_npz_and_named_sets(polyp_folder, tmp_path):
    seg = read_images(str(polyp_folder), 16, 3)  # images/ only: masks are not images to pretrain on
    assert seg.images.shape == (48, 16, 16, 3) and seg.labels is None and seg.images.dtype == np.uint8
    for k, name in enumerate(("cat", "dog")):
        (tmp_path / "classes" / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((5, 7, 3), 40 * k + i, np.uint8)).save(tmp_path / "classes" / name / f"{i}.png")
    classes = read_images(str(tmp_path / "classes"), 4, 1)
    assert classes.labels.tolist() == [0, 0, 0, 1, 1, 1] and classes.class_names == ["cat", "dog"]
    assert classes.images[4, 0, 0, 0] == 41 and classes.images.shape == (6, 4, 4, 1)
    np.savez(tmp_path / "set.npz", images=np.arange(2 * 6 * 6, dtype=np.uint8).reshape(2, 6, 6), labels=[3, 1])
    npz = read_images(str(tmp_path / "set.npz"), 6, 3)  # grey repeated into three channels
    assert npz.labels.tolist() == [3, 1] and (npz.images[..., 0] == npz.images[..., 2]).all()
    assert npz.images[1, 0, 0, 0] == 36
    subset = read_images("digits", 8, 1, max_images=50, seed=3)
    assert subset.images.shape == (50, 8, 8, 1) and len(set(subset.labels.tolist())) > 5
    with pytest.raises(DataError, match="is a file, not a folder"):
        read_images(str(tmp_path / "classes" / "cat" / "0.png"), 8, 1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no image files"):
        read_images(str(tmp_path / "empty"), 8, 1)


def _config(**kw):
    base = dict(data="unused", out="unused", size=16, base_channels=4, depth=2, norm_mean=[0.5], norm_std=[0.25],
                channels=1)
    return PretrainConfig(**{**base, **kw})


def test_batches_by_method():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, 16, 16, generator=g)
    inputs, _ = make_batch(x, _config(method="simclr"), g)
    assert inputs.shape == (6, 1, 16, 16)  # two views of each image, first views first
    clean = (x - 0.5) / 0.25
    inputs, (target, w) = make_batch(x, _config(method="ae", flips="none"), g)
    assert torch.allclose(inputs, clean) and torch.allclose(target, clean) and w is None
    inputs, (target, w) = make_batch(x, _config(method="dae", flips="none", noise=0.1), g)
    noise = (inputs - clean) * 0.25  # back in [0, 1] units
    assert abs(noise.std().item() - 0.1) < 0.015 and torch.allclose(target, clean)
    inputs, (target, hidden) = make_batch(x, _config(method="mae", flips="none", mask_patch=4, mask_ratio=0.75), g)
    assert (hidden.sum(dim=(1, 2, 3)) == 12 * 16).all()  # 12 of the 16 4x4 squares hidden
    assert torch.equal(inputs, clean * (1 - hidden))  # the U-Net sees zeros there
    (vit_x, keep), _ = make_batch(x, _config(method="mae", model="vit", patch_size=8, dim=8, heads=2, flips="none"), g)
    assert keep.shape == (3, 1) and torch.allclose(vit_x, clean)  # the ViT gets the image and the visible patches


@pytest.mark.parametrize("n, batch, chance", [
    (5, 2, [1 / 3] * 5),  # batches of 2, 2 and a lone image paired with the one before: 1 of 3 other views
    (4, 4, [1 / 7] * 4),  # one batch of 4: 1 of 7
    (1, 4, [1.0]),  # a lone image has one other view: top-1 is 1 and the loss 0 whatever the network
])
def test_simclr_scores_carry_their_chance_level(n, batch, chance):
    from pixelwise.tasks.pretrain import build_model, loss_for

    config = _config(method="simclr", batch_size=batch, flips="none")
    torch.manual_seed(0)
    net = build_model(config).eval()
    images = np.random.default_rng(0).integers(0, 256, (n, 16, 16, 1), dtype=np.uint8)
    with torch.no_grad():
        rows = pretext_scores(net, loss_for(config), images, config)
    assert [r["top1_chance"] for r in rows] == pytest.approx(chance)
    if n == 1:
        assert rows[0]["top1"] == 1.0 and rows[0]["loss"] == pytest.approx(0.0, abs=1e-6)


def test_top1_and_masked_mse_by_hand():
    eye = torch.eye(3)
    assert _top1(torch.cat([eye, eye])).tolist() == [1.0, 1.0, 1.0]
    # views 0 and 1 swap their second views: each first view's nearest is the other image's second view
    swapped = torch.cat([eye, eye[[1, 0, 2]]])
    assert _top1(swapped).tolist() == [0.0, 0.0, 1.0]
    p, t = torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 2, 2)
    t[0, :, 0, 0] = 3.0  # errors 9 at the top-left pixel, 1 elsewhere, in both channels
    w = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    assert masked_mse(p, t, w).item() == pytest.approx((9 + 1) * 2 / (2 * 2))  # (sum of w err^2) / (C sum w)
    assert masked_mse(p, t).item() == pytest.approx((9 + 3) / 4)


@pytest.mark.slow
def test_a_denoising_autoencoder_beats_the_mean_image_and_evaluations_go_aside(polyp_folder, tmp_path):
    config = PretrainConfig(data=str(polyp_folder), out=str(tmp_path / "dae"), method="dae", size=16, base_channels=8,
                            depth=2, epochs=10, batch_size=4, lr=3e-3, val_fraction=0.2, seed=1)
    result = run(config, **QUIET)
    m = result.metrics["metrics"]
    saved = json.loads((result.run_dir / "config.json").read_text())
    val = read_images(str(polyp_folder), 16, 3).images.reshape(48, -1, 3).astype(float) / 255
    baseline = (((val - saved["norm_mean"]) / saved["norm_std"]) ** 2).mean()  # predicting the mean colour
    assert m["mse"]["mean"] < 0.8 * baseline
    own = (result.run_dir / "metrics.json").read_bytes()
    other = evaluate(result.run_dir, str(polyp_folder), **QUIET)
    assert other["n_cases"] == 48 and (result.run_dir / "evaluations" / "data" / "report.html").is_file()
    assert (result.run_dir / "metrics.json").read_bytes() == own


def test_fit_logistic_matches_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 5)), rng.integers(0, 3, 60)
    x[:, 0] += y
    lam = 0.05
    w, b = fit_logistic(torch.from_numpy(x), torch.from_numpy(y), 3, lam, max_iter=1000, tol=1e-10)
    oracle = LogisticRegression(C=1 / (lam * 60), tol=1e-12, max_iter=10000).fit(x, y)  # C = 1 / (lambda n)
    ours = torch.softmax(torch.from_numpy(x) @ w + b, 1).numpy()
    np.testing.assert_allclose(ours, oracle.predict_proba(x), atol=1e-5)


def test_linear_probe_separates_what_is_separable_and_not_noise():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 200)
    signal = np.eye(4)[y] * 4 + rng.normal(size=(200, 4))  # the class, plus noise
    noise = rng.normal(size=(200, 6))
    good = linear_probe(signal[:150], y[:150], signal[150:], y[150:], seed=0)
    bad = linear_probe(noise[:150], y[:150], noise[150:], y[150:], seed=0)
    assert good["accuracy"] > 0.9 and bad["accuracy"] < 0.5
    assert good["l2"] in (1e-4, 1e-3, 1e-2, 1e-1) and len(good["predictions"]) == 50


@pytest.mark.slow
def test_probe_on_digits_labels_beat_a_random_encoder(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["pretrain", "train", "--data", "digits", "--channels", "1", "--size", "8", "--base-channels", "8",
                 "--depth", "1", "--epochs", "1", "--max-images", "64", "--flips", "none", "--out", str(out),
                 "--quiet"]) == 0
    assert main(["pretrain", "eval", "--run", str(out), "--probe", "--data", "digits", "--max-images", "400",
                 "--supervised-epochs", "15", "--quiet"]) == 0
    metrics = json.loads((out / "evaluations" / "probe-digits" / "metrics.json").read_text())
    acc = metrics["accuracy"]
    assert metrics["test_images"] == 80 and set(acc) == {"pretrained", "random", "supervised"}
    assert acc["supervised"] > acc["random"] + 0.05  # what labels give
    rows = (out / "evaluations" / "probe-digits" / "per_case.csv").read_text().splitlines()
    assert len(rows) == 81 and rows[0].startswith("id,label,predicted_pretrained,correct_pretrained")
    assert "linear probe on 80 test images" in capsys.readouterr().out


def test_a_probe_needs_labels(polyp_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["pretrain", "train", "--data", str(polyp_folder), "--size", "8", "--base-channels", "2", "--depth",
                 "1", "--epochs", "1", "--max-images", "8", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    for argv, words in ((["--data", str(polyp_folder)], "has no labels, so a probe cannot be scored"),
                        ([], "--probe needs labelled --data")):
        assert main(["pretrain", "eval", "--run", str(out), "--probe", *argv, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err
    assert not (out / "evaluations").exists()


@pytest.mark.parametrize("kw,words", [
    (dict(method="byol"), "method='byol'"), (dict(temperature=0), "temperature=0"),
    (dict(crop_scale=(0.5, 0.2)), "crop_scale"), (dict(mask_ratio=1.0), "mask_ratio=1.0"),
    (dict(model="vit", size=20, patch_size=8), "multiple of patch_size=8"), (dict(val_fraction=1.0), "val_fraction"),
    (dict(batch_size=1), "gives SimCLR no negatives"), (dict(channels=2), "channels=2"),
])
def test_bad_settings_are_refused(kw, words):
    with pytest.raises(PixelwiseError, match=words):
        PretrainConfig(**kw)

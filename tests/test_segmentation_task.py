import json

import numpy as np
import pytest
import torch
from PIL import Image

from pixelwise.data.folders import ImageMaskFolder
from pixelwise.errors import PixelwiseError
from pixelwise.tasks.segmentation import SegmentationConfig, build_model, evaluate, load_run, predict, run

QUIET = dict(progress=False, log=lambda s: None)


def tiny(data, out, **kw):
    base = dict(data=str(data), out=str(out), size=32, base_channels=4, depth=2, epochs=2, batch_size=4, lr=3e-3)
    return SegmentationConfig(**{**base, **kw})


@pytest.mark.slow
def test_training_beats_an_untrained_model(polyp_folder, tmp_path):
    config = tiny(polyp_folder, tmp_path / "run", epochs=25, base_channels=8, seed=1, lr=1e-2)
    result = run(config, **QUIET)
    untrained = tiny(polyp_folder, tmp_path / "zero", epochs=1, lr=1e-9, seed=1)
    baseline = run(untrained, **QUIET)
    trained_iou = result.metrics["metrics"]["iou"]["mean"]
    assert trained_iou > baseline.metrics["metrics"]["iou"]["mean"] + 0.3
    assert trained_iou > 0.6
    run_dir = result.run_dir
    for name in ("config.json", "split.json", "history.csv", "metrics.json", "per_case.csv", "report.html",
                 "plots/loss.png", "plots/val_iou.png", "checkpoints/best.safetensors"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["n_cases"] == len(json.loads((run_dir / "split.json").read_text())["test"])
    assert sum(metrics["categories"].values()) == metrics["n_cases"]
    assert sum(metrics["groups"].values()) == metrics["n_cases"]


def test_same_config_and_seed_reproduce_the_numbers(polyp_folder, tmp_path):
    a = run(tiny(polyp_folder, tmp_path / "a", seed=2), **QUIET)
    b = run(tiny(polyp_folder, tmp_path / "b", seed=2), **QUIET)
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history]
    assert a.metrics["metrics"] == b.metrics["metrics"]


@pytest.mark.parametrize("kw", [
    dict(model="unet", padding="valid"),
    dict(model="vit", patch_size=8, dim=16, vit_depth=1, heads=2),
    dict(model="fcn", depth=2, dilations=(1, 2)),
    dict(model="unet", up="bilinear", norm="group", schedule="onecycle", augment=False),
], ids=["unet-valid", "vit", "fcn-dilated", "unet-bilinear"])
def test_every_model_trains_and_evaluates(polyp_folder, tmp_path, kw):
    result = run(tiny(polyp_folder, tmp_path / "r", epochs=1, **kw), **QUIET)
    assert 0 <= result.metrics["metrics"]["iou"]["mean"] <= 1
    config, model = load_run(result.run_dir)
    x = torch.zeros(1, 3, 32, 32)
    assert model(x).shape == (1, 1, 32, 32)


def test_valid_padding_output_lines_up_with_the_input():
    """Output pixel j of the padded valid U-Net must be the net's prediction centred on input pixel j."""
    config = SegmentationConfig(data="", size=40, depth=1, base_channels=2, padding="valid", norm="none")
    torch.manual_seed(0)
    model = build_model(config).eval()
    c = model.offset  # depth 1: the net shrinks 4 + 8 + 4 = 16 pixels, so c = 8
    assert c == 8 and model.output_size >= 40
    big = torch.randn(1, 3, 80, 80)
    with torch.no_grad():
        reference = model.net(big)  # valid output: reference[j] is centred on big[j + c]
        q = 18  # crop origin, chosen so that (q - c) is even: the same 2x2 pooling grid
        crop = model(big[..., q:q + 40, q:q + 40])
    assert crop.shape == (1, 1, 40, 40)
    # away from the borders (where reflect padding enters the receptive field) the two agree exactly
    inner = slice(c, 40 - c)
    ref = reference[..., q:q + 40 - 2 * c, q:q + 40 - 2 * c]  # crop[j] is reference[q + j - c]
    torch.testing.assert_close(crop[..., inner, inner], ref)


def test_multiclass_segmentation(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "d" / "images").mkdir(parents=True)
    (tmp_path / "d" / "masks").mkdir(parents=True)
    for i in range(12):
        labels = np.zeros((24, 24), np.uint8)
        labels[2:10, 2:10] = 1
        labels[12:20, 12 + i % 3:20] = 2
        image = rng.integers(0, 40, (24, 24, 3)).astype(np.uint8)
        image[labels == 1] += 150
        image[labels == 2, 2] += 200
        Image.fromarray(image).save(tmp_path / "d" / "images" / f"m{i}.png")
        Image.fromarray(labels).save(tmp_path / "d" / "masks" / f"m{i}.png")
    result = run(tiny(tmp_path / "d", tmp_path / "r", num_classes=3, size=24, epochs=3, depth=1), **QUIET)
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert "dice_1" in metrics["metrics"] and "dice_2" in metrics["metrics"]


def test_predict_writes_masks_at_each_images_size(polyp_folder, tmp_path):
    result = run(tiny(polyp_folder, tmp_path / "r", epochs=1), **QUIET)
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i, (h, w) in enumerate([(17, 29), (40, 40), (33, 8)]):
        Image.fromarray(np.full((h, w, 3), 120, np.uint8)).save(inputs / f"x{i}.jpg")
    written = predict(result.run_dir, [inputs], tmp_path / "masks", progress=False)
    sizes = {p.stem: Image.open(p).size for p in written}
    assert sizes == {"x0": (29, 17), "x1": (40, 40), "x2": (8, 33)}
    values = set(np.unique(np.asarray(Image.open(written[0]))).tolist())
    assert values <= {0, 255}


def test_evaluate_on_another_folder(polyp_folder, tmp_path):
    result = run(tiny(polyp_folder, tmp_path / "r", epochs=1), **QUIET)
    metrics = evaluate(result.run_dir, data=str(polyp_folder), **QUIET)
    assert metrics["n_cases"] == len(ImageMaskFolder(polyp_folder))


def test_bad_data_writes_nothing(tmp_path, polyp_folder):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(polyp_folder, broken)
    (broken / "masks" / "case_0005.png").unlink()
    with pytest.raises(PixelwiseError, match="case_0005"):
        run(tiny(broken, tmp_path / "out"), **QUIET)
    assert not (tmp_path / "out").exists()
    (broken / "masks" / "case_0005.png").write_bytes((polyp_folder / "masks" / "case_0005.png").read_bytes())
    (broken / "images" / "case_0007.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(PixelwiseError, match="case_0007"):
        run(tiny(broken, tmp_path / "out"), **QUIET)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kw,match", [
    (dict(model="resnet"), "unet, vit, fcn"), (dict(lambda_dice=-1), "lambda_dice"), (dict(size=4), "size"),
    (dict(model="vit", size=40, patch_size=16), "multiple"), (dict(batch_size=0), "batch_size"),
    (dict(good_iou=0.1, partial_iou=0.5), "thresholds"),
])
def test_bad_config(kw, match):
    with pytest.raises(PixelwiseError, match=match):
        SegmentationConfig(data="x", **kw)


@pytest.mark.parametrize("model_kw", [dict(model="unet"), dict(model="unet", padding="valid", depth=1),
                                      dict(model="fcn", depth=2)], ids=["unet", "unet-valid", "fcn"])
def test_frozen_inference_model_equals_eager(model_kw):
    from pixelwise.tasks.segmentation import inference_model

    config = SegmentationConfig(data="", size=24, base_channels=4, depth=model_kw.pop("depth", 2), **model_kw)
    torch.manual_seed(0)
    model = build_model(config).eval()
    for m in model.modules():  # non-trivial running statistics, so that folding batch norm matters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    fast = inference_model(model, config, batch_size=3)
    assert isinstance(fast, torch.jit.ScriptModule)
    for n in (3, 1, 5):  # other batch sizes than the traced one
        x = torch.randn(n, 3, 24, 24)
        with torch.no_grad():
            torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-4)


class _Corner(torch.nn.Module):
    """A deliberately non-equivariant 'model': logit = x[:, :1] + a ramp that increases to the right."""

    def forward(self, x):
        ramp = torch.linspace(-1, 1, x.shape[-1]).view(1, 1, 1, -1)
        return x[:, :1] + 3 * ramp


@pytest.mark.parametrize("tta,n", [("flips", 4), ("dihedral", 8)])
def test_tta_makes_the_prediction_equivariant(tta, n):
    from pixelwise.tasks.segmentation import tta_logits

    torch.manual_seed(0)
    model = build_model(SegmentationConfig(data="", size=24, base_channels=4, depth=2)).eval()
    x = torch.randn(2, 3, 24, 24)
    ops = [lambda t: t.flip(-1), lambda t: t.flip(-2)] + ([lambda t: t.transpose(-1, -2)] if n == 8 else [])
    with torch.no_grad():
        plain = tta_logits(model, x, None, "none")
        out = tta_logits(model, x, None, tta)
        torch.testing.assert_close(plain, model(x))
        assert not torch.allclose(plain.flip(-1), model(x.flip(-1)), atol=1e-3)  # the net alone is not equivariant
        for g in ops:  # averaging over the group makes it so: f(g x) = g f(x)
            torch.testing.assert_close(tta_logits(model, g(x), None, tta), g(out), rtol=1e-4, atol=1e-4)


def test_tta_averages_probabilities_by_hand():
    from pixelwise.tasks.segmentation import tta_logits

    x = torch.zeros(1, 3, 5, 5)
    ramp = 3 * torch.linspace(-1, 1, 5)
    # flips: identity and vertical flip see +ramp, horizontal flip and 180 degrees see the mirrored ramp
    expected_p = (2 * torch.sigmoid(ramp) + 2 * torch.sigmoid(ramp.flip(0))) / 4  # = 0.5 everywhere
    out = tta_logits(_Corner(), x, None, "flips")
    torch.testing.assert_close(torch.sigmoid(out[0, 0, 2]), expected_p, atol=1e-5, rtol=0)
    # multi-class: log of the mean softmax, so exp sums to 1 and argmax follows the mean probability
    two = lambda t: torch.cat([_Corner()(t), -_Corner()(t)], 1)  # noqa: E731
    scores = tta_logits(two, x, 2, "dihedral")
    torch.testing.assert_close(scores.exp().sum(1), torch.ones(1, 5, 5))


def test_evaluate_and_predict_with_tta(polyp_folder, tmp_path):
    result = run(tiny(polyp_folder, tmp_path / "r", epochs=1), **QUIET)
    metrics = evaluate(result.run_dir, tta="dihedral", **QUIET)
    assert metrics["tta"] == "dihedral" and metrics["n_cases"] > 0
    with pytest.raises(PixelwiseError, match="tta='rot45'"):
        evaluate(result.run_dir, tta="rot45", **QUIET)
    with pytest.raises(PixelwiseError, match="tta"):
        predict(result.run_dir, [polyp_folder / "images"], tmp_path / "masks", progress=False, tta="both")
    assert not (tmp_path / "masks").exists()

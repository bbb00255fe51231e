import json

import numpy as np
import pytest
import torch
from PIL import Image

from pixelwise.data.folders import ImageMaskFolder
from pixelwise.errors import PixelwiseError
from pixelwise.tasks.segment import SegmentationConfig, build_model, evaluate, load_run, predict, run, tta_logits

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
    assert metrics["tiers"]["good"] + metrics["tiers"]["partial"] + metrics["tiers"]["poor"] == metrics["n_cases"]


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


def test_evaluate_on_another_folder_never_replaces_the_runs_own_results(polyp_folder, tmp_path):
    result = run(tiny(polyp_folder, tmp_path / "r", epochs=1), **QUIET)
    own = {name: (result.run_dir / name).read_bytes() for name in ("metrics.json", "per_case.csv", "report.html")}
    metrics = evaluate(result.run_dir, data=str(polyp_folder), **QUIET)
    assert metrics["n_cases"] == len(ImageMaskFolder(polyp_folder))
    other = result.run_dir / "evaluations" / polyp_folder.name
    assert json.loads((other / "metrics.json").read_text())["n_cases"] == len(ImageMaskFolder(polyp_folder))
    assert (other / "report.html").is_file() and (other / "per_case.csv").is_file()
    evaluate(result.run_dir, tta="flips", **QUIET)  # other settings on the test split: a folder of their own too
    evaluate(result.run_dir, which="last", name="mine", **QUIET)
    assert (result.run_dir / "evaluations" / "test-tta-flips" / "metrics.json").is_file()
    assert (result.run_dir / "evaluations" / "mine" / "metrics.json").is_file()
    assert {name: (result.run_dir / name).read_bytes() for name in own} == own
    evaluate(result.run_dir, out=tmp_path / "elsewhere", **QUIET)
    assert (tmp_path / "elsewhere" / "metrics.json").is_file()
    # the run's own evaluation again: the same numbers, written where they were
    assert evaluate(result.run_dir, **QUIET)["metrics"] == json.loads(own["metrics.json"])["metrics"]


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


class _Corner(torch.nn.Module):
    """A deliberately non-equivariant 'model': logit = x[:, :1] + a ramp that increases to the right."""

    def forward(self, x):
        ramp = torch.linspace(-1, 1, x.shape[-1]).view(1, 1, 1, -1)
        return x[:, :1] + 3 * ramp


@pytest.mark.parametrize("tta,n", [("flips", 4), ("dihedral", 8)])
def test_tta_makes_the_prediction_equivariant(tta, n):
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


class _TinyNet(torch.nn.Module):
    """A user's own model: two convolutions, (N, 3, S, S) -> (N, 1, S, S)."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.ReLU(),
                                        torch.nn.Conv2d(6, 1, 3, padding=1))

    def forward(self, x):
        return self.body(x)


def test_a_model_of_ones_own_trains_evaluates_and_predicts(polyp_folder, tmp_path):
    torch.manual_seed(0)
    net = _TinyNet()
    before = [p.detach().clone() for p in net.parameters()]
    result = run(tiny(polyp_folder, tmp_path / "r", epochs=2), model=net, **QUIET)
    assert json.loads((result.run_dir / "config.json").read_text())["model"] == "custom"
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))  # trained in place
    assert 0 <= result.metrics["metrics"]["iou"]["mean"] <= 1
    with pytest.raises(PixelwiseError, match="model="):
        evaluate(result.run_dir, **QUIET)  # the run cannot rebuild a model it was given
    again = evaluate(result.run_dir, model=_TinyNet(), **QUIET)
    assert again["metrics"] == result.metrics["metrics"]  # the best checkpoint, loaded into a fresh net
    written = predict(result.run_dir, [polyp_folder / "images"], tmp_path / "m", model=_TinyNet(), progress=False)
    assert len(written) == 48


def test_image_mask_folder_is_a_dataset_for_a_data_loader(polyp_folder, tmp_path):
    from torch.utils.data import DataLoader

    from pixelwise.losses import BCEDiceLoss
    from pixelwise.train import FitConfig, fit

    folder = ImageMaskFolder(polyp_folder, size=(24, 24))
    image, mask = folder[3]
    assert image.shape == (3, 24, 24) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    assert mask.shape == (24, 24) and mask.dtype == torch.int64 and set(mask.unique().tolist()) <= {0, 1}
    raw_image, raw_mask = folder.read(3)
    torch.testing.assert_close(ImageMaskFolder(polyp_folder)[3][0], torch.from_numpy(raw_image).permute(2, 0, 1)
                               / 255.0)
    loader = DataLoader(folder, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    net, dice = _TinyNet(), BCEDiceLoss(1.0)
    result = fit(net, lambda out, y: dice(out, y[:, None].float()), loader, config=FitConfig(epochs=3, lr=1e-2,
                 progress=False), run_dir=tmp_path / "own", log=lambda s: None)
    assert len(result.history) == 3 and result.history[0]["steps"] == 6  # 48 cases in batches of 8
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert (tmp_path / "own" / "checkpoints" / "best.safetensors").is_file()

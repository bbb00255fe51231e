"""segment train --init / --freeze-encoder / --label-fraction / --label-ids: the encoder arrives by name and exactly
(a frozen one leaves the run exactly as it came, batch-norm statistics included), mismatches are refused by name
with nothing written, and label fractions are nested, seeded subsets of the training cases that leave the
validation and test cases of the full run untouched."""

from __future__ import annotations

import json

import pytest
import torch

from pixelwise.cli import main
from pixelwise.errors import PixelwiseError
from pixelwise.tasks.pretrain import PretrainConfig
from pixelwise.tasks.pretrain import run as pretrain
from pixelwise.tasks.segment import SegmentationConfig, build_model, run
from pixelwise.tasks.segment.data import make_split
from pixelwise.tasks.segment.transfer import prepare, with_labels
from pixelwise.train.checkpoint import read_weights
from pixelwise.train.runs import config_dict

pytestmark = pytest.mark.usefixtures("one_thread")
QUIET = dict(progress=False, log=lambda s: None)
TINY = dict(size=24, base_channels=4, depth=2, batch_size=4)


@pytest.fixture(scope="module")
def pretrained(polyp_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("pre") / "simclr"
    pretrain(PretrainConfig(data=str(polyp_folder), out=str(out), epochs=1, **TINY), **QUIET)
    return out


def _config(data, out, **kw):
    return SegmentationConfig(data=str(data), out=str(out), epochs=2, **{**TINY, **kw})


def _encoder_tensors(run_dir, prefix=""):
    return {k[len(prefix):]: v for k, v in read_weights(run_dir / "checkpoints" / "best.safetensors").items()
            if k.startswith(prefix) and k[len(prefix):].startswith(("inc.", "down."))}


def test_init_loads_every_encoder_tensor_and_the_normalisation(pretrained, polyp_folder, tmp_path):
    config = _config(polyp_folder, tmp_path / "s", init=str(pretrained))
    net = build_model(config)
    prepare(net, config, resume=False, log=lambda s: None)
    expected = _encoder_tensors(pretrained, "encoder.")
    state = net.state_dict()
    assert len(expected) == 36 and all(torch.equal(state[k], v) for k, v in expected.items())
    source = json.loads((pretrained / "config.json").read_text())
    assert (config.norm_mean, config.norm_std) == (source["norm_mean"], source["norm_std"])


@pytest.mark.slow
def test_a_frozen_encoder_ends_the_run_exactly_as_it_came(pretrained, polyp_folder, tmp_path):
    result = run(_config(polyp_folder, tmp_path / "frozen", init=str(pretrained), freeze_encoder=True, lr=1e-2),
                 **QUIET)
    before, after = _encoder_tensors(pretrained, "encoder."), _encoder_tensors(result.run_dir)
    assert all(torch.equal(after[k], v) for k, v in before.items())  # weights and batch-norm statistics
    trained = run(_config(polyp_folder, tmp_path / "free", init=str(pretrained), lr=1e-2), **QUIET)
    moved = _encoder_tensors(trained.run_dir)
    assert not all(torch.equal(moved[k], v) for k, v in before.items())  # unfrozen, the encoder trains
    # a segmentation run passes its encoder on too, and one behind the valid-padding wrapper takes it
    again = _config(polyp_folder, tmp_path / "again", init=str(result.run_dir), padding="valid")
    net = build_model(again)
    prepare(net, again, resume=False, log=lambda s: None)
    assert torch.equal(net.net.down[0][0].weight, after["down.0.0.weight"])


@pytest.mark.parametrize("extra,words", [
    (["--base-channels", "8"], "inc.0.weight is (4, 3, 3, 3) in the run but (8, 3, 3, 3) here"),
    (["--depth", "3"], "has no down.2.0.weight"),
    (["--norm", "group"], "has down.0.1.num_batches_tracked, which this model's encoder lacks"),
    (["--model", "vit", "--patch-size", "8"], "holds a unet encoder but this model is a vit"),
    (["--channels", "1"], "inc.0.weight is (4, 3, 3, 3) in the run but (4, 1, 3, 3)"),
])
def test_an_encoder_that_does_not_fit_is_refused_by_name(pretrained, polyp_folder, tmp_path, capsys, extra, words):
    out = tmp_path / "never"
    argv = ["segment", "train", "--data", str(polyp_folder), "--size", "24", "--base-channels", "4", "--depth", "2",
            "--epochs", "1", "--init", str(pretrained), "--out", str(out), "--quiet", *extra]  # the last value wins
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err
    assert not out.exists()


def test_init_from_a_run_of_another_command_or_no_run_is_refused(polyp_folder, tmp_path, capsys):
    from pixelwise.tasks.latent import LatentConfig

    (tmp_path / "latent").mkdir()
    (tmp_path / "latent" / "config.json").write_text(json.dumps(config_dict(LatentConfig())))
    for init, words in ((tmp_path / "latent", "made by `pixelwise latent`"), (tmp_path, "is not a run folder")):
        config = _config(polyp_folder, tmp_path / "x", init=str(init))
        with pytest.raises(PixelwiseError, match=words):
            prepare(build_model(config), config, resume=False)


def test_label_fractions_are_nested_seeded_and_keep_the_split(polyp_folder, tmp_path):
    from pixelwise.data.folders import ImageMaskFolder

    data = ImageMaskFolder(polyp_folder)
    full = make_split(data, _config(polyp_folder, tmp_path / "a"))
    chosen = {}
    for f in (0.1, 0.25, 0.5, 1.0):
        split = with_labels(full, _config(polyp_folder, tmp_path / "a", label_fraction=f))
        assert {k: split[k] for k in ("train", "val", "test")} == {k: full[k] for k in ("train", "val", "test")}
        chosen[f] = set(split.get("labelled", split["train"]))
        assert len(chosen[f]) == round(f * len(full["train"])) and chosen[f] <= set(full["train"])
    assert chosen[0.1] < chosen[0.25] < chosen[0.5] < chosen[1.0]
    other_seed = with_labels(make_split(data, _config(polyp_folder, tmp_path / "a", seed=1)),
                             _config(polyp_folder, tmp_path / "a", seed=1, label_fraction=0.5))
    assert set(other_seed["labelled"]) != chosen[0.5]
    # 48 cases: 10 validation, 10 test, 28 training
    with pytest.raises(PixelwiseError, match=r"label_fraction=0.01 \(--label-fraction\) of 28 training cases leaves"):
        with_labels(full, _config(polyp_folder, tmp_path / "a", label_fraction=0.01))


def test_label_ids_must_be_training_cases(polyp_folder, tmp_path):
    from pixelwise.data.folders import ImageMaskFolder

    full = make_split(ImageMaskFolder(polyp_folder), _config(polyp_folder, tmp_path / "a"))
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(full["train"][:3]) + "\n")
    split = with_labels(full, _config(polyp_folder, tmp_path / "a", label_ids=str(ids)))
    assert split["labelled"] == sorted(full["train"][:3])
    ids.write_text(full["train"][0] + "\n" + full["test"][0] + "\n")
    words = f"not training cases of this split \\(e.g. {full['test'][0]}, a test case"
    with pytest.raises(PixelwiseError, match=words):
        with_labels(full, _config(polyp_folder, tmp_path / "a", label_ids=str(ids)))
    ids.write_text("no_such_case\n")
    with pytest.raises(PixelwiseError, match="e.g. no_such_case, not in the data folder"):
        with_labels(full, _config(polyp_folder, tmp_path / "a", label_ids=str(ids)))


@pytest.mark.parametrize("kw,words", [
    (dict(label_fraction=0), "label_fraction=0 must lie in"), (dict(label_fraction=1.5), "label_fraction=1.5"),
    (dict(freeze_encoder=True), "needs|keeps the encoder of init"),
    (dict(label_fraction=0.5, label_ids="ids.txt"), "give one of them"),
    (dict(model="fcn", init="somewhere"), "model=fcn has none"),
])
def test_bad_transfer_settings_are_refused(kw, words, tmp_path):
    with pytest.raises(PixelwiseError, match=words):
        _config(tmp_path, tmp_path / "x", **kw)

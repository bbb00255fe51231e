"""segment train --pseudo-labels TEACHER (self-training): the cases a label fraction leaves out are trained on the
teacher's hard masks, averaged over the 8 symmetries of the square (worked out here again from the teacher's network),
the labelled cases on their own masks; unfair or unfit teachers are refused by name with nothing written."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pixelwise.cli import main
from pixelwise.data.folders import ImageMaskFolder
from pixelwise.tasks.segment import SegmentationConfig, run
from pixelwise.tasks.segment.inference import load_run

pytestmark = pytest.mark.usefixtures("one_thread")
QUIET = dict(progress=False, log=lambda s: None)
TINY = dict(size=24, base_channels=4, depth=2, batch_size=4, epochs=1)


def _config(data, out, **kw) -> SegmentationConfig:
    return SegmentationConfig(data=str(data), out=str(out), **{**TINY, **kw})


@pytest.fixture(scope="module")
def teacher(polyp_folder, tmp_path_factory):
    """A teacher trained on a quarter of the training labels (epochs enough that it predicts some foreground)."""
    out = tmp_path_factory.mktemp("teacher") / "run"
    return run(_config(polyp_folder, out, label_fraction=0.25, epochs=30, lr=5e-3), **QUIET).run_dir


def _dihedral_masks(run_dir, canvases: np.ndarray) -> np.ndarray:
    """The teacher's mean probability over the 8 symmetries of the square, > 0.5: each symmetry applied to the
    normalised canvases, the network's output mapped back."""
    config, net = load_run(run_dir)
    x = torch.from_numpy(canvases).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor(config.norm_mean).view(1, -1, 1, 1)) / torch.tensor(config.norm_std).view(1, -1, 1, 1)
    total = torch.zeros(len(x), 1, *x.shape[-2:])
    with torch.no_grad():
        for flip in (False, True):
            for turns in range(4):
                g = torch.rot90(x.transpose(-1, -2) if flip else x, turns, (-2, -1))
                back = torch.rot90(torch.sigmoid(net(g.contiguous())), -turns, (-2, -1))
                total += back.transpose(-1, -2) if flip else back
    return ((total / 8)[:, 0] > 0.5).numpy().astype(np.uint8)


def test_unlabelled_cases_train_on_the_teachers_dihedral_masks(teacher, polyp_folder, tmp_path, monkeypatch):
    from pixelwise.tasks.segment import recipe

    seen = []
    original = recipe.batches
    monkeypatch.setattr(recipe, "batches", lambda images, masks, *a: seen.append((images, masks)) or
                        original(images, masks, *a))
    result = run(_config(polyp_folder, tmp_path / "student", label_fraction=0.5, pseudo_labels=str(teacher)), **QUIET)
    split = json.loads((result.run_dir / "split.json").read_text())
    labelled, pseudo = split["labelled"], split["pseudo_labelled"]
    assert pseudo == sorted(set(split["train"]) - set(labelled)) and len(labelled) == 14 and len(pseudo) == 14
    data = ImageMaskFolder(polyp_folder)
    images, masks = data.load(data.index(labelled + pseudo), (24, 24), progress=False)
    (trained_images, trained_masks), = seen
    assert np.array_equal(trained_images, images)
    assert np.array_equal(trained_masks[:14], masks[:14])  # the labelled cases: their own masks
    expected = _dihedral_masks(teacher, images[14:])
    assert 0 < expected.sum() < expected.size  # the teacher predicts both classes: a real check
    assert np.array_equal(trained_masks[14:], expected)
    assert not np.array_equal(trained_masks[14:], masks[14:])  # not the true masks of the unlabelled cases


@pytest.mark.parametrize("teacher_kw,student_kw,words", [
    ({}, {"label_fraction": 1.0}, "with every label used there are none"),
    ({"label_fraction": 0.75}, {"label_fraction": 0.5}, "masks that this run treats as unlabelled (e.g."),
    ({"label_fraction": 0.25, "seed": 1}, {"label_fraction": 0.5}, "has other val cases than this run"),
    ({"label_fraction": 0.25, "channels": 1}, {"label_fraction": 0.5}, "has channels=1 but this run 3"),
])
def test_an_unfair_or_unfit_teacher_is_refused(teacher_kw, student_kw, words, polyp_folder, tmp_path, capsys):
    source = tmp_path / "teacher"
    if teacher_kw:
        run(_config(polyp_folder, source, **teacher_kw), **QUIET)
    out = tmp_path / "never"
    argv = ["segment", "train", "--data", str(polyp_folder), "--size", "24", "--base-channels", "4", "--depth", "2",
            "--epochs", "1", "--label-fraction", str(student_kw["label_fraction"]), "--pseudo-labels", str(source),
            "--out", str(out), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err
    assert not out.exists()


def test_a_teacher_that_is_not_a_segment_run_is_refused(polyp_folder, tmp_path, capsys):
    (tmp_path / "notes").mkdir()
    argv = ["segment", "train", "--data", str(polyp_folder), "--size", "24", "--epochs", "1", "--label-fraction",
            "0.5", "--pseudo-labels", str(tmp_path / "notes"), "--out", str(tmp_path / "never"), "--quiet"]
    assert main(argv) == 2
    assert "is not a run folder" in capsys.readouterr().err and not (tmp_path / "never").exists()

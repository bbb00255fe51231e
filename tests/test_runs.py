"""The one run-folder implementation (pixelwise.train.runs) and the checkpoints behind it: config round trips,
--config files, the strict resume rule, evaluation folders, and checkpoints that survive failed writes."""

from __future__ import annotations

import errno
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import pytest
import torch

from pixelwise.errors import DataError, PixelwiseError
from pixelwise.physics.presets import Measurement
from pixelwise.train import checkpoint
from pixelwise.train.config import TrainingConfig, option
from pixelwise.train.runs import (
    RunFolder,
    changed_settings,
    checkpoint_path,
    config_dict,
    config_from_dict,
    evaluation_dir,
    read_config,
    read_config_file,
)


@dataclass
class Toy(TrainingConfig):
    RECIPE: ClassVar[str] = "toy"
    DEFAULT_EPOCHS: ClassVar[int] = 7

    data: str = option("digits", path=True, keywords=("digits",), help="images")
    width: int = option(4, help="channels")
    sizes: tuple[int, ...] = option((1, 2), help="levels")
    measurement: Measurement = option(default_factory=lambda: Measurement(scale=3), help="the measurement")
    stats: list[float] = option(derived=True, default_factory=list)


def test_config_json_round_trip_resolves_paths_and_keeps_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = Toy(data="folder", out="runs/a", sizes=(3, 5), stats=[0.5])
    d = config_dict(config)
    assert d["_recipe"] == "toy" and d["data"] == str(tmp_path / "folder") and d["out"] == str(tmp_path / "runs/a")
    assert d["sizes"] == [3, 5] and d["measurement"]["scale"] == 3 and d["epochs"] == 7
    assert config_dict(Toy())["data"] == "digits"  # a named source is not a path
    back = config_from_dict(Toy, json.loads(json.dumps(d)))
    assert back == replace(config, data=str(tmp_path / "folder"), out=str(tmp_path / "runs/a"))
    assert config_from_dict(Toy, d, derived=False).stats == []  # what the recipe computes is computed again


def test_epochs_default_depends_on_a_budget():
    assert Toy().epochs == 7 and Toy(minutes=2).epochs == 1000 and Toy(minutes=2, epochs=3).epochs == 3


@pytest.mark.parametrize("data,words", [
    ({"widht": 3}, "does not know: widht"),
    ({"_recipe": "segment"}, "written by `pixelwise segment`"),
    ({"measurement": {"operator": "sr"}}, "operator 'sr' is not known"),
    ({"width": {"a": 1}}, "width = .* is not a whole number"),
    ({"sizes": "1,2"}, "sizes = .* is not a list"),
    ({"lr": "fast"}, "lr = .fast. is not a number"),
    ({"deterministic": 1}, "is not true or false"),
    ([1, 2], "not settings"),
    ({"lr": float("inf")}, "lr=inf"),
    ({"seed": -1}, "seed=-1"),
])
def test_bad_settings_are_one_sentence(data, words):
    with pytest.raises(PixelwiseError, match=words):
        config_from_dict(Toy, data, "x.toml")


def test_a_nested_table_keeps_the_recipes_defaults_for_what_it_does_not_set():
    config = config_from_dict(Toy, {"measurement": {"operator": "downsample"}})
    assert config.measurement == Measurement(operator="downsample", scale=3)


def test_config_files_toml_and_json(tmp_path):
    (tmp_path / "a.toml").write_text('width = 9\nsizes = [2, 4]\n[measurement]\noperator = "ct"\nviews = 12\n')
    config = read_config_file(Toy, tmp_path / "a.toml")
    assert (config.width, config.sizes, config.measurement.views, config.measurement.scale) == (9, (2, 4), 12, 3)
    (tmp_path / "b.json").write_text(json.dumps(config_dict(Toy(width=5, stats=[1.0]))))
    assert read_config_file(Toy, tmp_path / "b.json").width == 5
    assert read_config_file(Toy, tmp_path / "b.json").stats == []
    (tmp_path / "bad.toml").write_text("width = = 3\n")
    for path, words in ((tmp_path / "bad.toml", "not valid TOML"), (tmp_path / "none.toml", "does not exist"),
                        (tmp_path, "is a folder")):
        with pytest.raises(PixelwiseError, match=words):
            read_config_file(Toy, path)


def test_read_config_refuses_what_is_not_a_run_of_this_command(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{")
    for path, words in ((tmp_path / "nowhere", "does not exist"), (tmp_path / "file", "is a file"),
                        (tmp_path / "empty", "no config.json"), (tmp_path / "broken", "not valid JSON")):
        with pytest.raises(PixelwiseError, match=words):
            read_config(Toy, path)


def _finished(folder: Path, config: Toy) -> None:
    """A run folder as a finished run leaves it (config.json, split.json, a loop state)."""
    RunFolder(config).create({"train": [1, 2], "val": [3]})
    (folder / "checkpoints").mkdir()
    checkpoint.save_state({"epoch": 1}, folder / "checkpoints" / "last_state.pt")


def test_fresh_overwrite_and_resume_rules(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PixelwiseError, match="current folder"):
        RunFolder(Toy(out="."))
    with pytest.raises(PixelwiseError, match="contradict"):
        RunFolder(Toy(out="r"), overwrite=True, resume=True)
    with pytest.raises(PixelwiseError, match="cannot resume"):
        RunFolder(Toy(out="r"), resume=True)
    config = Toy(out="r", width=6)
    _finished(tmp_path / "r", config)
    with pytest.raises(PixelwiseError, match="already exists"):
        RunFolder(Toy(out="r"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(PixelwiseError, match="not a run folder"):
        RunFolder(Toy(out="mine"), overwrite=True).create()
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    # resume: the saved settings, the new budget; a changed setting is refused by name
    resumed = RunFolder(Toy(out="r", width=6, epochs=9, minutes=3), resume=True)
    assert (resumed.config.width, resumed.config.epochs, resumed.config.minutes) == (6, 9, 3)
    for changed, words in ((dict(width=5), "width=5 \\(saved 6\\)"), (dict(measurement=Measurement(views=9)),
                           "measurement.views=9 \\(saved 30\\)"), (dict(epochs=2), "can only be extended")):
        with pytest.raises(PixelwiseError, match=words):
            RunFolder(replace(config, **changed), resume=True)
    with pytest.raises(DataError, match="no longer gives the split"):
        resumed.create({"train": [1], "val": [2, 3]})
    resumed.create({"train": [1, 2], "val": [3]})
    assert json.loads((tmp_path / "r" / "config.json").read_text())["epochs"] == 9
    RunFolder(Toy(out="r"), overwrite=True).create()
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["config.json"]


def test_changed_settings_compare_resolved_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert changed_settings(Toy(data=str(tmp_path / "d")), Toy(data="d")) == []
    assert changed_settings(Toy(), Toy(out="elsewhere", epochs=50, minutes=1.0, stats=[3.0])) == []


def test_checkpoint_path_and_evaluation_dir(tmp_path):
    with pytest.raises(PixelwiseError, match="never finished an epoch"):
        checkpoint_path(tmp_path)
    with pytest.raises(PixelwiseError, match="which='first'"):
        checkpoint_path(tmp_path, "first")
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.safetensors").write_bytes(b"")
    assert checkpoint_path(tmp_path).name == "last.safetensors"  # no best yet
    (tmp_path / "checkpoints" / "best.safetensors").write_bytes(b"")
    assert checkpoint_path(tmp_path).name == "best.safetensors"
    assert checkpoint_path(tmp_path, "last").name == "last.safetensors"
    assert evaluation_dir(tmp_path, "../other data/") == tmp_path / "evaluations" / "other-data"
    assert evaluation_dir(tmp_path, "x", tmp_path / "mine") == tmp_path / "mine"


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    """A full disk in the middle of writing: the old file stays whole and loadable, no temporary file is left,
    and the error is one sentence naming the file."""
    model = torch.nn.Linear(3, 2)
    path = tmp_path / "last.safetensors"
    checkpoint.save_weights(model, path)
    before = path.read_bytes()

    def full_disk(state, target, *args, **kwargs):
        Path(target).write_bytes(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "save_file", full_disk)
    with torch.no_grad():
        model.weight.add_(1)
    with pytest.raises(PixelwiseError, match="cannot write checkpoint .*last.safetensors .*No space left"):
        checkpoint.save_weights(model, path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]
    monkeypatch.setattr(checkpoint.torch, "save", full_disk)
    with pytest.raises(PixelwiseError, match="state.pt"):
        checkpoint.save_state({"step": 2}, tmp_path / "state.pt")
    assert not (tmp_path / "state.pt").exists()


@pytest.mark.parametrize("content", [b"", b"garbage", None], ids=["empty", "garbage", "truncated"])
def test_a_damaged_checkpoint_is_refused_by_name(tmp_path, content):
    state, weights = tmp_path / "last_state.pt", tmp_path / "last.safetensors"
    checkpoint.save_state({"step": 3, "x": torch.arange(1000.0)}, state)
    checkpoint.save_weights(torch.nn.Linear(30, 30), weights)
    for path in (state, weights):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if content is None else content)
    with pytest.raises(PixelwiseError, match="last_state.pt.*damaged or truncated"):
        checkpoint.load_state(state)
    with pytest.raises(PixelwiseError, match="last.safetensors.*damaged or truncated"):
        checkpoint.load_weights(torch.nn.Linear(30, 30), weights)

"""Runs the corpus of tests/bad_files.py: every file is read by a stated rule (to the expected values) or refused
in one sentence that names it, with exit code 2 and nothing written."""

from __future__ import annotations

import numpy as np
import pytest
from bad_files import COMMANDS, DECODING, Refused

from pixelwise.cli import main
from pixelwise.data.synthetic import write_polyps_folder
from pixelwise.errors import PixelwiseError

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_corpus_is_large_enough():
    assert len(DECODING) + len(COMMANDS) >= 100


def _same(got, expected) -> None:
    if callable(expected):
        assert expected(got) in (None, True)
    elif isinstance(expected, tuple):
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            _same(g, e)
    else:
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
        assert np.asarray(got).dtype.kind == np.asarray(expected).dtype.kind


@pytest.mark.parametrize("name", list(DECODING))
def test_decoding(name, tmp_path):
    call, expected = DECODING[name](tmp_path / "files")
    if isinstance(expected, Refused):
        with pytest.raises(PixelwiseError, match=expected.words.replace("[", r"\[").replace("]", r"\]")) as err:
            call()
        assert "\n" not in str(err.value)
    else:
        _same(call(), expected)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    data = write_polyps_folder(root / "data", n=12, size=20, seed=4)
    run = root / "run"
    assert main(["segment", "train", "--data", str(data), "--size", "16", "--base-channels", "2", "--depth", "1",
                 "--epochs", "1", "--batch-size", "2", "--out", str(run), "--quiet"]) == 0
    return run


def _files(folder):
    return {p.relative_to(folder): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_command(name, tmp_path, trained_run, capsys):
    folder = tmp_path / "case"
    folder.mkdir()
    argv, expected = COMMANDS[name](folder, trained_run)
    before = _files(folder)
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    err = capsys.readouterr().err
    if isinstance(expected, Refused):
        assert code == 2, err
        assert expected.words in err and err.count("\n") == 1 and "Traceback" not in err, err
        assert _files(folder) == before, "a refused command wrote or changed files"
    else:
        assert code == 0, err
        expected(folder)

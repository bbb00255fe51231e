"""Bad input across the command groups: one line on stderr naming the value or file and the fix, exit code 2,
and nothing written. The cases come from an audit of every subcommand (2026-12-01)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from pixelwise.cli import main
from pixelwise.data.folders import unique_stems
from pixelwise.errors import DataError
from pixelwise.tasks.latent import LatentConfig
from pixelwise.train.runs import config_dict

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def files(tmp_path):
    """A grey 32x32 png, a plain file, a non-run folder with a damaged config.json and one of another kind."""
    image = tmp_path / "one.png"
    Image.fromarray((np.arange(32 * 32).reshape(32, 32) % 251).astype(np.uint8)).save(image)
    (tmp_path / "notes.txt").write_text("not a folder\n")
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / "config.json").write_text("{")
    (tmp_path / "latent_run").mkdir()
    (tmp_path / "latent_run" / "config.json").write_text(json.dumps(config_dict(LatentConfig())))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "kept.txt").write_text("the user's file\n")
    np.save(tmp_path / "line.npy", np.zeros(5))
    np.save(tmp_path / "cube.npy", np.zeros((1, 32, 46), np.float32))  # a sinogram of 32 views, not 30
    (tmp_path / "fake.npy").write_text("not numpy")
    return tmp_path


CASES = [  # argv (T/ = the files fixture's folder), words the one line must contain
    (["segment", "train", "--data", "T/one.png", "--seed", "-1", "--out", "T/new"], "--seed=-1 must be a whole"),
    (["diffuse", "train", "--seed", "x", "--out", "T/new"], "'x' is not a valid seed"),
    (["solve", "--operator", "denoise", "--seed", "-2", "--out", "T/new", "T/one.png"], "seed >= 0"),
    (["segment", "train", "--data", "T", "--split", "-0.2,0.6,0.6", "--out", "T/new"], "--option=VALUE"),
    (["diffuse", "train", "--lr", "0", "--out", "T/new"], "lr=0"),
    (["latent", "train", "--data", "digits", "--lr", "0", "--out", "T/new"], "lr=0"),
    (["diffuse", "train", "--out", "T/notes.txt/run"], "notes.txt"),
    (["solve", "--operator", "denoise", "--out", "T/notes.txt", "T/one.png"], "is a file; give a folder"),
    (["solve", "--operator", "denoise", "--out", "T/notes.txt/sub", "T/one.png"], "is a file; choose another"),
    (["solve", "--operator", "mri", "--accel", "0", "--out", "T/new", "T/one.png"], "--acceleration=0.0 must be >= 1"),
    (["solve", "--operator", "denoise", "--measured", "T/line.npy", "--out", "T/new"], "shape (5,)"),
    (["solve", "--operator", "denoise", "--measured", "T/fake.npy", "--out", "T/new"], "not a readable .npy"),
    (["diffuse", "sample", "--run", "T/damaged"], "is not valid JSON"),
    (["diffuse", "sample", "--run", "T/latent_run"], "written by `pixelwise latent`, not `pixelwise diffuse`"),
    (["diffuse", "sample", "--run", "T/latent_run", "--out", "T/samples.txt"], "image type"),
    (["diffuse", "sample", "--run", "T/latent_run", "--out", "T/full"], "is a folder; give a file name"),
    (["latent", "sample", "--run", "T/damaged", "--out", "T/s.png"], "is not valid JSON"),
    (["segment", "train", "--data", "T", "--model", "vit", "--patch-size", "0", "--out", "T/new"], "--patch-size=0"),
    (["segment", "train", "--data", "T", "--model", "vit", "--vit-depth", "0", "--out", "T/new"], "--vit-depth=0"),
    (["segment", "train", "--data", "T", "--model", "vit", "--dim", "10", "--heads", "3", "--out", "T/new"],
     "divisible by --heads=3"),
    (["demo", "--size", "3", "--out", "T/new"], "--size 3"),
    (["demo", "--minutes", "-1", "--out", "T/new"], "minutes=-1"),
    (["restore", "dip", "--out", "T/full", "T/one.png"], "--overwrite"),
    (["diffuse", "train", "--out", "T/full", "--overwrite"], "not a run folder"),
    (["diffuse", "train", "--out", "T/notes.txt", "--overwrite"], "is a file, not a run folder"),
    (["diffuse", "train", "--out", ""], "current folder"),
    (["solve", "--operator", "denoise", "--out", "", "T/one.png"], "--out is empty"),
    (["solve", "--operator", "downsample", "--scale", "40", "--out", "T/new", "T/one.png"], "scale=40 (--scale)"),
    (["solve", "--operator", "blur", "--mask", "T/one.png", "--out", "T/new", "T/one.png"], "does not use it"),
    (["segment", "train", "--data", "T/one.png", "--out", "T/new"], "is a file, not a folder"),
    (["segment", "eval", "--run", "T/one.png"], "is a file, not a folder"),
    (["latent", "eval", "--run", "T/one.png"], "made by `pixelwise latent train`"),
    (["arch", "rf", "unet", "--set", "depth=abc"], "depth='abc'"),
    (["segment", "train", "--data", "T", "--depth", "50", "--out", "T/new"], "depth=50"),
    (["solve", "--operator", "ct", "--views", "100000", "--out", "T/new", "T/one.png"], "views=100000 is more"),
    (["solve", "--operator", "ct", "--measured", "T/cube.npy", "--image-size", "32x32", "--out", "T/new"],
     "cube.npy does not fit the ct operator"),
    (["solve", "--operator", "denoise", "--out", "T/new", "T/full"], "is a folder; give the path of one image"),
    (["solve", "--operator", "ct", "--measured", "T/line.npy", "--image-size", "0x0", "--out", "T/new"],
     "--image-size=0x0 must be two whole numbers"),
    (["pretrain", "train", "--data", "T", "--temperature", "0", "--out", "T/new"], "--temperature=0.0 must be"),
    (["pretrain", "train", "--data", "T/one.png", "--out", "T/new"], "one.png is a file, not a folder of images"),
    (["pretrain", "train", "--data", "T/full", "--out", "T/new"], "holds no image files"),
    (["pretrain", "eval", "--run", "T/latent_run", "--probe", "--data", "digits"], "not `pixelwise pretrain`"),
    (["pretrain", "eval", "--run", "T/latent_run", "--probe"], "--probe needs labelled --data"),
    (["segment", "train", "--data", "T", "--label-fraction", "0", "--out", "T/new"], "--label-fraction=0.0 must lie"),
    (["segment", "train", "--data", "T", "--freeze-encoder", "--out", "T/new"], "keeps the encoder of init"),
    (["segment", "compare", "T/latent_run", "T/damaged", "--out", "T/new"], "not `pixelwise segment`"),
    (["segment", "compare", "T/full", "T/damaged", "--out", "T/new"], "is neither a run folder"),
    (["restore", "compare", "T/one.png", "T/full", "--out", "T/new"], "one.png is a file, not a folder"),
    (["segment", "compare", "T/latent_run", "--out", "T/new"], "needs at least two runs"),
    (["register", "T/one.png", "T/missing.png", "--out", "T/new"], "missing.png does not exist"),
    (["register", "T/one.png", "T/notes.txt", "--out", "T/new"], "cannot read image"),
    (["register", "T/one.png", "T/one.png", "--levels", "0", "--out", "T/new"], "--levels=0 must be a whole"),
    (["register", "T/one.png", "--out", "T/new"], "needs two images"),
    (["segment", "eval", "--run", "T", "--spacing=-1,1"], "is not a pixel spacing"),
    (["segment", "baseline", "--data", "T/one.png", "--out", "T/new"], "is a file, not a folder"),
    (["segment", "baseline", "--data", "T", "--tolerance", "-1", "--out", "T/new"], "--tolerance=-1.0 must be"),
    (["segment", "train", "--data", "T", "--ignore-index", "255", "--out", "T/new"], "needs label masks"),
    # issue 20: devices, precision, aspect ratio, tiles, export
    (["segment", "train", "--data", "T", "--device", "gpu", "--out", "T/new"], "--device='gpu' is not a device name"),
    (["restore", "train", "--precision", "fp16", "--out", "T/new"], "--precision='fp16' is not known"),
    (["segment", "train", "--data", "T", "--precision", "16-mixed", "--device", "cpu", "--out", "T/new"],
     "--precision=16-mixed needs a CUDA device"),
    (["segment", "train", "--data", "T", "--resize", "stretch", "--out", "T/new"], "--resize='stretch' is not known"),
    (["segment", "train", "--data", "T", "--patch", "300", "--out", "T/new"], "--patch=300 is larger than the 256x256"),
    (["segment", "eval", "--run", "T/one.png", "--tile", "0"], "--tile=0 must be a whole number"),
    (["restore", "apply", "--run", "T/one.png", "T/one.png", "--out", "T/new", "--overlap", "1.5"], "--overlap=1.5"),
    (["export", "--run", "T/latent_run"], "export takes segmentation and restoration runs"),
    (["export", "--run", "T/damaged"], "is not valid JSON"),
    (["export", "--run", "T/notes.txt"], "is a file, not a folder"),
]


@pytest.mark.parametrize("argv,words", CASES, ids=[" ".join(c[0][:2]) + f" {i}" for i, c in enumerate(CASES)])
def test_bad_input_is_one_line_exit_2_and_nothing_written(files, capsys, argv, words):
    before = sorted(p.relative_to(files) for p in files.rglob("*"))
    argv = [a.replace("T/", f"{files}/") if a.startswith("T/") else (str(files) if a == "T" else a) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own usage errors leave through SystemExit(2)
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert sorted(p.relative_to(files) for p in files.rglob("*")) == before


def test_outputs_that_would_share_a_name_are_refused(tmp_path):
    a, b = tmp_path / "x" / "case.png", tmp_path / "y" / "case.jpg"
    assert unique_stems([a, tmp_path / "other.png"]) == [a, tmp_path / "other.png"]
    assert unique_stems([a, a]) == [a, a]  # the same file twice writes one output: nothing lost
    with pytest.raises(DataError, match="would both be written as case.png"):
        unique_stems([a, b])

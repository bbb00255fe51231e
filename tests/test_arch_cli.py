"""``pixelwise arch``: outputs and exit code 2 for bad input."""

import subprocess
import sys

import pytest

from pixelwise.cli import main
from pixelwise.models import UNet


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_rf_of_the_worked_example(capsys):
    code, out, _ = _run(capsys, "arch", "rf", "conv k=5 s=2; conv k=3; conv k=5 d=2", "--input", "64")
    assert code == 0
    rows = [line.split() for line in out.splitlines() if line[:1].isdigit()]
    # columns: #, kind, k=.., [s=.., d=..], RF, jump, centre, left, output
    assert [r[-5] for r in rows] == ["5", "9", "25"]
    assert [r[-1] for r in rows] == ["30", "28", "20"]
    assert "receptive field: 25 input pixels, jump 2" in out


def test_rf_2d_chain(capsys):
    code, out, _ = _run(capsys, "arch", "rf", "conv k=3x5; pool k=2")
    assert code == 0 and "receptive field: 4x6 input pixels, jump 2" in out


@pytest.mark.parametrize(("layers", "token"), [
    ("conv k=5 s=2; cnv k=3", "'cnv'"),
    ("conv k=5 s=two", "'s=two'"),
    ("conv k=3 q=1", "'q=1'"),
    ("conv k=3;", "layer 2 is empty"),
])
def test_rf_bad_layer_string_exits_2_naming_the_token(capsys, layers, token):
    code, out, err = _run(capsys, "arch", "rf", layers)
    assert code == 2 and token in err and err.count("\n") == 1 and out == ""


def test_rf_of_a_model_prints_the_exact_support(capsys):
    code, out, _ = _run(capsys, "arch", "rf", "unet", "--input", "1,1,64,64", "--set", "depth=2",
                        "--set", "base_channels=2")
    assert code == 0
    assert "output receptive field: 47 (jump 1)" in out
    assert "44x44 box" in out  # each transposed conv adds nothing to one pixel's field (see test_arch_graph)


def test_rf_of_the_vit_says_global(capsys):
    code, out, _ = _run(capsys, "arch", "rf", "vit", "--input", "1,3,32,32", "--set", "patch_size=8",
                        "--set", "dim=16", "--set", "depth=1", "--set", "heads=2")
    assert code == 0 and "global receptive field" in out and "1024 input pixels" in out


def test_shape_of_the_valid_unet(capsys):
    code, out, _ = _run(capsys, "arch", "shape", "unet", "--input", "1,3,572,572", "--set", "padding=valid",
                        "--set", "base_channels=2", "--valid-sizes", "600")
    assert code == 0
    assert "1x3x572x572 -> 1x1x388x388" in out
    assert "572->388" in out and "188->4" in out


def test_shape_of_a_chain_and_its_valid_sizes(capsys):
    code, out, _ = _run(capsys, "arch", "shape", "conv k=3; conv k=3; pool k=2", "--input", "572",
                        "--valid-sizes", "12", "--exact")
    assert code == 0
    assert out.split("\n")[-3].split()[-1] == "284"
    assert "exact valid input sizes up to 12: 6, 8, 10, 12" in out


@pytest.mark.parametrize("argv", [
    ["arch", "shape", "conv k=3"],  # neither --input nor --valid-sizes
    ["arch", "shape", "conv k=5", "--input", "3"],  # too small
    ["arch", "shape", "unet", "--input", "1,3,100,100", "--set", "padding=valid"],
    ["arch", "shape", "unet", "--input", "1,3,x,100"],
    ["arch", "summary", "unet", "--set", "depth"],
    ["arch", "summary", "unet", "--set", "colour=red"],
    ["arch", "summary", "resnet"],
    ["arch", "conv-matrix", "--kernel", "1,2;3", "--input", "4,4"],
    ["arch", "conv-matrix", "--kernel", "1,2;3,4", "--input", "4,4", "--apply", "1,2;3,4"],
])
def test_bad_input_exits_2(capsys, argv):
    code, _, err = _run(capsys, *argv)
    assert code == 2 and err.startswith("pixelwise: error:")


def test_summary_of_a_model(capsys):
    code, out, _ = _run(capsys, "arch", "summary", "unet", "--input", "1,3,32,32", "--set", "depth=2",
                        "--set", "base_channels=4")
    expected = sum(p.numel() for p in UNet(depth=2, base_channels=4).parameters())
    assert code == 0
    assert f"total parameters: {expected:,}" in out
    assert "receptive field of the output: 47 (jump 1)" in out
    assert "up.0.up" in out and "tconv" in out


def test_conv_matrix_worked_example(capsys):
    code, out, _ = _run(capsys, "arch", "conv-matrix", "--kernel", "1,2,3;2,3,4;3,4,5", "--input", "4,4",
                        "--apply-transpose", "1,2;0,1", "--apply", "1,0,0,0;0,0,0,0;0,0,0,0;0,0,0,0")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("M: 4 x 16")
    assert lines[1].split() == "1 2 3 0 2 3 4 0 3 4 5 0 0 0 0 0".split()
    tail = [line.split() for line in lines[-4:]]
    assert tail == [s.split() for s in ["1 4 7 6", "2 8 12 11", "3 12 16 14", "0 3 4 5"]]
    i = lines.index("conv(x) = M vec(x):")
    assert [line.split() for line in lines[i + 1:i + 3]] == [["1", "0"], ["0", "0"]]


def test_erf_writes_a_png(capsys, tmp_path):
    out_png = tmp_path / "erf.png"
    code, out, _ = _run(capsys, "arch", "erf", "fcn", "--out", str(out_png), "--input", "1,1,24,24",
                        "--set", "depth=2", "--set", "base_channels=2", "--set", "hidden=4", "--samples", "1")
    assert code == 0 and out_png.read_bytes()[:4] == b"\x89PNG"


# loads pixelwise/cli/arch.py under a bare ``pixelwise.cli`` package (not the real __init__, which gathers every
# command group), builds the parser and asks for help: none of that may import torch or numpy
BARE_IMPORT = """
import argparse, importlib, pathlib, sys, types
import pixelwise
cli = types.ModuleType("pixelwise.cli")
cli.__path__ = [str(pathlib.Path(pixelwise.__file__).parent / "cli")]
sys.modules["pixelwise.cli"] = cli
arch = importlib.import_module("pixelwise.cli.arch")
sub = argparse.ArgumentParser(prog="pixelwise").add_subparsers()
arch.add_parser(sub)
try:
    sub.choices["arch"].parse_args(["rf", "--help"])
except SystemExit:
    pass
print(sorted(m for m in ("torch", "numpy") if m in sys.modules))
"""


def test_the_arch_command_module_loads_without_torch():
    done = subprocess.run([sys.executable, "-c", BARE_IMPORT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"

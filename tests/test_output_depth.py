"""Results keep their input's depth: a grey image deeper than 8 bits (16-bit or float) is restored, solved and
registered into a 16-bit PNG; 8-bit and colour inputs give 8-bit files. Values are checked against the network or
the run's own scores, worked out here."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from pixelwise.cli import main
from pixelwise.data.decode import decode_image
from pixelwise.data.io import depth_to_write, write_image
from pixelwise.data.samples import sample, to_depth, to_uint8
from pixelwise.physics import Identity

pytestmark = pytest.mark.usefixtures("one_thread")


def _scan(size: int = 24) -> np.ndarray:
    """A 16-bit grey picture whose low bytes matter: the camera at 16 bits plus a ramp of 0..size*size-1."""
    base = (sample("camera", grey=True, size=size)[0].double().numpy() * 60000).round()
    return (base + np.arange(size * size).reshape(size, size)).astype(np.uint16)


@pytest.mark.parametrize("values, dtype, expected", [
    ([0.0, 0.2, 1.0, 1.5, -0.1], np.uint8, [0, 51, 255, 255, 0]),  # 0.2 x 255 = 51 exactly; clipped outside [0, 1]
    ([0.0, 0.2, 1.0, 1.5, -0.1], np.uint16, [0, 13107, 65535, 65535, 0]),  # 0.2 x 65535 = 13107
    ([0.1], np.uint8, [26]),  # 25.5 rounds to the even 26
])
def test_to_depth_by_hand(values, dtype, expected):
    got = to_depth(torch.tensor(values, dtype=torch.float64)[None, None], dtype)
    assert got.dtype == dtype and got[0].tolist() == expected


def test_to_depth_refuses_other_types_and_keeps_to_uint8():
    with pytest.raises(ValueError, match="uint8 or uint16"):
        to_depth(torch.zeros(1, 2, 2), np.float32)
    x = torch.rand(3, 5, 7, generator=torch.Generator().manual_seed(0))
    assert np.array_equal(to_uint8(x), to_depth(x, np.uint8)) and to_uint8(x).shape == (5, 7, 3)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_sixteen_bit_grey_is_written_and_read_back_exactly(tmp_path, suffix):
    arr = _scan(13)
    write_image(tmp_path / f"g{suffix}", arr)
    back = decode_image(tmp_path / f"g{suffix}", 1)[..., 0]
    assert back.dtype == np.uint16 and np.array_equal(back, arr)


@pytest.mark.parametrize("name, arr, words", [
    ("c.png", np.zeros((4, 5, 3), np.uint16), "grey (H, W) PNG or TIFF"),
    ("g.jpg", np.zeros((4, 5), np.uint16), "grey (H, W) PNG or TIFF"),
    ("f.png", np.zeros((4, 5), np.float32), "uint8 or uint16"),
])
def test_write_image_refuses_what_it_cannot_hold(tmp_path, name, arr, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        write_image(tmp_path / name, arr)
    assert not list(tmp_path.iterdir())


def test_the_depth_to_write_follows_the_source(tmp_path):
    write_image(tmp_path / "g8.png", _scan(8).astype(np.uint8))
    write_image(tmp_path / "g16.png", _scan(8))
    Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(tmp_path / "f.tif")
    assert depth_to_write(tmp_path / "g8.png", 1) == np.uint8
    assert depth_to_write(tmp_path / "g16.png", 1) == np.uint16
    assert depth_to_write(tmp_path / "f.tif", 1) == np.uint16
    assert depth_to_write(tmp_path / "g16.png", 3) == np.uint8  # colour results: 8 bits per channel
    assert depth_to_write(None, 1) == np.uint8 and depth_to_write("camera", 1) == np.uint8  # a bundled sample


def test_restore_apply_writes_a_16_bit_input_at_16_bits(prior_runs, tmp_path, capsys):
    """The written file is the network's output on the 16-bit values (not on 8 bits of them), to one level."""
    from pixelwise.tasks.restore import load_run

    arr = _scan()
    write_image(tmp_path / "in" / "scan.png", arr)
    write_image(tmp_path / "in" / "photo.png", to_uint8(sample("camera", grey=True, size=24)))
    assert main(["restore", "apply", "--run", str(prior_runs / "dn"), str(tmp_path / "in"), "--out",
                 str(tmp_path / "out")]) == 0
    assert "(1 at 16 bits, as their inputs)" in capsys.readouterr().out
    got = decode_image(tmp_path / "out" / "scan.png", 1)[..., 0]
    assert got.dtype == np.uint16 and decode_image(tmp_path / "out" / "photo.png", 1).dtype == np.uint8
    _, model, _ = load_run(prior_runs / "dn")
    with torch.no_grad():
        expected = model((torch.from_numpy(arr / 65535.0).float()[None, None], Identity()))[0]
    assert np.abs(got.astype(int) - to_depth(expected, np.uint16).astype(int)).max() <= 1


def test_solve_writes_a_16_bit_image_at_16_bits_as_it_scored_it(tmp_path):
    """The PSNR of the written 16-bit reconstruction against the 16-bit truth is the one the run reports (to the
    rounding of 16 bits), which 8 bits could not carry."""
    write_image(tmp_path / "scan.png", _scan(32))
    out = tmp_path / "solved"
    assert main(["solve", str(tmp_path / "scan.png"), "--grey", "--operator", "blur", "--noise-sigma", "2", "--method",
                 "tv", "--out", str(out), "--quiet"]) == 0
    truth = decode_image(tmp_path / "scan.png", 1)[..., 0] / 65535.0
    reported = json.loads((out / "metrics.json").read_text())["methods"]["tv"]["psnr"]
    written = decode_image(out / "reconstruction.png", 1)[..., 0]
    assert written.dtype == np.uint16 and decode_image(out / "naive.png", 1).dtype == np.uint16
    mse = float(((written / 65535.0 - truth) ** 2).mean())
    assert abs(10 * math.log10(1 / mse) - reported) < 2e-3
    rounded8 = np.round(written / 65535.0 * 255) / 255
    assert abs(10 * math.log10(1 / float(((rounded8 - truth) ** 2).mean())) - reported) > 2e-3  # 8 bits would not


def test_register_writes_the_warped_16_bit_image_at_16_bits(tmp_path):
    arr = _scan(32)
    write_image(tmp_path / "fixed.png", arr)
    write_image(tmp_path / "moving.png", np.roll(arr, 2, axis=1))
    assert main(["register", str(tmp_path / "fixed.png"), str(tmp_path / "moving.png"), "--transform", "translation",
                 "--levels", "1", "--iterations", "5", "--out", str(tmp_path / "reg"), "--quiet"]) == 0
    assert decode_image(tmp_path / "reg" / "warped.png", 1).dtype == np.uint16


def test_restore_apply_refuses_to_write_over_its_inputs(prior_runs, tmp_path, capsys):
    """``--out`` the inputs' own folder would replace a PNG input by its restoration: refused, the input intact;
    a JPEG input there is not replaced (its result is a .png beside it)."""
    write_image(tmp_path / "in" / "scan.png", _scan())
    before = (tmp_path / "in" / "scan.png").read_bytes()
    assert main(["restore", "apply", "--run", str(prior_runs / "dn"), str(tmp_path / "in"), "--out",
                 str(tmp_path / "in")]) == 2
    assert "would write restored over the input" in capsys.readouterr().err
    assert (tmp_path / "in" / "scan.png").read_bytes() == before and len(list((tmp_path / "in").iterdir())) == 1
    write_image(tmp_path / "jpg" / "photo.jpg", to_uint8(sample("camera", grey=True, size=24)))
    assert main(["restore", "apply", "--run", str(prior_runs / "dn"), str(tmp_path / "jpg" / "photo.jpg"), "--out",
                 str(tmp_path / "jpg"), "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "jpg").iterdir()) == ["photo.jpg", "photo.png"]

"""``pixelwise solve`` end to end on a tiny image, including bad input (exit code 2, one sentence)."""

from __future__ import annotations

import json

import pytest

from pixelwise.cli import main
from pixelwise.data.io import write_image
from pixelwise.data.samples import sample, to_uint8

SIZE = 24


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "cam.png"
    write_image(path, to_uint8(sample("camera", size=SIZE)))
    return path


OPERATOR_ARGS = [
    ("blur", ["--kernel", "motion", "--motion-length", "5", "--boundary", "zero"]),
    ("downsample", ["--scale", "2", "--downsample-kind", "average"]),
    ("inpaint", ["--keep", "0.6"]),
    ("mri", ["--accel", "4", "--mask-kind", "equispaced"]),
    ("ct", ["--views", "8"]),
    ("denoise", ["--noise-sigma", "20"]),
]


@pytest.mark.parametrize("operator, extra", OPERATOR_ARGS, ids=[o for o, _ in OPERATOR_ARGS])
def test_compare_every_method_writes_everything(operator, extra, image, tmp_path, capsys):
    out = tmp_path / operator
    code = main(
        [
            "solve",
            str(image),
            "--operator",
            operator,
            "--compare",
            "--iterations",
            "5",
            "--quiet",
            "--out",
            str(out),
            *extra,
        ]
    )
    assert code == 0
    table = capsys.readouterr().out
    for method in ("adjoint", "cg", "tikhonov", "tv", "pgd"):
        assert method in table
        assert (out / f"reconstruction_{method}.png").is_file()
    for name in ("measurement.npy", "measurement.png", "naive.png", "figure.png"):
        assert (out / name).is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["methods"]) == {"adjoint", "cg", "tikhonov", "tv", "pgd"}
    assert metrics["naive"]["psnr"] == pytest.approx(metrics["methods"]["adjoint"]["psnr"])
    assert all(0 < row["ssim"] <= 1 for row in metrics["methods"].values())


def test_single_method_auto_lambda_and_measured_round_trip(image, tmp_path):
    first = tmp_path / "first"
    assert (
        main(
            [
                "solve",
                str(image),
                "--operator",
                "blur",
                "--method",
                "tikhonov",
                "--lambda",
                "auto",
                "--noise-sigma",
                "5",
                "--quiet",
                "--out",
                str(first),
            ]
        )
        == 0
    )
    metrics = json.loads((first / "metrics.json").read_text())
    row = metrics["methods"]["tikhonov"]
    assert len(row["lambda_search"]) == 7 and row["lambda"] in [lam for lam, _ in row["lambda_search"]]
    assert (first / "reconstruction.png").is_file()
    # solving again from the written measurement gives the same naive reconstruction
    second = tmp_path / "second"
    assert (
        main(
            [
                "solve",
                str(image),
                "--operator",
                "blur",
                "--method",
                "adjoint",
                "--measured",
                str(first / "measurement.npy"),
                "--quiet",
                "--out",
                str(second),
            ]
        )
        == 0
    )
    again = json.loads((second / "metrics.json").read_text())
    assert again["naive"]["psnr"] == pytest.approx(metrics["naive"]["psnr"], abs=0.01)


def test_measured_without_truth_writes_no_scores(image, tmp_path):
    first = tmp_path / "mri"
    assert (
        main(
            ["solve", str(image), "--operator", "mri", "--method", "adjoint", "--quiet", "--out", str(first)]
        )
        == 0
    )
    second = tmp_path / "again"
    assert (
        main(
            [
                "solve",
                "--operator",
                "mri",
                "--method",
                "cg",
                "--iterations",
                "3",
                "--measured",
                str(first / "measurement.npy"),
                "--quiet",
                "--out",
                str(second),
            ]
        )
        == 0
    )
    metrics = json.loads((second / "metrics.json").read_text())
    assert "psnr" not in metrics["methods"]["cg"]


def _bad(tmp_path, image):
    small_mask = tmp_path / "mask.png"
    write_image(small_mask, to_uint8(sample("camera", size=SIZE - 3)))
    return [
        ("mask of another size", [str(image), "--operator", "inpaint", "--mask", str(small_mask)]),
        ("negative sigma", [str(image), "--operator", "denoise", "--noise-sigma", "-3"]),
        ("acceleration leaves no lines", [str(image), "--operator", "mri", "--accel", "100"]),
        ("negative lambda", [str(image), "--operator", "blur", "--lambda", "-1"]),
        ("lambda not a number", [str(image), "--operator", "blur", "--lambda", "lots"]),
        ("zero iterations", [str(image), "--operator", "blur", "--iterations", "0"]),
        ("missing image", [str(tmp_path / "nope.png"), "--operator", "blur"]),
        ("no image and no measurement", ["--operator", "blur"]),
        (
            "scale not dividing",
            [str(image), "--operator", "downsample", "--scale", "5", "--downsample-kind", "average"],
        ),
        (
            "kernel larger than image",
            [str(image), "--operator", "blur", "--kernel", "box", "--kernel-size", "40"],
        ),
        ("ct measurement without size", ["--operator", "ct", "--measured", str(small_mask)]),
        ("bad image size", [str(image), "--operator", "ct", "--image-size", "big"]),
        ("poisson for mri", [str(image), "--operator", "mri", "--poisson-peak", "10"]),
    ]


@pytest.mark.parametrize("index", range(13))
def test_bad_options_exit_2_with_one_sentence(index, image, tmp_path, capsys):
    what, args = _bad(tmp_path, image)[index]
    code = main(["solve", *args, "--quiet", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2, what
    assert err.startswith("pixelwise: error:") and "\n" not in err and err.endswith("."), (what, err)


def test_unknown_operator_is_an_argparse_error(image, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["solve", str(image), "--operator", "deblur", "--out", str(tmp_path)])
    assert exc.value.code == 2

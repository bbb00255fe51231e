"""``pixelwise solve`` with learned priors, end to end on tiny trained runs (conftest.prior_runs): plug-and-play and
RED with a denoiser on every operator, CSGM and DPS on a digit, and ``--compare`` with the priors given. The runs
are seconds of training, so these check the plumbing (the run read, the prior's settings recorded, every operator
solved), not the quality (the solver tests check that against closed forms)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pixelwise.cli import main
from pixelwise.data.io import write_image
from pixelwise.data.samples import sample, to_uint8

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]

OPERATORS = [["blur"], ["blur", "--kernel", "motion", "--motion-length", "5"], ["downsample", "--scale", "2"],
             ["inpaint"], ["mri"], ["ct", "--views", "8"], ["denoise", "--noise-sigma", "25"]]


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "cam.png"
    write_image(path, to_uint8(sample("camera", grey=True, size=24)))
    return path


@pytest.fixture(scope="module")
def digit(tmp_path_factory):
    from pixelwise.data.imagesets import load_digits_set

    path = tmp_path_factory.mktemp("digit") / "digit.png"
    write_image(path, (load_digits_set().images[-1, 0] * 255).round().astype(np.uint8))
    return path


def metrics(folder) -> dict:
    return json.loads((folder / "metrics.json").read_text())


@pytest.mark.parametrize("method", ["pnp", "red"])
@pytest.mark.parametrize("operator", OPERATORS, ids=[" ".join(o) for o in OPERATORS])
def test_a_denoiser_run_serves_every_operator(method, operator, photo, prior_runs, tmp_path):
    out = tmp_path / "run"
    assert main(["solve", str(photo), "--grey", "--operator", *operator, "--method", method, "--denoiser",
                 str(prior_runs / "dn"), "--iterations", "4", "--out", str(out), "--quiet"]) == 0
    row = metrics(out)["methods"][method]
    assert row["prior"]["model"] == "dncnn" and row["prior"]["trained_sigma"] == [25.0, 25.0]
    assert np.isfinite(row["psnr"]) and row["iterations"] == 4 and (out / "reconstruction.png").is_file()


def test_compare_includes_each_learned_prior_given(digit, prior_runs, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["solve", str(digit), "--grey", "--operator", "inpaint", "--keep", "0.25", "--compare",
                 "--generator", str(prior_runs / "vae"), "--diffusion", str(prior_runs / "ddpm"), "--iterations", "5",
                 "--out", str(out)]) == 0
    methods = metrics(out)["methods"]
    assert list(methods)[-2:] == ["csgm", "dps"] and "pnp" not in methods
    assert methods["dps"]["iterations"] == 10  # every step of its T = 10 DDPM
    assert methods["csgm"]["prior"]["latent_dim"] == 4
    printed = capsys.readouterr().out
    assert "csgm" in printed and "dps" in printed
    for name in ("reconstruction_csgm.png", "reconstruction_dps.png", "figure.png"):
        assert (out / name).is_file()


@pytest.mark.parametrize("operator", [["inpaint", "--keep", "0.25"], ["downsample", "--scale", "4",
                                                                      "--downsample-kind", "average"]])
def test_generative_priors_give_digit_sized_images(operator, digit, prior_runs, tmp_path):
    for method, flag, run in (("csgm", "--generator", "vae"), ("dps", "--diffusion", "ddpm")):
        out = tmp_path / method
        assert main(["solve", str(digit), "--grey", "--operator", *operator, "--method", method, flag,
                     str(prior_runs / run), "--iterations", "5", "--out", str(out), "--quiet"]) == 0
        row = metrics(out)["methods"][method]
        assert row["ssim"] is None and np.isfinite(row["psnr"])  # 8x8: PSNR alone

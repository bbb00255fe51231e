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


def test_auto_lambda_searches_the_plug_and_play_loop_and_levels_left_open(photo, prior_runs, tmp_path):
    """``--lambda auto`` with PnP searches the weight for each loop (HQS, ADMM) and iteration count (8, 24)
    not given, and keeps the best on the validation image; a given loop or count is kept, and searching more can
    only score at least as well on the validation image as the default loop searched alone."""
    validation = tmp_path / "val.png"
    write_image(validation, to_uint8(sample("astronaut", grey=True, size=27)))
    common = [str(photo), "--grey", "--operator", "blur", "--method", "pnp", "--denoiser", str(prior_runs / "dn"),
              "--lambda", "auto", "--validation", str(validation), "--quiet"]

    def run(name: str, *extra: str) -> dict:
        assert main(["solve", *common, *extra, "--out", str(tmp_path / name)]) == 0
        return metrics(tmp_path / name)["methods"]["pnp"]

    full = run("full")
    loops = full["pnp_search"]
    assert {(e["pnp_algorithm"], e["iterations"]) for e in loops} == {(a, k) for a in ("hqs", "admm")
                                                                        for k in (8, 24)}
    best = max(loops, key=lambda e: e["psnr"])
    assert (full["pnp_algorithm"], full["iterations"]) == (best["pnp_algorithm"], best["iterations"])
    assert full["lambda"] == pytest.approx(best["lambda"])
    assert max(s for _, s in full["lambda_search"]) == pytest.approx(best["psnr"])  # the winner's own search

    default = run("default", "--pnp-algorithm", "hqs", "--iterations", "24")
    assert "pnp_search" not in default and (default["pnp_algorithm"], default["iterations"]) == ("hqs", 24)
    assert best["psnr"] >= max(s for _, s in default["lambda_search"]) - 1e-9
    assert next(e for e in loops if (e["pnp_algorithm"], e["iterations"]) == ("hqs", 24))["psnr"] == \
        pytest.approx(max(s for _, s in default["lambda_search"]))

    admm = run("admm", "--pnp-algorithm", "admm")
    assert [(e["pnp_algorithm"], e["iterations"]) for e in admm["pnp_search"]] == [("admm", 8), ("admm", 24)]
    assert admm["pnp_algorithm"] == "admm"


def test_auto_lambda_scores_plug_and_play_by_the_mean_over_a_validation_folder(photo, prior_runs, tmp_path):
    """With a folder of validation images each weight PnP tries scores the mean PSNR of the runs validating on each
    image alone (the k-th measured with seed + 1 + k: the second alone is run with --seed 1); PnP starts every
    solve afresh, so every weight tried by both scores the same."""
    folder = tmp_path / "validation"
    folder.mkdir()
    for name in ("astronaut", "shepp_logan"):
        write_image(folder / f"{name}.png", to_uint8(sample(name, grey=True, size=27)))
    common = [str(photo), "--grey", "--operator", "blur", "--method", "pnp", "--denoiser", str(prior_runs / "dn"),
              "--lambda", "auto", "--pnp-algorithm", "hqs", "--iterations", "8", "--quiet"]

    def table(name: str, validation, *extra: str) -> dict:
        assert main(["solve", *common, "--validation", str(validation), *extra, "--out", str(tmp_path / name)]) == 0
        return dict(metrics(tmp_path / name)["methods"]["pnp"]["lambda_search"])

    both, first = table("both", folder), table("first", folder / "astronaut.png")
    second = table("second", folder / "shepp_logan.png", "--seed", "1")
    common_weights = set(both) & set(first) & set(second)
    assert len(common_weights) >= 3
    for lam in common_weights:
        assert both[lam] == pytest.approx((first[lam] + second[lam]) / 2, abs=1e-9)


@pytest.mark.parametrize(("operator", "levels"), [(["blur"], 8), (["blur", "--kernel", "motion"], 8),
                                                  (["downsample", "--scale", "2"], 24), (["mri"], 24)])
def test_plug_and_play_runs_dpirs_levels_by_default(operator, levels, photo, prior_runs, tmp_path):
    """Without --iterations PnP runs DPIR's 8 denoiser levels for deblurring and 24 for the other operators."""
    out = tmp_path / "run"
    assert main(["solve", str(photo), "--grey", "--operator", *operator, "--method", "pnp", "--denoiser",
                 str(prior_runs / "dn"), "--out", str(out), "--quiet"]) == 0
    row = metrics(out)["methods"]["pnp"]
    assert (row["iterations"], row["pnp_algorithm"]) == (levels, "hqs")

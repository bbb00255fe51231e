"""The restoration recipe: each regime learns on a tiny generated problem, protocols, losses, phantoms, errors."""

from __future__ import annotations

import csv
import json
import math
import re

import pytest
import torch
from safetensors.torch import load_file

from pixelwise.data.io import write_image
from pixelwise.data.phantoms import random_ellipses
from pixelwise.data.samples import sample, to_uint8
from pixelwise.errors import PixelwiseError
from pixelwise.losses.restoration import RestorationLoss, huber_loss, l1_loss, l2_loss, tv_penalty
from pixelwise.metrics import bootstrap_interval
from pixelwise.physics import MRI, Inpainting
from pixelwise.tasks.restoration import (
    TV_TOL,
    RestorationConfig,
    evaluate,
    evaluation_cases,
    load_run,
    resume_config,
    run,
    score,
    summaries,
    tv_baseline,
    tv_reconstructions,
)

torch.set_num_threads(1)

@pytest.fixture(scope="module")
def crops(tmp_path_factory):
    """Six crops of the bundled photographs, odd sizes included (tests never read development data)."""
    folder = tmp_path_factory.mktemp("crops")
    cam, ast = sample("camera", grey=True), sample("astronaut", grey=True)
    for i, (img, top, size) in enumerate([(cam, 100, 48), (cam, 260, 45), (cam, 300, 51), (ast, 30, 48),
                                         (ast, 120, 47), (ast, 60, 48)]):
        write_image(folder / f"crop{i}.png", to_uint8(img[:, top:top + size, top:top + size + 2]))
    return folder


TINY = dict(patch=24, val_size=32, batch_size=8, steps_per_epoch=20, epochs=3, lr=2e-3, figure_count=1,
            tv_iterations=30)

# (id, config, minimum gain of the network over the naive baseline in dB); every case runs 60 Adam steps
REGIME_CASES = [
    ("simulate-denoise-dncnn", dict(task="denoise", model="dncnn", depth=4, width=16), 2.0),
    ("simulate-denoise-unet", dict(task="denoise", model="unet", depth=2, width=8), 2.0),
    ("simulate-blind-denoise", dict(task="denoise", model="dncnn", depth=4, width=16, sigma_range=(10.0, 40.0)), 2.0),
    ("simulate-sr-post", dict(task="sr", model="post", scale=2, depth=3, width=32, steps_per_epoch=30, lr=3e-3), 0.4),
    ("simulate-mri-unet", dict(task="mri", model="unet", data="phantoms", size=32, phantoms=16, depth=2, width=8,
                                batch_size=4, sigma=2.0), 1.0),
    ("simulate-ct-unrolled", dict(task="ct", model="unrolled", data="phantoms", size=32, views=12, phantoms=16,
                                   iterations=3, width=8, batch_size=4, sigma=2.0), 0.5),
    ("measurements-deblur", dict(task="deblur", model="dncnn", regime="measurements", depth=4, width=16, sigma=2.0,
                                 pool=32), 0.2),
    ("measurements-r2r-denoise", dict(task="denoise", model="dncnn", regime="measurements", splitting="r2r",
                                      depth=4, width=16, pool=32), 0.5),
]


@pytest.mark.parametrize("name, extra, gain", REGIME_CASES, ids=[c[0] for c in REGIME_CASES])
def test_regime_learns_and_beats_naive(name, extra, gain, tmp_path, crops):
    cfg = RestorationConfig(out=str(tmp_path / "run"), **{"data": str(crops), **TINY, **extra})
    result = run(cfg, progress=False, log=lambda s: None)
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < losses[0], losses
    mean = result.metrics["mean"]
    assert mean["network"]["psnr"] > mean["naive"]["psnr"] + gain, mean
    for name_ in ("config.json", "split.json", "history.csv", "metrics.json", "per_case.csv", "plots/figure.png",
                  "checkpoints/best.safetensors"):
        assert (result.run_dir / name_).is_file(), name_
    rows = list(csv.DictReader(open(result.run_dir / "per_case.csv")))
    assert len(rows) == result.metrics["count"] >= 1
    assert {"psnr_naive", "psnr_tv", "psnr_network", "ssim_network"} <= set(rows[0])


def test_pairs_regime_learns(tmp_path):
    """Regime 1: noisy/clean image pairs on disk, no operator; the network beats the noisy input."""
    g = torch.Generator().manual_seed(0)
    data = tmp_path / "pairs"
    for i, name in enumerate(("camera", "astronaut")):
        x = sample(name, grey=True, size=64 + 3 * i)  # odd size for the second one
        y = (x + 25 / 255 * torch.randn(x.shape, generator=g)).clamp(0, 1)
        write_image(data / "input" / f"{name}.png", to_uint8(y))
        write_image(data / "target" / f"{name}.png", to_uint8(x))
    cfg = RestorationConfig(out=str(tmp_path / "run"), regime="pairs", data=str(data), depth=4, width=16,
                            **{**TINY, "epochs": 4})
    result = run(cfg, progress=False, log=lambda s: None)
    mean = result.metrics["mean"]
    assert set(mean) == {"naive", "network"}  # no A, so no TV baseline
    assert mean["network"]["psnr"] > mean["naive"]["psnr"] + 1.0, mean


def test_run_is_reproducible_and_eval_rewrites_metrics(tmp_path, crops):
    extra = dict(TINY, data=str(crops), depth=3, width=8, epochs=1, steps_per_epoch=5)
    a = run(RestorationConfig(out=str(tmp_path / "a"), **extra), progress=False, log=lambda s: None)
    b = run(RestorationConfig(out=str(tmp_path / "b"), **extra), progress=False, log=lambda s: None)
    assert a.metrics["mean"] == b.metrics["mean"]
    again = evaluate(a.run_dir, log=lambda s: None)
    assert again["mean"] == a.metrics["mean"]
    assert json.loads((a.run_dir / "metrics.json").read_text())["protocol"] == "denoise"


def test_resume_continues_the_weights_of_an_interrupted_run(tmp_path, crops):
    """1 epoch, then resumed to 2: the resumed call trains epoch 2 only and ends with the weights of 2 epochs
    straight (constant lr), so it started from the epoch-1 weights, not from new ones; it keeps its saved
    settings and its first epoch."""
    extra = dict(TINY, data=str(crops), depth=3, width=8, steps_per_epoch=4, schedule="constant")
    quiet = dict(progress=False, evaluate_after=False)
    first = run(RestorationConfig(out=str(tmp_path / "a"), **{**extra, "epochs": 1}), log=lambda s: None, **quiet)
    straight = run(RestorationConfig(out=str(tmp_path / "b"), **{**extra, "epochs": 2}), log=lambda s: None, **quiet)
    lines = []
    resumed = run(RestorationConfig(out=str(tmp_path / "a"), epochs=2, lr=0.5), resume=True, log=lines.append,
                  **quiet)
    assert [line.split(":")[0] for line in lines if line.startswith("epoch ")] == ["epoch 2/2"]
    assert len(resumed.history) == 2 and resumed.history[0] == first.history[0]
    assert [r["train_loss"] for r in resumed.history] == pytest.approx([r["train_loss"] for r in straight.history])
    a = load_file(tmp_path / "a" / "checkpoints" / "last.safetensors")
    b = load_file(tmp_path / "b" / "checkpoints" / "last.safetensors")
    for k in b:
        torch.testing.assert_close(a[k], b[k])
    saved = json.loads((tmp_path / "a" / "config.json").read_text())
    assert saved["epochs"] == 2 and saved["lr"] == TINY["lr"]  # lr=0.5 was not the run's: ignored
    assert len(list(csv.DictReader(open(tmp_path / "a" / "history.csv")))) == 2


RESUME_ERRORS = [
    (dict(), dict(epochs=0), "nothing", "cannot resume"),
    (dict(), dict(epochs=1, changes={"lr": 0.5}), "run", "lr=0.5"),
    (dict(), dict(epochs=1, changes={"model": "unet"}), "run", "model"),
    (dict(epochs=2), dict(epochs=1), "run", "below"),
    (dict(), dict(minutes=-1.0), "run", "minutes"),
]


@pytest.mark.parametrize("first, again, folder, words", RESUME_ERRORS, ids=[e[3] for e in RESUME_ERRORS])
def test_resume_errors(first, again, folder, words, tmp_path, crops):
    extra = dict(TINY, data=str(crops), depth=2, width=4, steps_per_epoch=2, epochs=1)
    run(RestorationConfig(out=str(tmp_path / "run"), **{**extra, **first}), progress=False, log=lambda s: None,
        evaluate_after=False)
    before = (tmp_path / "run" / "config.json").read_text()
    with pytest.raises(PixelwiseError, match=words):
        resume_config(tmp_path / folder, again.get("epochs") or None, again.get("minutes"), again.get("changes"))
    assert (tmp_path / "run" / "config.json").read_text() == before
    assert not (tmp_path / "nothing").exists()


def test_resume_refuses_changed_data(tmp_path, crops):
    data = tmp_path / "data"
    data.mkdir()
    for f in crops.iterdir():
        (data / f.name).write_bytes(f.read_bytes())
    extra = dict(TINY, data=str(data), depth=2, width=4, steps_per_epoch=2, epochs=1)
    run(RestorationConfig(out=str(tmp_path / "run"), **extra), progress=False, log=lambda s: None,
        evaluate_after=False)
    (data / "crop0.png").rename(data / "zz.png")
    with pytest.raises(PixelwiseError, match="split"):
        run(RestorationConfig(out=str(tmp_path / "run"), epochs=2), resume=True, progress=False, log=lambda s: None)
    assert len(list(csv.DictReader(open(tmp_path / "run" / "history.csv")))) == 1


def test_overwrite_and_resume_contradict(tmp_path):
    with pytest.raises(PixelwiseError, match="contradict"):
        run(RestorationConfig(out=str(tmp_path / "run")), overwrite=True, resume=True, progress=False)


def test_tv_lambda_auto_searches_on_validation_images(tmp_path):
    cfg = RestorationConfig(out=str(tmp_path / "run"), task="mri", model="unet", data="phantoms", size=24, phantoms=4,
                            depth=2, width=4, tv_lambda="auto", tv_tune_images=2,
                            **{**TINY, "epochs": 1, "steps_per_epoch": 2})
    tv = run(cfg, progress=False, log=lambda s: None).metrics["tv"]
    search = tv["search"]
    table = search["table"]
    assert tv["lambda"] == search["lambda"] == max(table, key=lambda row: row[1])[0]
    assert search["images"] == 2 and len(table) >= 13 and table == sorted(table)
    centre = 3.0 * 2.0 / 255  # the heuristic for MRI at sigma 2: the first grid spans two decades either side
    assert search["first_grid"] == pytest.approx([centre / 100, centre * 100])
    assert search["best_at_edge"] == (tv["lambda"] in (table[0][0], table[-1][0]))
    assert search["searched"] == [table[0][0], table[-1][0]]
    assert tv["lambda_rule"] == "searched on validation images"
    assert (tv["solver"], tv["tol"], tv["max_iterations"]) == ("pdhg", TV_TOL["pdhg"], TINY["tv_iterations"])


@pytest.mark.parametrize("iterations, tol, converged", [(3000, 1e-3, True), (3, 1e-3, False), (40, 0.0, False)])
def test_tv_baseline_reports_whether_it_converged(iterations, tol, converged, tmp_path):
    cfg = RestorationConfig(out=str(tmp_path / "run"), task="ct", model="unet", data="phantoms", size=17, phantoms=2,
                            views=9, depth=2, width=4, tv_lambda=0.3, tv_tol=tol,
                            **{**TINY, "epochs": 1, "steps_per_epoch": 1, "patch": 17, "tv_iterations": iterations})
    tv = run(cfg, progress=False, log=lambda s: None).metrics["tv"]
    assert tv["lambda"] == 0.3 and tv["lambda_rule"] == "given" and tv["search"] is None
    assert tv["stopped_by_tolerance"] == (len(tv["iterations_run"]) if converged else 0)
    assert all(n < iterations for n in tv["iterations_run"]) == converged
    rows = list(csv.DictReader(open(tmp_path / "run" / "per_case.csv")))
    assert [int(r["tv_iterations"]) for r in rows] == tv["iterations_run"]


def test_tv_reconstructions_batch_the_measurements_of_one_operator():
    g = torch.Generator().manual_seed(4)
    x = random_ellipses(3, 19, g).double()  # odd size
    shared, other = MRI.cartesian((19, 19), 4, generator=g), MRI.cartesian((19, 19), 2, generator=g)
    measurements = [(shared.A(x[:1]), shared), (other.A(x[1:2]), other), (shared.A(x[2:]), shared)]
    images, used = tv_reconstructions(measurements, 0.003, 2000, 1e-7)
    assert [tuple(z.shape) for z in images] == [(1, 1, 19, 19)] * 3
    assert used[0] == used[2] != used[1]  # the two of one operator ran as one batch
    alone = [tv_baseline(op, y, 0.003, 2000, 1e-7) for y, op in measurements]
    torch.testing.assert_close(images[1], alone[1][0], rtol=0, atol=0)  # a group of one is the plain solve
    for i in (0, 2):
        assert float((images[i] - alone[i][0]).abs().max()) < 1e-3


# --- summaries over images --------------------------------------------------------------------------------
def test_summaries_by_hand_and_the_gain_is_paired():
    # the network is exactly 1 dB above TV on every image while the images themselves differ a lot: the
    # paired interval of the gain is [1, 1], the interval of each method's own mean is wide
    tv = [20.0, 35.0, 27.0, 31.0, 24.0]
    rows = [{"case": f"i{i}", "psnr_naive": v - 3, "ssim_naive": 0.5, "psnr_tv": v, "ssim_tv": 0.7,
             "psnr_network": v + 1, "ssim_network": 0.8 + 0.01 * i} for i, v in enumerate(tv)]
    out = summaries(rows, ("naive", "tv", "network"), seed=3)
    net = out["summary"]["network"]["psnr"]
    assert net["mean"] == pytest.approx(28.4) and net["median"] == pytest.approx(28.0) and net["n"] == 5
    assert net["ci_high"] - net["ci_low"] > 5
    g = out["gain"]["tv"]["psnr"]
    assert (g["mean"], g["median"], g["ci_low"], g["ci_high"]) == pytest.approx((1.0, 1.0, 1.0, 1.0))
    assert out["gain"]["naive"]["psnr"]["mean"] == pytest.approx(4.0)
    assert out["gain"]["tv"]["ssim"]["mean"] == pytest.approx(0.12)
    assert out["gain"]["tv"]["network_better"] == 5 and set(out["gain"]) == {"naive", "tv"}
    assert out["bootstrap"]["seed"] == 3 and summaries(rows, ("naive", "tv", "network"), seed=3) == out


def test_summaries_with_one_image_and_a_losing_network():
    rows = [{"case": "a", "psnr_naive": 25.0, "ssim_naive": 0.6, "psnr_network": 24.5, "ssim_network": 0.55}]
    out = summaries(rows, ("naive", "network"), seed=0)
    g = out["gain"]["naive"]
    assert (g["psnr"]["mean"], g["psnr"]["ci_low"], g["psnr"]["ci_high"]) == pytest.approx((-0.5, -0.5, -0.5))
    assert g["network_better"] == 0 and out["summary"]["naive"]["psnr"]["std"] == 0.0


def test_eval_writes_intervals_and_a_self_contained_report(tmp_path, crops):
    extra = dict(TINY, data=str(crops), depth=3, width=8, epochs=1, steps_per_epoch=3)
    result = run(RestorationConfig(out=str(tmp_path / "run"), **extra), progress=False, log=lambda s: None)
    m = json.loads((result.run_dir / "metrics.json").read_text())
    rows = m["per_case"]
    for b in ("naive", "tv"):
        diffs = [r["psnr_network"] - r[f"psnr_{b}"] for r in rows]
        assert m["gain"][b]["psnr"]["mean"] == pytest.approx(sum(diffs) / len(diffs))
        assert (m["gain"][b]["psnr"]["ci_low"], m["gain"][b]["psnr"]["ci_high"]) == pytest.approx(
            bootstrap_interval(diffs, seed=0))
    for method in ("naive", "tv", "network"):
        s = m["summary"][method]["ssim"]
        assert s["ci_low"] <= s["mean"] <= s["ci_high"] and s["n"] == m["count"] == len(rows)
    assert m["source"] == "the run's validation images"
    page = (result.run_dir / "report.html").read_text()
    links = re.findall(r'src="([^"]+)"', page)
    assert "plots/figure.png" in links and "plots/loss.png" in links
    assert all((result.run_dir / link).is_file() for link in links)
    assert str(tmp_path) not in page  # relative links only: the folder can move
    assert f"{m['gain']['tv']['psnr']['mean']:+.2f}" in page and all(r["case"] in page for r in rows)


def test_evaluation_cases_are_the_inputs_evaluate_scored(tmp_path, crops):
    """A peer method (BM3D in the benchmark) must see the same noisy images as the network: the rebuilt cases
    are identical call to call, and the network applied to them reproduces evaluate's per-case PSNRs."""
    extra = dict(TINY, data=str(crops), depth=3, width=8, epochs=1, steps_per_epoch=2)
    result = run(RestorationConfig(out=str(tmp_path / "run"), **extra), progress=False, log=lambda s: None)
    m = evaluate(result.run_dir, str(crops), log=lambda s: None)
    cfg, model, fixed_op = load_run(result.run_dir, "best")
    cases, source = evaluation_cases(cfg, fixed_op, str(crops), m["protocol"])
    again, _ = evaluation_cases(cfg, fixed_op, str(crops), m["protocol"])
    assert source == str(crops.resolve()) and [c[0] for c in cases] == [r["case"] for r in m["per_case"]]
    for (_, y, op, x), (_, y2, _, x2), row in zip(cases, again, m["per_case"], strict=True):
        assert torch.equal(y, y2) and torch.equal(x, x2) and not torch.equal(y, x)
        with torch.no_grad():
            out = model((y.float(), op)).double()
        assert score(out, x, m["protocol"])["psnr"] == pytest.approx(row["psnr_network"], abs=1e-9)


# --- protocols against hand-computed numbers ---------------------------------------------------------------
def test_denoise_protocol_rounds_to_8_bits():
    truth = torch.full((1, 1, 16, 16), 100 / 255, dtype=torch.float64)
    # 100.4 rounds to 100: a perfect 8-bit result although the float error is not zero
    assert math.isinf(score(torch.full_like(truth, 100.4 / 255), truth, "denoise")["psnr"])
    # 101.6 rounds to 102: error 2 grey levels everywhere, PSNR = 10 log10(255^2 / 4)
    got = score(torch.full_like(truth, 101.6 / 255), truth, "denoise")["psnr"]
    assert got == pytest.approx(10 * math.log10(255**2 / 4), abs=1e-9)
    # the plain protocol sees the unrounded error of 1.6 / 255
    assert score(torch.full_like(truth, 101.6 / 255), truth, "plain")["psnr"] == pytest.approx(
        10 * math.log10(1 / (1.6 / 255) ** 2), abs=1e-9)


def test_sr_protocol_shaves_the_border_on_y():
    truth = torch.full((3, 20, 20), 0.5, dtype=torch.float64)
    pred = truth.clone()
    pred[:, :3, :] = 0.0  # damage only the 3-pixel border: shaved at scale 3
    assert math.isinf(score(pred, truth, "sr", scale=3)["psnr"])
    pred[:, 10, 10] = 0.6  # one pixel inside: Y error = 0.1 * (65.481 + 128.553 + 24.966) / 255
    dy = 0.1 * 219.0 / 255
    expected = 10 * math.log10(1 / (dy**2 / (14 * 14)))
    assert score(pred, truth, "sr", scale=3)["psnr"] == pytest.approx(expected, abs=1e-6)


def test_output_is_clipped_before_scoring():
    truth = torch.zeros(1, 12, 12)
    assert math.isinf(score(torch.full_like(truth, -0.3), truth, "plain")["psnr"])


def test_unknown_protocol():
    with pytest.raises(PixelwiseError, match="protocol"):
        score(torch.zeros(1, 12, 12), torch.zeros(1, 12, 12), "mean")


# --- losses -------------------------------------------------------------------------------------------
def test_losses_by_hand():
    p, t = torch.tensor([[[[0.0, 0.5, 2.0]]]]), torch.zeros(1, 1, 1, 3)
    assert float(l2_loss(p, t)) == pytest.approx((0 + 0.25 + 4) / 3)
    assert float(l1_loss(p, t)) == pytest.approx(2.5 / 3)
    # delta 1: 0 -> 0, 0.5 -> 0.125 (quadratic), 2 -> 1.5 (linear)
    assert float(huber_loss(p, t, 1.0)) == pytest.approx((0 + 0.125 + 1.5) / 3)
    # TV: one row of 3: column differences 0.5 and 1.5 -> mean 1.0; no row differences
    assert float(tv_penalty(p)) == pytest.approx(1.0)
    loss = RestorationLoss("l1", tv_weight=0.5)
    assert float(loss(p, t)) == pytest.approx(2.5 / 3 + 0.5)


def test_loss_through_the_operator():
    mask = torch.tensor([[1.0, 0.0, 1.0]])
    op = Inpainting(mask)
    p, y = torch.tensor([[[[1.0, 5.0, 1.0]]]]), torch.tensor([[[[1.0, 0.0, 1.0]]]])  # y = A x
    assert float(RestorationLoss("l2")(p, y, operator=op)) == 0.0  # the masked pixel is invisible to ||A f - y||


@pytest.mark.parametrize("bad", [dict(kind="l3"), dict(tv_weight=-1.0), dict(delta=0.0)])
def test_bad_loss_settings(bad):
    with pytest.raises(PixelwiseError):
        RestorationLoss(**bad)


def test_loss_shape_mismatch():
    with pytest.raises(PixelwiseError, match="shape"):
        l2_loss(torch.zeros(1, 1, 3, 3), torch.zeros(1, 1, 3, 4))


# --- phantoms -----------------------------------------------------------------------------------------
def test_phantoms_are_seeded_and_in_range():
    a = random_ellipses(3, 17, torch.Generator().manual_seed(5))
    b = random_ellipses(3, 17, torch.Generator().manual_seed(5))
    c = random_ellipses(3, 17, torch.Generator().manual_seed(6))
    assert a.shape == (3, 1, 17, 17) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1 and a.std() > 0.05
    assert not torch.equal(a[0], a[1])


@pytest.mark.parametrize("n, size", [(0, 16), (2, 3), (1.5, 16)])
def test_bad_phantom_arguments(n, size):
    with pytest.raises(PixelwiseError):
        random_ellipses(n, size, torch.Generator())


# --- the default training crop -------------------------------------------------------------------------------
@pytest.mark.parametrize("kw,patch", [
    (dict(), 40),  # DnCNN's 40 x 40
    (dict(model="unet", depth=4), 40),
    (dict(model="vdsr", task="sr", scale=3), 42),  # rounded up to a multiple of the scale (40 was an error)
    (dict(model="post", task="sr", scale=4), 40),
    (dict(model="srcnn", task="sr", scale=7), 42),
    (dict(model="unet", patch=48), 48),  # a given patch is kept
])
def test_default_patch(kw, patch):
    assert RestorationConfig(**kw).patch == patch


# --- configuration errors -----------------------------------------------------------------------------------
BAD_CONFIGS = [
    (dict(task="dehaze"), "task"),
    (dict(model="resnet"), "model"),
    (dict(regime="weak"), "regime"),
    (dict(task="denoise", regime="measurements"), "degenerate"),
    (dict(task="denoise", splitting="r2r"), "measurements regime"),
    (dict(regime="measurements", splitting="n2v"), "splitting"),
    (dict(model="post", task="denoise"), "post"),
    (dict(model="unrolled", regime="pairs"), "unrolled"),
    (dict(task="mri", regime="pairs"), "pairs"),
    (dict(task="sr", patch=25, scale=3), "multiple"),
    (dict(sigma=-1.0), "sigma"),
    (dict(sigma_range=(40.0, 10.0)), "range"),
    (dict(patch=8), "SSIM"),
    (dict(channels=2), "channels"),
    (dict(data="/no/such/folder"), "not a folder"),
    (dict(data="phantoms", channels=3), "grey"),
    (dict(batch_size=0), "batch_size"),
    (dict(lr=0.0), "lr"),
    (dict(tv_lambda="best"), "tv_lambda"),
    (dict(tv_lambda=-1.0), "tv_lambda"),
    (dict(tv_tol=-1e-6), "tv_tol"),
    (dict(tv_tune_images=0), "tv_tune_images"),
]


@pytest.mark.parametrize("bad, words", BAD_CONFIGS, ids=[w for _, w in BAD_CONFIGS])
def test_bad_config(bad, words, tmp_path):
    with pytest.raises(PixelwiseError, match=words):
        RestorationConfig(out=str(tmp_path / "never"), **bad)
    assert not (tmp_path / "never").exists()


def test_too_small_images_fail_before_writing(tmp_path):
    data = tmp_path / "small"
    write_image(data / "a.png", to_uint8(sample("camera", size=16)))
    out = tmp_path / "run"
    with pytest.raises(PixelwiseError, match="patch"):
        run(RestorationConfig(out=str(out), data=str(data), patch=24), progress=False, log=lambda s: None)
    assert not out.exists()


# --- adversarial term ---------------------------------------------------------------------------------
def test_adversarial_loss_trains_the_discriminator_but_not_through_the_generator_term():
    from pixelwise.losses.restoration import AdversarialLoss
    from pixelwise.models.discriminator import PatchDiscriminator

    torch.manual_seed(0)
    disc = PatchDiscriminator(1, width=4, layers=2)
    before = [p.clone() for p in disc.parameters()]
    adv = AdversarialLoss(disc, lr=1e-2)
    pred = torch.rand(2, 1, 15, 13, requires_grad=True)
    loss = adv(pred, torch.rand(2, 1, 15, 13))
    assert any(not torch.equal(a, b) for a, b in zip(before, disc.parameters()))  # D took one step
    grads_after_d_step = [p.grad.clone() for p in disc.parameters()]
    loss.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0  # the generator gets a gradient
    for g, p in zip(grads_after_d_step, disc.parameters()):  # ... and adds nothing to D's gradients
        assert torch.equal(g, p.grad)
    assert all(p.requires_grad for p in disc.parameters())  # restored after the call
    assert math.isfinite(adv.last_discriminator_loss)
    assert disc(torch.zeros(1, 1, 15, 13)).shape == (1, 1, 3, 3)


def test_adversarial_weight_in_a_run(tmp_path, crops):
    cfg = RestorationConfig(out=str(tmp_path / "run"), data=str(crops), depth=3, width=8, adversarial_weight=1e-3,
                            **{**TINY, "epochs": 1, "steps_per_epoch": 3})
    result = run(cfg, progress=False, log=lambda s: None)
    assert math.isfinite(result.history[0]["train_loss"])


def test_adversarial_needs_clean_images():
    with pytest.raises(PixelwiseError, match="adversarial"):
        RestorationConfig(task="deblur", regime="measurements", adversarial_weight=1e-3)

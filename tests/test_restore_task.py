"""The restoration recipe: each regime learns on a tiny generated problem, the run folder (strict resume, bitwise
resumption, evaluations kept apart), the TV baseline, protocols, paired summaries, losses, phantoms, errors."""

from __future__ import annotations

import csv
import dataclasses
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
from pixelwise.losses.restoration import AdversarialLoss, RestorationLoss, huber_loss, l1_loss, l2_loss, tv_penalty
from pixelwise.metrics import bootstrap_interval
from pixelwise.metrics.aggregate import paired_summaries
from pixelwise.metrics.protocols import score
from pixelwise.models.discriminator import PatchDiscriminator
from pixelwise.physics import MRI, Inpainting
from pixelwise.physics.presets import Measurement
from pixelwise.solvers.tv_baseline import TV_TOL, tv_baseline, tv_reconstructions
from pixelwise.tasks.restore import RestorationConfig, evaluate, evaluation_cases, load_run, run
from pixelwise.tasks.restore import recipe as recipe_module
from pixelwise.tasks.restore.losses import ImageLoss
from pixelwise.train.files import write_json

pytestmark = pytest.mark.usefixtures("one_thread")
MEASUREMENT = {f.name for f in dataclasses.fields(Measurement)}


def quiet(_line: str) -> None:
    pass


def config(**settings) -> RestorationConfig:
    """A config from flat settings: the measurement's (operator, scale, views, ...) go to its Measurement."""
    measured = {k: settings.pop(k) for k in list(settings) if k in MEASUREMENT}
    return RestorationConfig(measurement=Measurement(**{"scale": 3, **measured}), **settings)


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
    ("simulate-denoise-dncnn", dict(operator="denoise", model="dncnn", depth=4, width=16), 2.0),
    ("simulate-denoise-unet", dict(operator="denoise", model="unet", depth=2, width=8), 2.0),
    ("simulate-blind-denoise", dict(operator="denoise", model="dncnn", depth=4, width=16,
                                    sigma_range=(10.0, 40.0)), 2.0),
    ("simulate-sr-post", dict(operator="downsample", model="post", scale=2, depth=3, width=32, steps_per_epoch=30,
                              lr=3e-3), 0.4),
    ("simulate-mri-unet", dict(operator="mri", model="unet", data="phantoms", size=32, phantoms=16, depth=2, width=8,
                               batch_size=4, sigma=2.0), 1.0),
    ("simulate-ct-unrolled", dict(operator="ct", model="unrolled", data="phantoms", size=32, views=12, phantoms=16,
                                  iterations=3, width=8, batch_size=4, sigma=2.0), 0.5),
    ("measurements-deblur", dict(operator="blur", model="dncnn", regime="measurements", depth=4, width=16, sigma=2.0,
                                 pool=32), 0.2),
    ("measurements-r2r-denoise", dict(operator="denoise", model="dncnn", regime="measurements", splitting="r2r",
                                      depth=4, width=16, pool=32), 0.5),
]


@pytest.mark.parametrize("name, extra, gain", REGIME_CASES, ids=[c[0] for c in REGIME_CASES])
def test_regime_learns_and_beats_naive(name, extra, gain, tmp_path, crops):
    result = run(config(out=str(tmp_path / "run"), **{"data": str(crops), **TINY, **extra}), progress=False,
                 log=quiet)
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < losses[0], losses
    mean = result.metrics["mean"]
    assert mean["network"]["psnr"] > mean["naive"]["psnr"] + gain, mean
    for name_ in ("config.json", "split.json", "history.csv", "metrics.json", "per_case.csv", "plots/figure.png",
                  "report.html", "checkpoints/best.safetensors", "checkpoints/last_state.pt"):
        assert (result.run_dir / name_).is_file(), name_
    rows = list(csv.DictReader(open(result.run_dir / "per_case.csv")))
    assert len(rows) == result.metrics["count"] >= 1
    assert {"psnr_naive", "psnr_tv", "psnr_network", "ssim_network"} <= set(rows[0])
    assert result.metrics["metrics"]["psnr_network"] == result.metrics["summary"]["network"]["psnr"]


def test_pairs_regime_learns(tmp_path):
    """Regime 1: noisy/clean image pairs on disk, no operator; the network beats the noisy input."""
    g = torch.Generator().manual_seed(0)
    data = tmp_path / "pairs"
    for i, name in enumerate(("camera", "astronaut")):
        x = sample(name, grey=True, size=64 + 3 * i)  # odd size for the second one
        y = (x + 25 / 255 * torch.randn(x.shape, generator=g)).clamp(0, 1)
        write_image(data / "input" / f"{name}.png", to_uint8(y))
        write_image(data / "target" / f"{name}.png", to_uint8(x))
    cfg = config(out=str(tmp_path / "run"), regime="pairs", data=str(data), depth=4, width=16, **{**TINY, "epochs": 4})
    result = run(cfg, progress=False, log=quiet)
    mean = result.metrics["mean"]
    assert set(mean) == {"naive", "network"}  # no A, so no TV baseline
    assert mean["network"]["psnr"] > mean["naive"]["psnr"] + 1.0, mean


def test_run_is_reproducible_and_eval_rewrites_the_same_metrics(tmp_path, crops):
    extra = dict(TINY, data=str(crops), depth=3, width=8, epochs=1, steps_per_epoch=5)
    a = run(config(out=str(tmp_path / "a"), **extra), progress=False, log=quiet)
    b = run(config(out=str(tmp_path / "b"), **extra), progress=False, log=quiet)
    assert a.metrics["mean"] == b.metrics["mean"]
    again = evaluate(a.run_dir, log=quiet, progress=False)  # the run's own settings: the run's own results
    assert again["mean"] == a.metrics["mean"]
    assert json.loads((a.run_dir / "metrics.json").read_text())["protocol"] == "denoise"
    assert not (a.run_dir / "evaluations").exists()


# --- the run folder -------------------------------------------------------------------------------------------
def test_resume_extends_a_finished_run_with_its_weights(tmp_path, crops):
    """1 epoch, then resumed to 2: the resumed call trains epoch 2 only and ends with the weights of 2 epochs
    straight (constant lr), so it started from the epoch-1 weights, not from new ones; it keeps its first epoch."""
    extra = dict(TINY, data=str(crops), depth=3, width=8, steps_per_epoch=4, schedule="constant")
    first = run(config(out=str(tmp_path / "a"), **{**extra, "epochs": 1}), progress=False, log=quiet,
                evaluate_after=False)
    run(config(out=str(tmp_path / "b"), **{**extra, "epochs": 2}), progress=False, log=quiet, evaluate_after=False)
    lines = []
    resumed = run(config(out=str(tmp_path / "a"), **{**extra, "epochs": 2}), resume=True, progress=False,
                  log=lines.append, evaluate_after=False)
    assert [line.split(":")[0] for line in lines if line.startswith("epoch ")] == ["epoch 2/2"]
    assert len(resumed.history) == 2 and resumed.history[0] == first.history[0]
    a = load_file(tmp_path / "a" / "checkpoints" / "last.safetensors")
    b = load_file(tmp_path / "b" / "checkpoints" / "last.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in b)
    assert json.loads((tmp_path / "a" / "config.json").read_text())["epochs"] == 2


def _history_without_seconds(run_dir) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(open(run_dir / "history.csv"))]


@pytest.mark.parametrize("extra", [dict(), dict(adversarial_weight=1e-2)], ids=["simulate", "adversarial"])
def test_an_interrupted_run_resumes_bitwise(extra, tmp_path, crops, monkeypatch):
    """3 epochs straight, and the same run interrupted in epoch 2 (the batch function raises after 2 of its 4
    batches) then resumed: the same bytes of every weights file and the same history apart from the seconds.
    With the adversarial term, its discriminator and the discriminator's Adam moments are in the checkpoint too
    (a fresh discriminator on resume would change the weights)."""
    settings = dict(TINY, data=str(crops), depth=3, width=8, steps_per_epoch=4, epochs=3, deterministic=True, **extra)
    run(config(out=str(tmp_path / "straight"), **settings), progress=False, log=quiet, evaluate_after=False)
    real = recipe_module.simulate_batches

    def interrupted(*args):
        batches = real(*args)

        def epoch_batches(epoch, generator):
            for i, batch in enumerate(batches(epoch, generator)):
                if (epoch, i) == (1, 2):
                    raise KeyboardInterrupt
                yield batch

        return epoch_batches

    monkeypatch.setattr(recipe_module, "simulate_batches", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(config(out=str(tmp_path / "cut"), **settings), progress=False, log=quiet, evaluate_after=False)
    assert len(_history_without_seconds(tmp_path / "cut")) == 1
    monkeypatch.setattr(recipe_module, "simulate_batches", real)
    run(config(out=str(tmp_path / "cut"), **settings), resume=True, progress=False, log=quiet, evaluate_after=False)
    for name in ("last", "best"):
        straight = (tmp_path / "straight" / "checkpoints" / f"{name}.safetensors").read_bytes()
        assert (tmp_path / "cut" / "checkpoints" / f"{name}.safetensors").read_bytes() == straight, name
    assert _history_without_seconds(tmp_path / "cut") == _history_without_seconds(tmp_path / "straight")
    state = torch.load(tmp_path / "cut" / "checkpoints" / "last_state.pt", weights_only=True)
    if extra:  # 12 discriminator steps, and moments that moved
        assert int(state["loss"]["adversarial.adam_step"]) == 12 and state["loss"]["adversarial.exp_avg_0"].abs().sum()


def _segment_run(folder) -> None:
    """A folder that looks like a resumable run of another command."""
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "last_state.pt").write_bytes(b"")
    write_json(folder / "config.json", {"_recipe": "segment", "data": "x"})


# (first run's settings or a folder maker, the resumed run's settings, the folder resumed, words of the refusal)
RESUME_ERRORS = [
    (dict(), dict(), "nothing", "cannot resume"),
    (dict(), dict(lr=0.5), "run", "lr=0.5 (saved 0.002)"),
    (dict(), dict(model="unet"), "run", "model='unet'"),
    (dict(), dict(sigma=30.0), "run", "sigma=30.0 (saved 25.0)"),
    (dict(), dict(keep=0.3), "run", "measurement.keep=0.3"),
    (dict(), dict(operator="blur"), "run", "measurement.operator='blur'"),
    (dict(epochs=2), dict(epochs=1), "run", "below"),
    (_segment_run, dict(), "run", "written by `pixelwise segment`"),
]


@pytest.mark.parametrize("first, again, folder, words", RESUME_ERRORS, ids=[e[3] for e in RESUME_ERRORS])
def test_resume_refuses_changed_settings_by_name(first, again, folder, words, tmp_path, crops):
    extra = dict(TINY, data=str(crops), depth=2, width=4, steps_per_epoch=2, epochs=1)
    if callable(first):
        first(tmp_path / "run")
    else:
        run(config(out=str(tmp_path / "run"), **{**extra, **first}), progress=False, log=quiet, evaluate_after=False)
    before = sorted((p, p.stat().st_mtime_ns) for p in (tmp_path / "run").rglob("*"))
    with pytest.raises(PixelwiseError, match=re.escape(words)):
        run(config(out=str(tmp_path / folder), **{**extra, **again}), resume=True, progress=False, log=quiet)
    assert sorted((p, p.stat().st_mtime_ns) for p in (tmp_path / "run").rglob("*")) == before
    assert not (tmp_path / "nothing").exists()


def test_resume_refuses_changed_data(tmp_path, crops):
    data = tmp_path / "data"
    data.mkdir()
    for f in crops.iterdir():
        (data / f.name).write_bytes(f.read_bytes())
    extra = dict(TINY, data=str(data), depth=2, width=4, steps_per_epoch=2, epochs=1)
    run(config(out=str(tmp_path / "run"), **extra), progress=False, log=quiet, evaluate_after=False)
    (data / "crop0.png").rename(data / "zz.png")
    with pytest.raises(PixelwiseError, match="split"):
        run(config(out=str(tmp_path / "run"), **{**extra, "epochs": 2}), resume=True, progress=False, log=quiet)
    assert len(list(csv.DictReader(open(tmp_path / "run" / "history.csv")))) == 1


# (the run's folder state, run() keywords, words)
FOLDER_ERRORS = [
    ("empty", dict(overwrite=True, resume=True), "contradict"),
    ("taken", dict(), "already exists"),
    ("not a run", dict(overwrite=True), "not a run folder"),
]


@pytest.mark.parametrize("state, keywords, words", FOLDER_ERRORS, ids=[e[2] for e in FOLDER_ERRORS])
def test_run_folder_refusals(state, keywords, words, tmp_path):
    out = tmp_path / "run"
    if state != "empty":
        out.mkdir()
        (out / "mine.txt").write_text("the user's")
        if state == "taken":
            (out / "config.json").write_text("{}")
    with pytest.raises(PixelwiseError, match=words):
        run(config(out=str(out)), progress=False, log=quiet, **keywords)
    assert state == "empty" or (out / "mine.txt").read_text() == "the user's"


# --- evaluations ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory, crops):
    """A one-epoch denoising run (its own evaluation written)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    extra = dict(TINY, data=str(crops), depth=3, width=8, epochs=1, steps_per_epoch=3)
    return run(config(out=str(out), **extra), progress=False, log=quiet)


# (evaluate keywords, the folder it writes to, relative to the run; "OUT": the given --out)
ELSEWHERE = [
    (dict(data="CROPS"), "evaluations/{crops}-denoise"),
    (dict(protocol="plain"), "evaluations/validation-plain"),
    (dict(which="last"), "evaluations/validation-denoise-last"),
    (dict(data="bundled", name="mine"), "evaluations/mine"),
    (dict(protocol="plain", out="OUT"), "OUT"),
]


@pytest.mark.parametrize("keywords, where", ELSEWHERE, ids=[w for _, w in ELSEWHERE])
def test_evaluations_on_other_data_or_settings_never_replace_the_runs_own(keywords, where, trained, crops, tmp_path):
    run_dir = trained.run_dir
    own = {f: (run_dir / f).read_bytes() for f in ("metrics.json", "per_case.csv", "report.html")}
    keywords = {k: (str(crops) if v == "CROPS" else str(tmp_path / "out") if v == "OUT" else v)
                for k, v in keywords.items()}
    metrics = evaluate(run_dir, progress=False, log=quiet, **keywords)
    dest = tmp_path / "out" if where == "OUT" else run_dir / where.format(crops=crops.name)
    assert json.loads((dest / "metrics.json").read_text())["per_case"] == metrics["per_case"]
    assert (dest / "per_case.csv").is_file() and (dest / "report.html").is_file()
    assert (dest / "plots" / "figure.png").is_file()
    assert {f: (run_dir / f).read_bytes() for f in own} == own
    assert metrics["checkpoint"] == keywords.get("which", "best")


def test_eval_writes_intervals_and_a_self_contained_report(trained):
    run_dir = trained.run_dir
    m = json.loads((run_dir / "metrics.json").read_text())
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
    page = (run_dir / "report.html").read_text()
    links = re.findall(r'src="([^"]+)"', page)
    assert "plots/figure.png" in links and "plots/loss.png" in links
    assert all((run_dir / link).is_file() for link in links)
    assert str(run_dir.parent) not in page  # relative links only: the folder can move
    assert f"{m['gain']['tv']['psnr']['mean']:+.2f}" in page and all(r["case"] in page for r in rows)


def test_evaluation_cases_are_the_inputs_evaluate_scored(trained, crops, tmp_path):
    """A peer method (BM3D in the benchmark) must see the same noisy images as the network: the rebuilt cases
    are identical call to call, and the network applied to them reproduces evaluate's per-case PSNRs."""
    m = evaluate(trained.run_dir, str(crops), out=tmp_path / "eval", progress=False, log=quiet)
    cfg, model, fixed_op = load_run(trained.run_dir, "best")
    cases, source = evaluation_cases(cfg, fixed_op, str(crops), m["protocol"])
    again, _ = evaluation_cases(cfg, fixed_op, str(crops), m["protocol"])
    assert source == str(crops.resolve()) and [c[0] for c in cases] == [r["case"] for r in m["per_case"]]
    for (_, y, op, x), (_, y2, _, x2), row in zip(cases, again, m["per_case"], strict=True):
        assert torch.equal(y, y2) and torch.equal(x, x2) and not torch.equal(y, x)
        with torch.no_grad():
            out = model((y.float(), op)).double()
        assert score(out, x, m["protocol"])["psnr"] == pytest.approx(row["psnr_network"], abs=1e-9)


# --- the TV baseline --------------------------------------------------------------------------------------------
def test_tv_lambda_auto_searches_on_validation_images(tmp_path):
    cfg = config(out=str(tmp_path / "run"), operator="mri", model="unet", data="phantoms", size=24, phantoms=4,
                 depth=2, width=4, tv_lambda="auto", tv_tune_images=2, **{**TINY, "epochs": 1, "steps_per_epoch": 2})
    tv = run(cfg, progress=False, log=quiet).metrics["tv"]
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
    cfg = config(out=str(tmp_path / "run"), operator="ct", model="unet", data="phantoms", size=17, phantoms=2,
                 views=9, depth=2, width=4, tv_lambda=0.3, tv_tol=tol,
                 **{**TINY, "epochs": 1, "steps_per_epoch": 1, "patch": 17, "tv_iterations": iterations})
    tv = run(cfg, progress=False, log=quiet).metrics["tv"]
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
def test_paired_summaries_by_hand_and_the_gain_is_paired():
    # the network is exactly 1 dB above TV on every image while the images themselves differ a lot: the
    # paired interval of the gain is [1, 1], the interval of each method's own mean is wide
    tv = [20.0, 35.0, 27.0, 31.0, 24.0]
    rows = [{"case": f"i{i}", "psnr_naive": v - 3, "ssim_naive": 0.5, "psnr_tv": v, "ssim_tv": 0.7,
             "psnr_network": v + 1, "ssim_network": 0.8 + 0.01 * i} for i, v in enumerate(tv)]
    out = paired_summaries(rows, ("naive", "tv", "network"), ("psnr", "ssim"), "network", seed=3)
    net = out["summary"]["network"]["psnr"]
    assert net["mean"] == pytest.approx(28.4) and net["median"] == pytest.approx(28.0) and net["n"] == 5
    assert net["ci_high"] - net["ci_low"] > 5
    g = out["gain"]["tv"]["psnr"]
    assert (g["mean"], g["median"], g["ci_low"], g["ci_high"]) == pytest.approx((1.0, 1.0, 1.0, 1.0))
    assert out["gain"]["naive"]["psnr"]["mean"] == pytest.approx(4.0)
    assert out["gain"]["tv"]["ssim"]["mean"] == pytest.approx(0.12)
    assert out["gain"]["tv"]["network_better"] == 5 and set(out["gain"]) == {"naive", "tv"}
    assert out["bootstrap"]["seed"] == 3
    assert paired_summaries(rows, ("naive", "tv", "network"), ("psnr", "ssim"), "network", seed=3) == out


def test_paired_summaries_with_one_image_and_a_losing_network():
    rows = [{"case": "a", "psnr_naive": 25.0, "ssim_naive": 0.6, "psnr_network": 24.5, "ssim_network": 0.55}]
    out = paired_summaries(rows, ("naive", "network"), ("psnr", "ssim"), "network", seed=0)
    g = out["gain"]["naive"]
    assert (g["psnr"]["mean"], g["psnr"]["ci_low"], g["psnr"]["ci_high"]) == pytest.approx((-0.5, -0.5, -0.5))
    assert g["network_better"] == 0 and out["summary"]["naive"]["psnr"]["std"] == 0.0


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


# --- the adversarial term ---------------------------------------------------------------------------------
def test_adversarial_term_trains_the_discriminator_but_not_through_the_generator_term():
    torch.manual_seed(0)
    adv = AdversarialLoss(PatchDiscriminator(1, width=4, layers=2), lr=1e-2)
    before = [p.clone() for p in adv.discriminator.parameters()]
    pred = torch.rand(2, 1, 15, 13, requires_grad=True)  # odd sizes
    loss = adv(pred, torch.rand(2, 1, 15, 13))
    assert all(not torch.equal(a, b) for a, b in zip(before, adv.discriminator.parameters()))  # D took one step
    loss.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0  # the generator gets a gradient
    assert all(p.grad is None for p in adv.discriminator.parameters())  # ... and D none from it
    assert all(p.requires_grad for p in adv.discriminator.parameters())  # restored after the call
    assert int(adv.adam_step) == 1 and math.isfinite(float(adv.last_discriminator_loss))
    adv.eval()
    adv(pred.detach(), torch.rand(2, 1, 15, 13))
    assert int(adv.adam_step) == 1  # no step outside training


def test_the_discriminators_adam_is_torchs_adam_and_lives_in_the_state_dict():
    """Three steps of the written-out Adam against torch.optim.Adam on the same discriminator and data; the
    moments and the step are buffers, so a state dict carries them to a fresh term that then steps alike."""
    torch.manual_seed(0)
    disc = PatchDiscriminator(1, width=4, layers=2)
    twin = PatchDiscriminator(1, width=4, layers=2)
    twin.load_state_dict(disc.state_dict())
    adv = AdversarialLoss(disc, lr=1e-2)
    opt = torch.optim.Adam(twin.parameters(), lr=1e-2, betas=(0.5, 0.999))
    g = torch.Generator().manual_seed(1)
    data = [(torch.rand(2, 1, 11, 9, generator=g), torch.rand(2, 1, 11, 9, generator=g)) for _ in range(4)]
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    for fake, real in data[:3]:
        adv.discriminator_step(fake, real)
        r, f = twin(real), twin(fake)
        opt.zero_grad()
        (bce(r, torch.ones_like(r)) + bce(f, torch.zeros_like(f))).backward()
        opt.step()
    for a, b in zip(disc.parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    state = adv.state_dict()
    assert {"adam_step", "exp_avg_0", "exp_avg_sq_0", "discriminator.body.0.weight"} <= set(state)
    torch.manual_seed(5)
    fresh = AdversarialLoss(PatchDiscriminator(1, width=4, layers=2), lr=1e-2)
    fresh.load_state_dict(state)
    adv.discriminator_step(*data[3])
    fresh.discriminator_step(*data[3])
    assert all(torch.equal(a, b) for a, b in zip(adv.state_dict().values(), fresh.state_dict().values()))


def test_adversarial_weight_in_a_run(tmp_path, crops):
    cfg = config(out=str(tmp_path / "run"), data=str(crops), depth=3, width=8, adversarial_weight=1e-3,
                 **{**TINY, "epochs": 1, "steps_per_epoch": 3})
    result = run(cfg, progress=False, log=quiet, evaluate_after=False)
    assert math.isfinite(result.history[0]["train_loss"])
    state = torch.load(result.run_dir / "checkpoints" / "last_state.pt", weights_only=True)
    assert int(state["loss"]["adversarial.adam_step"]) == 3


def test_image_loss_adds_the_weighted_adversarial_term():
    torch.manual_seed(0)
    p, t = torch.rand(1, 1, 12, 12), torch.rand(1, 1, 12, 12)
    adv = AdversarialLoss(PatchDiscriminator(1, width=4, layers=2)).eval()  # eval: no discriminator step
    assert float(ImageLoss(RestorationLoss("l1"), adv, 0.5)(p, t)) == pytest.approx(
        float(l1_loss(p, t)) + 0.5 * float(adv(p, t)), rel=1e-6)


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


# --- defaults by operator --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw, patch, sigma", [
    (dict(), 40, 25.0),  # DnCNN's 40 x 40, the DnCNN benchmark's noise
    (dict(model="unet", depth=4), 40, 25.0),
    (dict(model="vdsr", operator="downsample", scale=3), 42, 0.0),  # a multiple of the scale; noise-free bicubic
    (dict(model="post", operator="downsample", scale=4), 40, 0.0),
    (dict(model="srcnn", operator="downsample", scale=7), 42, 0.0),
    (dict(model="unet", patch=48, operator="blur"), 48, 2.0),  # a given patch is kept
    (dict(operator="ct", sigma=0.0), 40, 0.0),  # a given sigma is kept, 0 included
    (dict(sigma_range=(0.0, 55.0)), 40, 25.0),  # blind: the level evaluated
    (dict(sigma_range=(0.0, 55.0), sigma=50.0), 40, 50.0),
])
def test_defaults_by_operator(kw, patch, sigma):
    cfg = config(**kw)
    assert (cfg.patch, cfg.sigma) == (patch, sigma)


def test_the_default_measurement_is_x3_and_its_own():
    a, b = RestorationConfig(), RestorationConfig()
    assert a.measurement.scale == 3 and a.measurement is not b.measurement


# --- configuration errors -----------------------------------------------------------------------------------
BAD_CONFIGS = [
    (dict(operator="dehaze"), "operator"),
    (dict(model="resnet"), "model='resnet' is not known; use one of dncnn, srcnn, vdsr, post, unet, unrolled"),
    (dict(regime="weak"), "regime"),
    (dict(operator="denoise", regime="measurements"), "degenerate"),
    (dict(operator="denoise", splitting="r2r"), "measurements regime"),
    (dict(regime="measurements", operator="blur", splitting="n2v"), "splitting"),
    (dict(regime="measurements", operator="blur", splitting="r2r", sigma_range=(1.0, 5.0)), "one known noise"),
    (dict(regime="measurements", operator="blur", splitting="r2r", sigma=0.0), "one known noise"),
    (dict(model="post", operator="denoise"), "post"),
    (dict(model="unrolled", regime="pairs"), "unrolled"),
    (dict(operator="mri", regime="pairs"), "pairs"),
    (dict(operator="downsample", patch=25, scale=3), "multiple"),
    (dict(operator="downsample", scale=1), "scale=1"),
    (dict(sigma=-1.0), "sigma"),
    (dict(sigma=float("nan")), "sigma"),
    (dict(sigma_range=(40.0, 10.0)), "sigma_range"),
    (dict(patch=8), "SSIM"),
    (dict(size=9, operator="ct"), "SSIM"),
    (dict(channels=2), "channels"),
    (dict(depth=1), "depth"),
    (dict(width=0), "width"),
    (dict(iterations=2.5), "iterations"),
    (dict(figure_count=-1), "figure_count"),
    (dict(val_fraction=1.0), "val_fraction"),
    (dict(r2r_alpha=0.0), "r2r_alpha"),
    (dict(huber_delta=0.0), "huber_delta"),
    (dict(tv_weight=-1.0), "tv_weight"),
    (dict(adversarial_weight=-1e-3), "adversarial_weight"),
    (dict(operator="blur", regime="measurements", adversarial_weight=1e-3), "adversarial"),
    (dict(data="phantoms", channels=3), "grey"),
    (dict(batch_size=0), "batch_size"),
    (dict(lr=0.0), "lr"),
    (dict(minutes=-1.0), "minutes"),
    (dict(protocol="mean"), "protocol"),
    (dict(loss="l3"), "loss"),
    (dict(up="nearest"), "up"),
    (dict(tv_lambda="best"), "tv_lambda"),
    (dict(tv_lambda=-1.0), "tv_lambda"),
    (dict(tv_tol=-1e-6), "tv_tol"),
    (dict(tv_tune_images=0), "tv_tune_images"),
]


@pytest.mark.parametrize("bad, words", BAD_CONFIGS, ids=[w[:40] for _, w in BAD_CONFIGS])
def test_bad_config(bad, words, tmp_path):
    with pytest.raises(PixelwiseError, match=re.escape(words)):
        config(out=str(tmp_path / "never"), **bad)
    assert not (tmp_path / "never").exists()


def _pairs_without_targets(folder):
    write_image(folder / "input" / "a.png", to_uint8(sample("camera", size=32)))


def _pairs_of_other_names(folder):
    write_image(folder / "input" / "a.png", to_uint8(sample("camera", size=32)))
    write_image(folder / "target" / "b.png", to_uint8(sample("camera", size=32)))


def _small_images(folder):
    write_image(folder / "a.png", to_uint8(sample("camera", size=16)))


# (how the data folder is made, settings, words): refused by run() before anything is written
BAD_DATA = [
    (None, dict(data="/no/such/folder"), "not a folder"),
    (lambda folder: folder.mkdir(), dict(), "no images"),
    (_small_images, dict(patch=24), "smaller than the 24-pixel patch"),
    (_pairs_without_targets, dict(regime="pairs"), "target"),
    (_pairs_of_other_names, dict(regime="pairs"), "same names"),
]


@pytest.mark.parametrize("make, settings, words", BAD_DATA, ids=[w for _, _, w in BAD_DATA])
def test_bad_data_fails_before_writing(make, settings, words, tmp_path):
    data = tmp_path / "data"
    if make is not None:
        make(data)
    out = tmp_path / "run"
    with pytest.raises(PixelwiseError, match=words):
        run(config(**{"out": str(out), "data": str(data), **settings}), progress=False, log=quiet)
    assert not out.exists()


@pytest.mark.parametrize("channels_in_file", [1, 3])
def test_sr_protocol_scores_a_grey_file_on_its_grey_levels(tmp_path, channels_in_file):
    """A one-channel test file is its own Y (as MATLAB scores Set14's grey images); only an RGB file goes through
    BT.601 (16 + 65.481 R + 128.553 G + 24.966 B) / 255, whose range 16..235 would inflate a grey file's PSNR."""
    from pixelwise.metrics.image import rgb_to_y
    from pixelwise.tasks.restore.data import read_clean

    g = torch.Generator().manual_seed(0)
    grey = torch.randint(0, 256, (1, 18, 21), generator=g).to(torch.uint8)
    pixels = grey.expand(channels_in_file, -1, -1) if channels_in_file == 3 else grey
    write_image(tmp_path / "x.png", pixels.permute(1, 2, 0).squeeze(-1).numpy())
    cfg = config(operator="downsample", channels=1)
    got = read_clean(cfg, tmp_path / "x.png")
    as_unit = grey.double() / 255
    expected = as_unit if channels_in_file == 1 else rgb_to_y(as_unit.expand(3, -1, -1), 1.0)
    torch.testing.assert_close(got.double(), expected, atol=1e-6, rtol=0)
    if channels_in_file == 1:  # the grey file's PSNR against itself plus noise is not the Y copy's
        assert got.min() < 16 / 255 or got.max() > 235 / 255

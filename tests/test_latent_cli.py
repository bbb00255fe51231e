"""The latent recipe and ``pixelwise latent`` end to end on the bundled 8x8 digits, tiny budgets: every model
learns, the run folder's rules (refusals, strict resume, other data in evaluations/), the aggregate of the
per-image errors, and bitwise kill-and-resume in every stage (autoencoder, VQ-VAE, its prior)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from latent_runs import AdamSteps, same_run

from pixelwise.cli import main
from pixelwise.data.imagesets import load_image_set
from pixelwise.errors import PixelwiseError
from pixelwise.metrics import summarise
from pixelwise.tasks.latent import MODELS, LatentConfig, load_run, run
from pixelwise.train.checkpoint import load_state
from pixelwise.train.files import read_csv

pytest.importorskip("sklearn")

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one intra-op thread is faster

AUTOENCODERS = [name for name in MODELS if name not in ("gan", "wgan")]


def _quiet(_msg: str) -> None:
    pass


@pytest.mark.slow
@pytest.mark.parametrize("model", AUTOENCODERS)
def test_every_model_learns_on_digits(tmp_path, model):
    """Each model's validation MSE improves over a few epochs on 400 digits (d = 6)."""
    config = LatentConfig(data="digits", out=str(tmp_path / model), model=model, latent_dim=6, max_images=400,
                          epochs=6, lr=3e-3, batch_size=32, base=8, hidden=64, grid_size=4, prior_epochs=2,
                          prior_channels=8, prior_layers=2)
    result = run(config, progress=False, log=_quiet)
    first, last = result.history[0]["val_mse"], min(h["val_mse"] for h in result.history)
    assert last < 0.9 * first, (first, last)
    m = result.metrics
    assert m["n_cases"] == 40 and m["metrics"]["mse"]["mean"] > 0 and m["pca"]["components"] >= 1
    files = {p.name for p in (tmp_path / model).iterdir()}
    assert {"config.json", "split.json", "history.csv", "metrics.json", "per_case.csv", "report.html",
            "checkpoints", "plots"} <= files
    assert (tmp_path / model / "plots" / "reconstructions.png").is_file()
    if model == "vae":
        assert m["metrics"]["kl"]["mean"] > 0 and (tmp_path / model / "plots" / "interpolation.png").is_file()
    if model == "dae":  # the denoiser removes part of the noise it was trained on
        assert m["metrics"]["denoised_mse"]["mean"] < m["metrics"]["noisy_mse"]["mean"]
    if model == "vqvae":
        assert 1 <= m["codes"]["perplexity"] <= config.num_codes
        assert isinstance(m["codes"]["restarted_in_training"], int)


def test_metrics_are_the_aggregate_of_the_per_image_errors(tmp_path):
    """metrics.json["metrics"][key] is summarise() of per_case.csv's column (seeded by the run's seed), for each
    per-image error; the interval holds the mean."""
    config = LatentConfig(data="digits", out=str(tmp_path / "r"), model="vae", latent_dim=3, max_images=150,
                          epochs=1, batch_size=32, base=4, seed=3)
    metrics = run(config, progress=False, log=_quiet).metrics
    rows = read_csv(tmp_path / "r" / "per_case.csv")
    assert len(rows) == metrics["n_cases"] == 15
    for key in ("mse", "bce", "kl", "pca_mse"):
        expected = summarise([row[key] for row in rows], seed=3)
        assert metrics["metrics"][key] == pytest.approx(expected, rel=1e-6), key
        assert expected["ci_low"] <= expected["mean"] <= expected["ci_high"]
    assert metrics["metrics"]["random_decode_nearest_train_mse"]["n"] == 64


def test_run_is_reproducible_and_anomaly_split_holds_the_class_out(tmp_path):
    kw = dict(data="digits", model="convae", latent_dim=4, max_images=300, epochs=2, batch_size=32, base=8,
              anomaly_class=7)
    a = run(LatentConfig(out=str(tmp_path / "a"), **kw), progress=False, log=_quiet)
    b = run(LatentConfig(out=str(tmp_path / "b"), **kw), progress=False, log=_quiet)
    assert a.metrics["metrics"] == b.metrics["metrics"]
    split = json.loads((tmp_path / "a" / "split.json").read_text())
    labels = load_image_set("digits").labels
    keep = np.sort(np.random.default_rng(0).permutation(len(labels))[:300])
    labels = labels[keep]
    assert not any(labels[i] == 7 for i in split["train"] + split["val"])
    assert any(labels[i] == 7 for i in split["test"])
    anomaly = a.metrics["anomaly"]
    assert 0 <= anomaly["roc_auc"] <= 1
    assert anomaly["n_positive"] == sum(labels[i] == 7 for i in split["test"])
    assert (tmp_path / "a" / "plots" / "anomaly_maps.png").is_file()
    config, model = load_run(tmp_path / "a")
    assert config.image_shape == [1, 8, 8] and config.classes == 10 and not model.training


@pytest.mark.parametrize("kwargs,words", [
    ({"model": "gan2"}, "use one of ae, convae, vae, dae, sparse, cae, vqvae, gan, wgan"),
    ({"latent_dim": 0}, "latent_dim"), ({"latent_dim": 2.5}, "latent_dim"), ({"recon": "l1"}, "recon"),
    ({"rho": 1.5}, "rho"), ({"split": (0.9, 0.0, 0.1)}, "validation"), ({"split": (0.5, 0.5)}, "three fractions"),
    ({"split": (0.9, 0.1, 0.0)}, "test"), ({"beta": -1.0}, "beta"), ({"beta": float("nan")}, "beta"),
    ({"corruption": "blur"}, "corruption"), ({"corruption": "masking", "noise": 2.0}, "probability"),
    ({"max_images": 2}, "max_images"), ({"false_positive_rate": 0.0}, "false_positive_rate"),
    ({"prior_share": 1.0}, "prior_share"), ({"prior_layers": 0}, "prior_layers"), ({"prior_lr": -1.0}, "prior_lr"),
    ({"prior_epochs": 0}, "prior_epochs"), ({"model": "vqvae", "num_codes": 1}, "num_codes"),
    ({"lr": 0.0}, "lr"), ({"lr": float("inf")}, "lr"), ({"betas": (0.9, 1.0)}, "betas"), ({"size": 0}, "size"),
    ({"schedule": "linear"}, "schedule"), ({"batch_size": 0}, "batch_size"), ({"n_critic": 0}, "n_critic"),
    ({"model": "gan", "anomaly_class": 3}, "anomaly_class"), ({"epochs": 0}, "epochs"),
])
def test_bad_configs(kwargs, words):
    with pytest.raises(PixelwiseError, match=words.replace("(", r"\(")):
        LatentConfig(**kwargs)


@pytest.mark.parametrize("model,lr,betas,schedule", [
    ("convae", 1e-3, (0.9, 0.999), "cosine"), ("vqvae", 1e-3, (0.9, 0.999), "cosine"),
    ("gan", 2e-4, (0.5, 0.999), "constant"), ("wgan", 1e-4, (0.0, 0.9), "constant"),
])
def test_loop_defaults_depend_on_the_model_and_given_values_win(model, lr, betas, schedule):
    config = LatentConfig(model=model)
    assert (config.lr, config.betas, config.schedule) == (lr, betas, schedule)
    given = LatentConfig(model=model, lr=5e-4, betas=[0.1, 0.2], schedule="onecycle")  # JSON gives lists
    assert (given.lr, given.betas, given.schedule) == (5e-4, (0.1, 0.2), "onecycle")


def test_prior_epochs_default_follows_the_budget():
    assert LatentConfig().prior_epochs == 30 and LatentConfig(minutes=1.0).prior_epochs == 1000
    assert LatentConfig(minutes=1.0, prior_epochs=4).prior_epochs == 4


@pytest.mark.parametrize("kwargs,words", [
    ({"anomaly_class": 12}, "no image has label"),
    ({"data": "NOPE"}, "neither"),
    ({"model": "convae", "data": "TINY"}, "too small for the conv model"),
    ({"data": "TWO"}, "too few"),
])
def test_bad_data_writes_nothing(tmp_path, kwargs, words):
    np.savez(tmp_path / "tiny.npz", images=np.zeros((20, 3, 3), np.uint8))
    np.savez(tmp_path / "two.npz", images=np.zeros((2, 8, 8), np.uint8))
    paths = {"NOPE": str(tmp_path / "nope"), "TINY": str(tmp_path / "tiny.npz"), "TWO": str(tmp_path / "two.npz")}
    kwargs = {k: paths.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()}
    config = LatentConfig(**{"max_images": 50, **kwargs, "out": str(tmp_path / "r")})
    with pytest.raises(PixelwiseError, match=words):
        run(config, progress=False, log=_quiet)
    assert not (tmp_path / "r").exists()  # nothing written before the data checks pass


def test_cli_train_eval_sample(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["latent", "train", "--model", "vae", "--data", "digits", "--latent-dim", "2",
                 "--epochs", "2", "--max-images", "200", "--base", "8", "--out", str(out), "--quiet",
                 "--anomaly-class", "0"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "vae" and "anomaly" in metrics
    assert (out / "plots" / "latent.png").is_file()
    assert json.loads((out / "config.json").read_text())["_recipe"] == "latent"
    assert main(["latent", "eval", "--run", str(out), "--quiet"]) == 0
    assert json.loads((out / "metrics.json").read_text()) == metrics  # the same checkpoint, the same numbers
    assert main(["latent", "sample", "--run", str(out), "-n", "5", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").is_file()
    # existing run folder: one sentence, exit code 2
    code = main(["latent", "train", "--data", "digits", "--out", str(out), "--quiet"])
    assert code == 2 and "already exists" in capsys.readouterr().err
    # a run's config.json is a valid --config (derived settings recomputed)
    assert main(["latent", "train", "--config", str(out / "config.json"), "--out", str(tmp_path / "again"),
                 "--quiet"]) == 0
    assert json.loads((tmp_path / "again" / "metrics.json").read_text())["metrics"] == metrics["metrics"]


def test_eval_on_other_data_never_replaces_the_runs_own_results(tmp_path):
    """latent eval --data OTHER (and --which last) write to RUN/evaluations/NAME (or --out); the run's own
    metrics.json, per_case.csv and report.html stay byte for byte."""
    out = tmp_path / "run"
    run(LatentConfig(data="digits", out=str(out), model="ae", latent_dim=3, max_images=120, epochs=2, batch_size=32,
                     hidden=16), progress=False, log=_quiet)
    own = {name: (out / name).read_bytes() for name in ("metrics.json", "per_case.csv", "report.html")}
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "other.npz", images=rng.integers(0, 256, (7, 8, 8)).astype(np.uint8))
    assert main(["latent", "eval", "--run", str(out), "--data", str(tmp_path / "other.npz"), "--quiet"]) == 0
    assert main(["latent", "eval", "--run", str(out), "--which", "last", "--quiet"]) == 0
    assert main(["latent", "eval", "--run", str(out), "--data", str(tmp_path / "other.npz"), "--out",
                 str(tmp_path / "mine"), "--quiet"]) == 0
    assert {name: (out / name).read_bytes() for name in own} == own
    other = json.loads((out / "evaluations" / "other.npz" / "metrics.json").read_text())
    assert other["n_cases"] == 7 and other["source"] == str((tmp_path / "other.npz").resolve())
    assert (out / "evaluations" / "test-last" / "report.html").is_file()
    assert json.loads((tmp_path / "mine" / "metrics.json").read_text())["metrics"] == other["metrics"]
    np.savez(tmp_path / "big.npz", images=np.zeros((3, 9, 9), np.uint8))
    with pytest.raises(PixelwiseError, match="training size"):
        from pixelwise.tasks.latent import evaluate

        evaluate(out, str(tmp_path / "big.npz"), log=_quiet)


@pytest.mark.slow
def test_cli_vqvae_prior_train_eval_sample(tmp_path, capsys):
    """A VQ-VAE run fits its PixelCNN prior afterwards (safetensors in prior/), reports bits per code against
    the baselines, and `latent sample` decodes code maps drawn from it: the same images for the same seed."""
    out = tmp_path / "vq"
    assert main(["latent", "train", "--model", "vqvae", "--data", "digits", "--latent-dim", "4", "--num-codes", "16",
                 "--epochs", "3", "--prior-epochs", "3", "--prior-layers", "2", "--max-images", "300", "--base", "8",
                 "--batch-size", "32", "--out", str(out), "--quiet"]) == 0
    assert (out / "prior" / "checkpoints" / "best.safetensors").is_file()
    assert len(read_csv(out / "prior" / "history.csv")) == 3
    metrics = json.loads((out / "metrics.json").read_text())
    prior = metrics["prior"]
    assert prior["uniform_bits_per_code"] == pytest.approx(4.0)  # K = 16
    assert metrics["metrics"]["prior_bits_per_code"]["mean"] < prior["uniform_bits_per_code"]
    assert metrics["random_decodes"]["codes"] == "PixelCNN prior"
    assert "uniform_decode_nearest_train_mse" in metrics["metrics"]
    assert main(["latent", "eval", "--run", str(out), "--quiet"]) == 0
    pngs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        pngs[name] = tmp_path / f"{name}.png"
        assert main(["latent", "sample", "--run", str(out), "-n", "6", "--seed", str(seed), "--out",
                     str(pngs[name]), "--quiet"]) == 0
    assert pngs["a"].read_bytes() == pngs["b"].read_bytes() != pngs["c"].read_bytes()
    # a VQ-VAE run without its prior refuses to sample uniform codes: one sentence, exit code 2
    shutil.rmtree(out / "prior")
    capsys.readouterr()
    assert main(["latent", "sample", "--run", str(out), "-n", "2", "--out", str(tmp_path / "d.png")]) == 2
    assert "no code prior" in capsys.readouterr().err


def test_vqvae_minutes_are_shared_with_the_prior_and_resume_keeps_the_prior(tmp_path):
    """--minutes covers both stages: the VQ-VAE's loop gets (1 - share) of it, the prior's the share (the
    loops' saved configs say so). Resuming a finished run continues (does not refit) the prior."""
    config = LatentConfig(data="digits", out=str(tmp_path / "r"), model="vqvae", latent_dim=3, num_codes=8,
                          max_images=150, epochs=1, prior_epochs=2, minutes=0.5, prior_share=0.25, base=8,
                          batch_size=32, prior_channels=8, prior_layers=2)
    first = run(config, progress=False, log=_quiet)
    vq_state = load_state(tmp_path / "r" / "checkpoints" / "last_state.pt")
    prior_state = load_state(tmp_path / "r" / "prior" / "checkpoints" / "last_state.pt")
    assert vq_state["config"]["minutes"] == pytest.approx(0.375)
    assert prior_state["config"]["minutes"] == pytest.approx(0.125)
    history = (tmp_path / "r" / "prior" / "history.csv").read_text()  # holds each epoch's measured seconds
    resumed = run(config, resume=True, progress=False, log=_quiet)
    assert (tmp_path / "r" / "prior" / "history.csv").read_text() == history
    assert resumed.metrics["prior"] == first.metrics["prior"]
    assert resumed.metrics["metrics"]["prior_bits_per_code"] == first.metrics["metrics"]["prior_bits_per_code"]


@pytest.mark.parametrize("argv,words", [
    (["latent", "train", "--model", "transformer", "--out", "X"], "not known"),
    (["latent", "train", "--data", "nowhere-data", "--out", "X"], "neither"),
    (["latent", "train", "--split", "0.5,0.5", "--out", "X"], "three fractions"),
    (["latent", "train", "--threads", "0", "--out", "X"], "threads"),
    (["latent", "train", "--model", "wgan", "--batch-size", "1", "--out", "X"], "--batch-size=1"),
    (["latent", "train", "--resume", "--out", "X"], "cannot resume"),
    (["latent", "train", "--resume", "--overwrite", "--out", "X"], "contradict"),
    (["latent", "train", "--config", "X", "--out", "X"], "does not exist"),
    (["latent", "eval", "--run", "no-such-run"], "does not exist"),
    (["latent", "eval", "--run", "no-such-run", "--which", "last"], "does not exist"),
    (["latent", "sample", "--run", "no-such-run"], "does not exist"),
    (["latent", "sample", "--run", "no-such-run", "-n", "0"], "-n 0"),
    (["latent", "sample", "--run", "no-such-run", "--out", "X"], "image type"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, words):
    argv = [str(tmp_path / a) if a in ("X", "no-such-run") else a for a in argv]
    try:
        code = main(argv)
    except SystemExit as usage:  # argparse's own usage errors (a bad --threads) leave through SystemExit(2)
        code = usage.code
    assert code == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


def test_a_folder_of_another_command_is_refused(tmp_path, capsys):
    (tmp_path / "seg").mkdir()
    (tmp_path / "seg" / "config.json").write_text(json.dumps({"_recipe": "segment", "data": "x"}))
    assert main(["latent", "eval", "--run", str(tmp_path / "seg")]) == 2
    assert "pixelwise segment" in capsys.readouterr().err


def test_resume_is_strict_and_extends_the_budget(tmp_path):
    kw = dict(data="digits", out=str(tmp_path / "r"), model="ae", latent_dim=3, max_images=120, batch_size=32,
              hidden=16)
    first = run(LatentConfig(epochs=2, **kw), progress=False, log=_quiet)
    assert len(first.history) == 2
    # a finished run resumes to the same state
    resumed = run(LatentConfig(epochs=2, **kw), resume=True, progress=False, log=_quiet)
    assert resumed.history == first.history and resumed.metrics == first.metrics
    with pytest.raises(PixelwiseError, match="latent_dim=4"):  # a changed setting, refused by name
        run(LatentConfig(epochs=2, **{**kw, "latent_dim": 4}), resume=True, progress=False, log=_quiet)
    longer = run(LatentConfig(epochs=3, **kw), resume=True, progress=False, log=_quiet)
    assert len(longer.history) == 3 and longer.history[:2] == first.history


# --- kill and resume: bitwise in deterministic mode -------------------------------------------------------
def _tiny(model: str, out, **kw) -> LatentConfig:
    return LatentConfig(data="digits", out=str(out), model=model, latent_dim=3, max_images=120, epochs=3,
                        batch_size=32, base=4, num_codes=8, prior_epochs=3, prior_channels=4, prior_layers=2,
                        deterministic=True, **kw)


# 3 steps per epoch in every stage; a kill inside epoch e resumes at epoch e (the last commit is e - 1)
@pytest.mark.slow
@pytest.mark.parametrize("model,kill_at,steps_after,stages", [
    ("convae", 5, 6, ("",)),  # inside the second epoch: epochs 2 and 3 again
    ("vae", 8, 3, ("",)),  # the reparameterisation draws from the global torch generator
    ("vqvae", 5, 6 + 9, ("", "prior")),  # inside the VQ-VAE's second epoch: resumed, then the whole prior
    ("vqvae", 9 + 5, 6, ("", "prior")),  # inside the prior's second epoch: the prior resumed, not refitted
])
def test_kill_and_resume_is_bitwise(tmp_path, monkeypatch, model, kill_at, steps_after, stages):
    whole = run(_tiny(model, tmp_path / "whole"), progress=False, log=_quiet)
    assert sum(row["steps"] for row in whole.history) == 9
    steps = AdamSteps(monkeypatch, interrupt_at=kill_at)
    with pytest.raises(KeyboardInterrupt):
        run(_tiny(model, tmp_path / "cut"), progress=False, log=_quiet)
    assert not (tmp_path / "cut" / "metrics.json").exists()
    run(_tiny(model, tmp_path / "cut"), resume=True, progress=False, log=_quiet)
    assert steps.n == steps_after
    same_run(tmp_path / "whole", tmp_path / "cut", stages)

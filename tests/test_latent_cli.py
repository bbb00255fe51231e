"""The autoencoding recipe and ``pixelwise latent`` end to end on the bundled 8x8 digits, tiny budgets."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from pixelwise.cli import main
from pixelwise.errors import PixelwiseError
from pixelwise.tasks.autoencoding import MODEL_BUILDERS, LatentConfig, load_run, run
from pixelwise.train.checkpoint import load_state
from pixelwise.train.runs import read_csv

pytest.importorskip("sklearn")


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one intra-op thread is faster


def _quiet(_msg: str) -> None:
    pass


@pytest.mark.parametrize("model", list(MODEL_BUILDERS))
def test_every_model_learns_on_digits(tmp_path, model):
    """Each model's validation MSE improves over a few epochs on 400 digits (d = 6)."""
    config = LatentConfig(data="digits", out=str(tmp_path / model), model=model, latent_dim=6, max_images=400,
                          epochs=6, lr=3e-3, batch_size=32, base=8, hidden=64, grid_size=4, prior_epochs=2,
                          prior_channels=8, prior_layers=2)
    result = run(config, progress=False, log=_quiet)
    first, last = result.history[0]["val_mse"], min(h["val_mse"] for h in result.history)
    assert last < 0.9 * first, (first, last)
    m = result.metrics
    assert m["n_test"] == 40 and m["test_mse"] > 0 and m["pca"]["components"] >= 1
    files = {p.name for p in (tmp_path / model).iterdir()}
    assert {"config.json", "split.json", "history.csv", "metrics.json", "per_case.csv", "report.html",
            "checkpoints", "plots"} <= files
    assert (tmp_path / model / "plots" / "reconstructions.png").is_file()
    if model == "vae":
        assert m["test_kl"] > 0 and (tmp_path / model / "plots" / "interpolation.png").is_file()
    if model == "dae":  # the denoiser removes part of the noise it was trained on
        assert m["denoising"]["output_mse"] < m["denoising"]["input_mse"]
    if model == "vqvae":
        assert 1 <= m["test_perplexity"] <= config.num_codes
        assert isinstance(m["codes_restarted_in_training"], int)


def test_run_is_reproducible_and_anomaly_split_holds_the_class_out(tmp_path):
    kw = dict(data="digits", model="convae", latent_dim=4, max_images=300, epochs=2, batch_size=32, base=8,
              anomaly_class=7)
    a = run(LatentConfig(out=str(tmp_path / "a"), **kw), progress=False, log=_quiet)
    b = run(LatentConfig(out=str(tmp_path / "b"), **kw), progress=False, log=_quiet)
    assert a.metrics["test_mse"] == b.metrics["test_mse"]
    config, _, split = load_run(tmp_path / "a")
    from pixelwise.data.imagesets import load_image_set

    labels = load_image_set("digits").labels
    keep = np.sort(np.random.default_rng(0).permutation(len(labels))[:300])
    labels = labels[keep]
    assert not any(labels[i] == 7 for i in split["train"] + split["val"])
    assert any(labels[i] == 7 for i in split["test"])
    anomaly = a.metrics["anomaly"]
    assert 0 <= anomaly["roc_auc"] <= 1
    assert anomaly["n_positive"] == sum(labels[i] == 7 for i in split["test"])
    assert (tmp_path / "a" / "plots" / "anomaly_maps.png").is_file()


@pytest.mark.parametrize("kwargs,words", [
    ({"model": "gan2"}, "not known"), ({"latent_dim": 0}, "latent_dim"), ({"recon": "l1"}, "recon"),
    ({"rho": 1.5}, "rho"), ({"split": (0.9, 0.0, 0.1)}, "validation"), ({"beta": -1.0}, "beta"),
    ({"corruption": "blur"}, "corruption"), ({"corruption": "masking", "noise": 2.0}, "probability"),
    ({"max_images": 2}, "max_images"), ({"false_positive_rate": 0.0}, "false_positive_rate"),
    ({"prior_share": 1.0}, "prior_share"), ({"prior_layers": 0}, "prior_layers"), ({"prior_lr": -1.0}, "prior_lr"),
])
def test_bad_configs(kwargs, words):
    with pytest.raises(PixelwiseError, match=words):
        LatentConfig(**kwargs)


def test_bad_anomaly_class_and_data(tmp_path):
    with pytest.raises(PixelwiseError, match="no image has label"):
        run(LatentConfig(out=str(tmp_path / "r"), anomaly_class=12, max_images=50), progress=False,
            log=_quiet)
    assert not (tmp_path / "r").exists()  # nothing written before the data checks pass
    with pytest.raises(PixelwiseError, match="neither"):
        run(LatentConfig(data=str(tmp_path / "nope"), out=str(tmp_path / "r")), progress=False, log=_quiet)


def test_cli_train_eval_sample(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["latent", "train", "--model", "vae", "--data", "digits", "--latent-dim", "2",
                 "--epochs", "2", "--max-images", "200", "--base", "8", "--out", str(out), "--quiet",
                 "--anomaly-class", "0"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "vae" and "anomaly" in metrics
    assert (out / "plots" / "latent.png").is_file()
    assert main(["latent", "eval", "--run", str(out)]) == 0
    assert main(["latent", "sample", "--run", str(out), "-n", "5", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").is_file()
    # existing run folder: one sentence, exit code 2
    code = main(["latent", "train", "--data", "digits", "--out", str(out), "--quiet"])
    assert code == 2 and "already exists" in capsys.readouterr().err


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
    assert prior["test_bits_per_code"] < prior["uniform_bits_per_code"]
    assert metrics["random_decodes"]["codes"] == "PixelCNN prior"
    assert "uniform_codes_nearest_train_mse" in metrics["random_decodes"]
    assert main(["latent", "eval", "--run", str(out)]) == 0
    pngs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        pngs[name] = tmp_path / f"{name}.png"
        assert main(["latent", "sample", "--run", str(out), "-n", "6", "--seed", str(seed), "--out",
                     str(pngs[name])]) == 0
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


@pytest.mark.parametrize("argv,words", [
    (["latent", "train", "--model", "transformer", "--out", "X"], "not known"),
    (["latent", "train", "--data", "nowhere-data", "--out", "X"], "neither"),
    (["latent", "train", "--split", "0.5,0.5", "--out", "X"], "three fractions"),
    (["latent", "train", "--threads", "0", "--out", "X"], "threads"),
    (["latent", "eval", "--run", "no-such-run"], "not a latent run folder"),
    (["latent", "sample", "--run", "no-such-run"], "not a latent run folder"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, words):
    argv = [str(tmp_path / a) if a in ("X", "no-such-run") else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


def test_resume_from_the_run_folder(tmp_path):
    kw = dict(data="digits", out=str(tmp_path / "r"), model="ae", latent_dim=3, max_images=120, batch_size=32,
              hidden=16)
    first = run(LatentConfig(epochs=2, **kw), progress=False, log=_quiet)
    assert len(first.history) == 2
    # fit resumes an interrupted run up to its planned length; a finished run resumes to the same state
    resumed = run(LatentConfig(epochs=2, **kw), resume=True, progress=False, log=_quiet)
    assert resumed.history == first.history
    assert resumed.metrics["test_mse"] == first.metrics["test_mse"]

"""The DDPM recipe (``pixelwise.tasks.diffuse``) and ``pixelwise diffuse train | sample`` end to end on the
bundled 8x8 digits: reproducibility, the run folder's files and refusals, the per-sample metrics and their
aggregates, and bitwise kill-and-resume in deterministic mode."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from pixelwise.cli import main
from pixelwise.diffusion import NoiseSchedule, sample
from pixelwise.errors import DataError, PixelwiseError
from pixelwise.metrics import summarise
from pixelwise.tasks.diffuse import DiffusionConfig, evaluate, generate, load_run, run, sample_cases
from pixelwise.train.checkpoint import load_state
from pixelwise.train.files import read_csv

pytest.importorskip("sklearn")

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one intra-op thread is faster

TINY = dict(data="digits", T=20, base=8, mults=(1, 2), max_images=160, epochs=3, batch_size=32, lr=3e-3)


def quiet(message: str) -> None:
    pass


def test_recipe_trains_samples_and_is_reproducible(tmp_path):
    a = run(DiffusionConfig(out=str(tmp_path / "a"), n_samples=6, **TINY), progress=False, log=quiet)
    assert a.history[-1]["val_loss"] < a.history[0]["val_loss"]
    assert a.history[0]["val_loss"] < 1.2  # epsilon MSE starts near 1 (the noise variance)
    for name in ("config.json", "split.json", "history.csv", "metrics.json", "per_case.csv", "report.html"):
        assert (tmp_path / "a" / name).is_file()
    assert (tmp_path / "a" / "plots" / "samples.png").is_file()
    saved = json.loads((tmp_path / "a" / "config.json").read_text())
    assert saved["_recipe"] == "diffuse" and saved["image_shape"] == [1, 8, 8] and saved["classes"] == 0
    assert a.metrics["n_samples"] == 6 and 0 <= a.metrics["metrics"]["mean_intensity"]["mean"] <= 1
    images = generate(tmp_path / "a", 3, seed=5)
    assert images.shape == (3, 1, 8, 8) and images.min() >= 0 and images.max() <= 1
    np.testing.assert_array_equal(images, generate(tmp_path / "a", 3, seed=5))
    posterior = generate(tmp_path / "a", 3, seed=5, variance="posterior")  # the sampler's sigma_t^2 overridden
    config, net = load_run(tmp_path / "a")
    x = sample(net, NoiseSchedule.named(config.noise_schedule, config.T), (3, *config.image_shape),
               torch.Generator().manual_seed(5), "posterior", config.clip_x0)
    np.testing.assert_array_equal(posterior, ((x.clamp(-1, 1) + 1) / 2).numpy())
    assert not np.array_equal(posterior, images)
    with pytest.raises(PixelwiseError, match="variance"):
        generate(tmp_path / "a", 3, variance="learned")
    b = run(DiffusionConfig(out=str(tmp_path / "b"), n_samples=6, **TINY), progress=False, log=quiet)
    assert a.history[-1]["val_loss"] == b.history[-1]["val_loss"]
    assert a.metrics["metrics"] == b.metrics["metrics"]  # the same samples, the same aggregates
    last = generate(tmp_path / "a", 3, seed=5, which="last")  # the same draw from the last epoch's average
    best_is_last = min(range(3), key=lambda i: a.history[i]["val_loss"]) == 2
    assert np.array_equal(last, images) == best_is_last


def test_metrics_are_the_aggregates_of_the_per_sample_rows(tmp_path):
    result = run(DiffusionConfig(out=str(tmp_path / "r"), n_samples=5, **TINY), progress=False, log=quiet)
    rows = read_csv(tmp_path / "r" / "per_case.csv")
    assert [r["sample"] for r in rows] == [0, 1, 2, 3, 4]
    for name in ("nearest_train_mse", "mean_intensity", "pixel_std"):
        values = np.array([r[name] for r in rows])
        summary = result.metrics["metrics"][name]
        assert summary["n"] == 5 and summary["mean"] == pytest.approx(values.mean())
        assert summary["median"] == pytest.approx(np.median(values))
        assert summary["ci_low"] <= summary["mean"] <= summary["ci_high"]
        assert summary == pytest.approx(summarise(values, seed=0))
        assert result.metrics["reference"]["metrics"][name]["n"] == 5  # as many held-out images as samples
    before = (tmp_path / "r" / "metrics.json").read_bytes()
    other = evaluate(tmp_path / "r", "last", progress=False, log=quiet)  # data read again, split checked
    assert other["checkpoint"] == "last"
    assert (tmp_path / "r" / "evaluations" / "samples-last" / "metrics.json").is_file()
    assert (tmp_path / "r" / "metrics.json").read_bytes() == before  # the run's own results stay


@pytest.mark.parametrize("images,label,expected", [
    # train: an all-0 and an all-1 2x2 image. 0.25 everywhere: nearest is all-0, MSE 0.0625; no spread
    (np.full((1, 1, 2, 2), 0.25), None, (0.0625, 0.25, 0.0)),
    # a checkerboard of 0 and 1 is 0.5 from both; its pixels have mean 0.5 and std 0.5
    (np.array([[[[0.0, 1.0], [1.0, 0.0]]]]), None, (0.5, 0.5, 0.5)),
    # 0.9 everywhere: nearest is all-1, MSE 0.01; the class asked for is kept
    (np.full((1, 1, 2, 2), 0.9), np.array([7]), (0.01, 0.9, 0.0)),
])
def test_sample_cases_by_hand(images, label, expected):
    train = np.stack([np.zeros((1, 2, 2)), np.ones((1, 2, 2))]).astype(np.float32)
    row = sample_cases(images.astype(np.float32), train, label)[0]
    assert (row["nearest_train_mse"], row["mean_intensity"], row["pixel_std"]) == pytest.approx(expected, abs=1e-6)
    assert row["sample"] == 0 and row.get("label") == (None if label is None else 7)


@pytest.mark.parametrize("kwargs,words", [
    ({"T": 0}, "T="), ({"T": 2.5}, "T=2.5"), ({"noise_schedule": "sigmoid"}, "noise_schedule"),
    ({"schedule": "linear"}, "--noise-schedule linear"), ({"variance": "learned"}, "variance"),
    ({"mults": ()}, "mults"), ({"mults": (1, 0)}, "mults=(1, 0)"), ({"split": (1.0, 0.0)}, "split"),
    ({"split": (0.5, 0.3, 0.2)}, "split"), ({"clip_x0": 0.0}, "clip_x0"), ({"max_images": 1}, "max_images"),
    ({"size": 1}, "size=1"), ({"n_samples": 0}, "n_samples=0"), ({"data": ""}, "data"),
    ({"ema": 1.0}, "ema="), ({"min_snr": 0.0}, "min_snr="), ({"min_snr": -5.0}, "min_snr="),
    ({"min_snr": float("inf")}, "min_snr="), ({"attention": -1}, "attention="),
    ({"attention": 5, "base": 8, "mults": (1, 2)}, "divides the 16 channels"), ({"batch_size": 0}, "batch_size=0"),
    ({"grad_clip": -1.0}, "grad_clip=-1"), ({"lr": 0.0}, "lr=0"), ({"epochs": 0}, "epochs=0"),
    ({"guidance": float("nan"), "conditional": True}, "guidance=nan"), ({"snr": 0.0}, "snr=0"),
])
def test_bad_configs(kwargs, words):
    with pytest.raises(PixelwiseError, match=words.replace("(", r"\(").replace(")", r"\)")):
        DiffusionConfig(**kwargs)


def test_defaults_are_the_recipe_s():
    c = DiffusionConfig()
    assert (c.epochs, c.batch_size, c.grad_clip, c.ema, c.T, c.noise_schedule, c.n_samples) == (
        30, 64, 1.0, 0.999, 200, "cosine", 64)
    assert c.fit_config(ema=c.ema).grad_clip == 1.0 and DiffusionConfig(minutes=1.0).epochs == 1000


def test_cli_train_and_sample(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["diffuse", "train", "--data", "digits", "--T", "10", "--base", "8", "--mults", "1,2",
                 "--epochs", "1", "--max-images", "64", "--samples", "4", "--out", str(out), "--quiet",
                 "--attention", "2", "--threads", "1"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["T"] == 10 and metrics["metrics"]["nearest_train_mse"]["n"] == 4
    config = json.loads((out / "config.json").read_text())
    assert config["attention"] == 2 and config["n_samples"] == 4 and config["mults"] == [1, 2]
    capsys.readouterr()
    assert main(["diffuse", "sample", "--run", str(out), "-n", "3", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").is_file() and np.load(tmp_path / "s.npy").shape == (3, 1, 8, 8)
    assert "sampling" in capsys.readouterr().err  # the progress bar over the 10 steps
    assert main(["diffuse", "sample", "--run", str(out), "-n", "3", "--which", "last", "--quiet",
                 "--out", str(tmp_path / "q.png")]) == 0
    assert capsys.readouterr().err == ""  # --quiet: no bar
    np.testing.assert_array_equal(np.load(tmp_path / "q.npy"), generate(out, 3, which="last"))
    again = tmp_path / "again"  # the run's config.json is a valid --config: the same run again
    assert main(["diffuse", "train", "--config", str(out / "config.json"), "--out", str(again), "--quiet"]) == 0
    assert read_csv(again / "history.csv")[0]["val_loss"] == read_csv(out / "history.csv")[0]["val_loss"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished tiny run, for refusals that need one."""
    out = tmp_path_factory.mktemp("trained") / "run"
    run(DiffusionConfig(data="digits", out=str(out), T=10, base=8, mults=(1, 2), max_images=64, epochs=1,
                        batch_size=32, n_samples=2), progress=False, log=quiet)
    return out


def _other_commands_run(root):
    folder = root / "segment_run"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"_recipe": "segment", "data": str(root)}))
    return folder


@pytest.mark.parametrize("argv,words", [
    (["diffuse", "train", "--mults", "1,x", "--out", "X"], "--mults"),
    (["diffuse", "train", "--T", "0", "--out", "X"], "T=0"),
    (["diffuse", "train", "--ema", "2", "--out", "X"], "ema=2"),
    (["diffuse", "train", "--min-snr", "0", "--out", "X"], "--min-snr=0"),
    (["diffuse", "train", "--schedule", "linear", "--out", "X"], "--noise-schedule linear"),
    (["diffuse", "train", "--threads", "0", "--out", "X"], "number of threads"),
    (["diffuse", "train", "--config", "BOGUS", "--out", "X"], "does not know: beta_schedule"),
    (["diffuse", "train", "--config", "OTHER", "--out", "X"], "not `pixelwise diffuse`"),
    (["diffuse", "train", "--out", "RUN", "--resume", "--T", "12"], "T=12 (saved 10)"),
    (["diffuse", "train", "--out", "RUN", "--resume", "--noise-schedule", "linear"], "noise_schedule='linear'"),
    (["diffuse", "train", "--out", "RUN", "--T", "12"], "--overwrite"),
    (["diffuse", "train", "--out", "X", "--resume"], "cannot resume"),
    (["diffuse", "sample", "--run", "X"], "does not exist"),
    (["diffuse", "sample", "--run", "RUN", "-n", "0"], "-n 0"),
    (["diffuse", "sample", "--run", "OTHERRUN"], "not `pixelwise diffuse`"),
    (["diffuse", "sample", "--run", "RUN", "--steps", "11"], "1..10"),
    (["diffuse", "sample", "--run", "RUN", "--label", "1"], "unconditional DDPM"),
])
def test_cli_bad_input(trained, tmp_path, capsys, argv, words):
    bogus = tmp_path / "bogus.toml"
    bogus.write_text('T = 10\nbeta_schedule = "linear"\n')
    other = _other_commands_run(tmp_path)
    places = {"X": str(tmp_path / "new"), "RUN": str(trained), "BOGUS": str(bogus), "OTHER": str(other / "config.json"),
              "OTHERRUN": str(other)}
    before = {p: p.read_bytes() for p in trained.rglob("*") if p.is_file()}
    try:
        code = main([places.get(a, a) for a in argv])
    except SystemExit as exit_:  # argparse's own usage errors leave through SystemExit(2)
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err
    assert not (tmp_path / "new").exists()
    assert {p: p.read_bytes() for p in trained.rglob("*") if p.is_file()} == before  # the run untouched


def test_resume_extends_a_run_and_refuses_changed_data(tmp_path):
    """The split is computed again from the data on --resume: other images give another split, refused before
    anything is written; the same images continue the run (here to a second epoch)."""
    rng, data, out = np.random.default_rng(0), tmp_path / "d.npz", tmp_path / "run"
    np.savez(data, images=rng.integers(0, 256, (20, 8, 8), dtype=np.uint8))
    kw = dict(data=str(data), out=str(out), T=5, base=4, mults=(1, 2), batch_size=8, n_samples=2)
    run(DiffusionConfig(epochs=1, **kw), progress=False, log=quiet)
    original = data.read_bytes()
    np.savez(data, images=rng.integers(0, 256, (24, 8, 8), dtype=np.uint8))
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(DataError, match="no longer gives the split"):
        run(DiffusionConfig(epochs=2, **kw), resume=True, progress=False, log=quiet)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    with pytest.raises(PixelwiseError, match=r"T=6 \(saved 5\)"):
        run(DiffusionConfig(epochs=2, **{**kw, "T": 6}), resume=True, progress=False, log=quiet)
    data.write_bytes(original)
    resumed = run(DiffusionConfig(epochs=2, **kw), resume=True, progress=False, log=quiet)
    assert [row["epoch"] for row in resumed.history] == [1, 2]
    assert json.loads((out / "config.json").read_text())["epochs"] == 2


def test_min_snr_training_weights_the_loss_and_still_learns(tmp_path):
    """``min_snr`` trains with the weighted objective: the same data and seed give a different run than the
    plain objective (the weights are not all 1 at T = 20), it learns, and validation stays the plain epsilon
    MSE (so the two runs' val_loss are comparable)."""
    plain = run(DiffusionConfig(out=str(tmp_path / "plain"), n_samples=2, **TINY), progress=False, log=quiet)
    weighted = run(DiffusionConfig(out=str(tmp_path / "w"), min_snr=5.0, n_samples=2, **TINY), progress=False,
                   log=quiet)
    assert weighted.history[-1]["val_loss"] < weighted.history[0]["val_loss"]
    assert weighted.history[0]["train_loss"] < plain.history[0]["train_loss"]  # weights <= 1, some < 1
    assert abs(weighted.history[-1]["val_loss"] - plain.history[-1]["val_loss"]) < 0.2
    assert json.loads((tmp_path / "w" / "config.json").read_text())["min_snr"] == 5.0


def test_weighted_mse_by_hand():
    from pixelwise.tasks.diffuse import epsilon_mse, weighted_epsilon_mse

    pred = torch.tensor([[[[1.0, 3.0]]], [[[0.0, 2.0]]]])  # (2, 1, 1, 2)
    eps = torch.zeros_like(pred)
    # per-sample means of squares: (1 + 9) / 2 = 5 and (0 + 4) / 2 = 2
    assert weighted_epsilon_mse(pred, (eps, torch.tensor([1.0, 1.0]))).item() == pytest.approx(
        epsilon_mse(pred, eps).item())
    assert weighted_epsilon_mse(pred, (eps, torch.tensor([0.5, 1.0]))).item() == pytest.approx((0.5 * 5 + 2) / 2)


# --- kill and resume --------------------------------------------------------------------------------------


class _Interrupt:
    """Raise KeyboardInterrupt once, at the ``at``-th optimizer step (a kill inside an epoch) or the ``at``-th
    write of last.safetensors (a kill after an epoch's state is committed, before its derived files)."""

    def __init__(self, monkeypatch, where: str, at: int):
        self.where, self.at, self.calls = where, at, 0
        if where == "step":
            self.handle = register_optimizer_step_pre_hook(lambda *args: self.count())
        else:
            import pixelwise.train.loop as loop

            write = loop.save_weights

            def save_weights(weights, path, *rest):
                if str(path).endswith("last.safetensors"):
                    self.count()
                write(weights, path, *rest)

            monkeypatch.setattr(loop, "save_weights", save_weights)
            self.handle = None

    def count(self) -> None:
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt

    def remove(self) -> None:
        if self.handle is not None:
            self.handle.remove()


def _history_without_seconds(folder):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in read_csv(folder / "history.csv")]


@pytest.mark.parametrize("variant", [{}, {"conditional": True, "guidance": 1.0}, {"min_snr": 5.0}],
                         ids=["plain", "conditional", "min-snr"])
@pytest.mark.parametrize("where,at", [("step", 5), ("write", 2)], ids=["inside-epoch-2", "writing-epoch-2"])
def test_kill_and_resume_is_bitwise_the_uninterrupted_run(tmp_path, monkeypatch, variant, where, at):
    kw = dict(data="digits", T=10, base=4, mults=(1, 2), max_images=64, epochs=3, batch_size=16, n_samples=2,
              deterministic=True, **variant)  # 58 training images: 3 steps an epoch
    straight = run(DiffusionConfig(out=str(tmp_path / "a"), **kw), progress=False, log=quiet)
    interrupt = _Interrupt(monkeypatch, where, at)
    try:
        with pytest.raises(KeyboardInterrupt):
            run(DiffusionConfig(out=str(tmp_path / "b"), **kw), progress=False, log=quiet)
    finally:
        interrupt.remove()
    monkeypatch.undo()
    assert load_state(tmp_path / "b" / "checkpoints" / "last_state.pt")["epoch"] == (0 if where == "step" else 1)
    resumed = run(DiffusionConfig(out=str(tmp_path / "b"), **kw), resume=True, progress=False, log=quiet)
    a, b = tmp_path / "a" / "checkpoints", tmp_path / "b" / "checkpoints"
    for name in ("last.safetensors", "best.safetensors"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    raw_a, raw_b = load_state(a / "last_state.pt")["model"], load_state(b / "last_state.pt")["model"]
    assert raw_a.keys() == raw_b.keys() and all(torch.equal(raw_a[k], raw_b[k]) for k in raw_a)
    assert _history_without_seconds(tmp_path / "a") == _history_without_seconds(tmp_path / "b")
    assert len(resumed.history) == 3 and resumed.metrics["metrics"] == straight.metrics["metrics"]

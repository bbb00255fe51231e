import numpy as np
import pytest
import torch

from pixelwise.errors import NonFiniteLossError, PixelwiseError
from pixelwise.train import FitConfig, fit, load_weights, save_weights
from pixelwise.train.checkpoint import load_state
from pixelwise.train.files import read_csv
from pixelwise.train.loop import _plan
from pixelwise.train.schedule import learning_rate


def regression_problem(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    return x, y


def make_batches(x, y, bs=8, interrupt_at=None):
    def batches(epoch, generator):
        if interrupt_at is not None and epoch == interrupt_at:
            raise KeyboardInterrupt
        order = torch.randperm(len(x), generator=generator)
        for s in range(0, len(x), bs):
            idx = order[s:s + bs]
            yield x[idx], y[idx]
    return batches


def validator(x, y):
    return lambda model: {"val_loss": torch.nn.functional.mse_loss(model(x), y).item()}


def config(**kw):
    base = dict(epochs=4, lr=0.05, monitor="val_loss", mode="min", progress=False, seed=3)
    return FitConfig(**{**base, **kw})


def test_fit_learns_and_writes_checkpoints(tmp_path):
    x, y = regression_problem()
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    before = validator(x, y)(model)["val_loss"]
    result = fit(model, torch.nn.functional.mse_loss, make_batches(x, y), 8, validator(x, y), config(epochs=6, lr=0.2),
                 tmp_path,
                 log=lambda s: None)
    assert len(result.history) == 6 and result.stopped == "epochs"
    assert result.history[-1]["val_loss"] < before / 10
    for f in ("last.safetensors", "best.safetensors", "last_state.pt"):
        assert (tmp_path / "checkpoints" / f).is_file()
    rows = read_csv(tmp_path / "history.csv")
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5, 6]
    best = torch.nn.Linear(3, 1)
    load_weights(best, tmp_path / "checkpoints" / "best.safetensors")
    assert validator(x, y)(best)["val_loss"] == pytest.approx(min(r["val_loss"] for r in rows), rel=1e-5)


def test_resume_reproduces_an_uninterrupted_run(tmp_path):
    x, y = regression_problem()
    torch.manual_seed(0)
    straight = torch.nn.Linear(3, 1)
    fit(straight, torch.nn.functional.mse_loss, make_batches(x, y), 8, validator(x, y), config(), tmp_path / "a",
        log=lambda s: None)
    torch.manual_seed(0)
    broken = torch.nn.Linear(3, 1)
    with pytest.raises(KeyboardInterrupt):
        fit(broken, torch.nn.functional.mse_loss, make_batches(x, y, interrupt_at=2), 8, validator(x, y), config(),
            tmp_path / "b", log=lambda s: None)
    resumed = torch.nn.Linear(3, 1)
    result = fit(resumed, torch.nn.functional.mse_loss, make_batches(x, y), 8, validator(x, y), config(),
                 tmp_path / "b", resume=True, log=lambda s: None)
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4]
    torch.testing.assert_close(resumed.weight, straight.weight)
    torch.testing.assert_close(resumed.bias, straight.bias)


@pytest.mark.parametrize("minutes, epochs", [(10.0, 4), (1e-6, 2)], ids=["room-for-more", "budget-spent"])
def test_resume_with_a_budget_plans_again_when_the_saved_plan_is_used_up(tmp_path, minutes, epochs):
    """A finished run resumed with a time budget trains on only if at least one more epoch fits in it."""
    x, y = regression_problem()
    torch.manual_seed(0)
    fit(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, make_batches(x, y), 8, validator(x, y),
        config(epochs=2), tmp_path, log=lambda s: None)
    lines = []
    result = fit(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, make_batches(x, y), 8, validator(x, y),
                 config(epochs=4, minutes=minutes), tmp_path, resume=True, log=lines.append)
    assert [r["epoch"] for r in result.history] == list(range(1, epochs + 1))
    assert lines[0].startswith("resuming at epoch 3 of 4" if epochs == 4 else "nothing to resume"), lines[0]


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(tmp_path):
    x, y = regression_problem()
    model = torch.nn.Linear(3, 1)
    calls = {"n": 0}

    def exploding(out, target):
        calls["n"] += 1
        loss = torch.nn.functional.mse_loss(out, target)
        return loss * float("nan") if calls["n"] > 12 else loss  # NaN in the second epoch

    with pytest.raises(NonFiniteLossError, match="epoch 2.*last good checkpoint"):
        fit(model, exploding, make_batches(x, y), 8, validator(x, y), config(), tmp_path, log=lambda s: None)
    kept = torch.nn.Linear(3, 1)
    load_weights(kept, tmp_path / "checkpoints" / "last.safetensors")
    assert torch.isfinite(kept.weight).all()


def test_early_stopping():
    x, y = regression_problem()
    model = torch.nn.Linear(3, 1)
    # lr so small that the monitored value barely moves: the "improvement" test uses a strict comparison,
    # so a constant metric stops after `patience` epochs
    result = fit(model, torch.nn.functional.mse_loss, make_batches(x, y), 8, lambda m: {"val_loss": 1.0},
                 config(epochs=20, patience=2), None, log=lambda s: None)
    assert result.stopped == "early_stopping" and len(result.history) == 3


def test_time_budget_stops_early(tmp_path):
    x, y = regression_problem(n=32)
    model = torch.nn.Linear(3, 1)

    def slow_validate(m):
        import time
        time.sleep(0.3)
        return {"val_loss": 1.0}

    result = fit(model, torch.nn.functional.mse_loss, make_batches(x, y), 4, slow_validate,
                 config(epochs=1000, minutes=1.5 / 60), None, log=lambda s: None)
    assert result.stopped == "budget"
    assert 2 <= len(result.history) <= 6 and result.seconds < 3.0


@pytest.mark.parametrize("remaining,step,step_s,val_s,spe,max_steps,expected", [
    (100, 0, 1.0, 0.0, 10, 500, 99),  # 100 s of 1 s steps, one step of slack
    (100, 0, 1.0, 10.0, 10, 500, 49),  # each 10-step epoch costs 20 s with its validation
    (100, 40, 1.0, 0.0, 10, 60, 60),  # capped by the epoch limit
    (0.5, 40, 1.0, 0.0, 10, 600, 41),  # out of time: one more step at least
])
def test_plan(remaining, step, step_s, val_s, spe, max_steps, expected):
    assert _plan(remaining, step, step_s, val_s, spe, max_steps) == expected


def test_budget_can_end_inside_the_first_epoch():
    import time

    x, y = regression_problem(n=400)

    def slow_loss(out, target):
        time.sleep(0.02)
        return torch.nn.functional.mse_loss(out, target)

    result = fit(torch.nn.Linear(3, 1), slow_loss, make_batches(x, y, bs=1), 400, validator(x, y),
                 config(epochs=3, minutes=1.0 / 60), None, log=lambda s: None)
    # a whole epoch takes at least 400 x 0.02 = 8 s: the 1 s budget must cut it short (after the 4 steps
    # that the first plan measures), however slow the machine is
    assert len(result.history) == 1 and result.stopped == "budget"
    assert 4 <= result.history[0]["steps"] < 400 and result.seconds < 6.0


@pytest.mark.parametrize("kind,step,total,expected", [
    ("constant", 5, 10, 1.0), ("cosine", 0, 10, 1.0), ("cosine", 5, 10, 0.5), ("cosine", 10, 10, 0.0),
    ("onecycle", 0, 10, 1 / 25), ("onecycle", 3, 10, 1.0), ("onecycle", 10, 10, 1e-4),
])
def test_learning_rate_schedules(kind, step, total, expected):
    assert learning_rate(kind, 1.0, step, total) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("kw,match", [(dict(epochs=0), "epochs"), (dict(lr=-1), "lr"), (dict(minutes=0), "minutes"),
                                      (dict(schedule="step"), "schedule"), (dict(patience=0), "patience"),
                                      (dict(betas=(0.9, 1.0)), "betas"), (dict(ema=1.0), "ema"),
                                      (dict(ema=-0.1), "ema")])
def test_bad_fit_config(kw, match):
    with pytest.raises(PixelwiseError, match=match):
        FitConfig(**kw)


def test_weights_that_do_not_fit_are_one_sentence(tmp_path):
    save_weights(torch.nn.Linear(3, 1), tmp_path / "w.safetensors")
    with pytest.raises(PixelwiseError, match="do not fit this model"):
        load_weights(torch.nn.Linear(4, 1), tmp_path / "w.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(PixelwiseError, match="cannot read weights"):
        load_weights(torch.nn.Linear(3, 1), tmp_path / "bad.safetensors")


def test_ema_follows_the_recursion_of_the_raw_weights(tmp_path):
    """The saved average equals theta_ema_k = d_k theta_ema_{k-1} + (1 - d_k) theta_k, recomputed by hand from
    the raw weights seen at every step, with d_k = min(ema, (1 + k) / (10 + k)) and theta_ema_0 = theta_0."""
    x, y = regression_problem()
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    trajectory = []  # the raw weights before every step, then the final ones

    def batches(epoch, generator):
        for xb, yb in make_batches(x, y)(epoch, generator):
            trajectory.append(torch.cat([model.weight.detach().flatten(), model.bias.detach()]).clone())
            yield xb, yb

    fit(model, torch.nn.functional.mse_loss, batches, 8, validator(x, y), config(epochs=3, lr=0.1, ema=0.9), tmp_path,
        log=lambda s: None)
    trajectory.append(torch.cat([model.weight.detach().flatten(), model.bias.detach()]).clone())
    expected = trajectory[0].clone()
    for k, theta in enumerate(trajectory[1:], start=1):  # theta = raw weights after step k
        d = min(0.9, (1 + k) / (10 + k))
        expected = d * expected + (1 - d) * theta
    averaged, raw = torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    load_weights(averaged, tmp_path / "checkpoints" / "last.safetensors")
    raw.load_state_dict(load_state(tmp_path / "checkpoints" / "last_state.pt")["model"])  # the raw weights
    torch.testing.assert_close(torch.cat([averaged.weight.flatten(), averaged.bias]), expected)
    torch.testing.assert_close(torch.cat([raw.weight.flatten(), raw.bias]), trajectory[-1])
    assert not torch.allclose(expected, trajectory[-1])  # the average really differs from the last iterate


def test_ema_resume_reproduces_an_uninterrupted_run(tmp_path):
    x, y = regression_problem()
    runs = {}
    for name, interrupt in (("a", None), ("b", 2)):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        try:
            fit(model, torch.nn.functional.mse_loss, make_batches(x, y, interrupt_at=interrupt), 8, validator(x, y),
                config(ema=0.8), tmp_path / name, log=lambda s: None)
        except KeyboardInterrupt:
            model = torch.nn.Linear(3, 1)
            fit(model, torch.nn.functional.mse_loss, make_batches(x, y), 8, validator(x, y), config(ema=0.8),
                tmp_path / name, resume=True, log=lambda s: None)
        runs[name] = torch.nn.Linear(3, 1)
        load_weights(runs[name], tmp_path / name / "checkpoints" / "last.safetensors")
    torch.testing.assert_close(runs["b"].weight, runs["a"].weight)
    torch.testing.assert_close(runs["b"].bias, runs["a"].bias)


@pytest.mark.slow
def test_compiled_training_follows_the_plain_one(tmp_path):
    """``compile=True`` trains the same parameters through torch.compile: the same losses and weights as the
    plain loop up to float reassociation (a small conv net, so inductor fuses real kernels)."""
    torch.manual_seed(0)
    x, y = torch.randn(32, 2, 9, 11), torch.randn(32, 1, 9, 11)
    runs = {}
    for compile_ in (False, True):
        torch.manual_seed(1)
        model = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.GELU(),
                                    torch.nn.Conv2d(4, 1, 3, padding=1))
        result = fit(model, torch.nn.functional.mse_loss, make_batches(x, y), 4, lambda m: {"val_loss": 0.0},
                     config(epochs=2, lr=0.01, compile=compile_), log=lambda s: None)
        runs[compile_] = ([row["train_loss"] for row in result.history], torch.nn.utils.parameters_to_vector(
            model.parameters()).detach())
    np.testing.assert_allclose(runs[True][0], runs[False][0], rtol=1e-4)
    torch.testing.assert_close(runs[True][1], runs[False][1], rtol=1e-4, atol=1e-5)
    assert runs[True][0][1] < runs[True][0][0]  # and it learns


@pytest.mark.parametrize("kind", ["cosine", "onecycle", "constant"])
def test_warmup_ramps_linearly_then_follows_the_schedule(kind):
    for step in (0, 4, 9):  # (step + 1) / 10 of the scheduled rate
        assert learning_rate(kind, 1e-3, step, 100, warmup_steps=10) == pytest.approx(
            (step + 1) / 10 * learning_rate(kind, 1e-3, step, 100))
    for step in (10, 50, 99):
        assert learning_rate(kind, 1e-3, step, 100, warmup_steps=10) == learning_rate(kind, 1e-3, step, 100)


@pytest.mark.parametrize("value", [-1, 2.5])
def test_bad_warmup_is_refused(value):
    with pytest.raises(PixelwiseError, match="warmup_steps"):
        FitConfig(warmup_steps=value)


def test_fit_warms_the_learning_rate_up():
    """8 steps per epoch, 20 warm-up steps, constant schedule: the last step of epoch 1 runs at 8/20 of the
    rate, of epoch 2 at 16/20, then the full rate. A run of 24 steps warms up over a fifth of them (4)."""
    x, y = regression_problem()
    torch.manual_seed(0)
    result = fit(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, make_batches(x, y), 8, validator(x, y),
                 config(epochs=13, lr=0.01, schedule="constant", warmup_steps=20), None, log=lambda s: None)
    assert [r["lr"] for r in result.history][:4] == pytest.approx([0.004, 0.008, 0.01, 0.01])
    short = fit(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, make_batches(x, y, bs=16), 4, validator(x, y),
                config(epochs=6, lr=0.01, schedule="constant", warmup_steps=20), None, log=lambda s: None)
    assert [r["lr"] for r in short.history] == pytest.approx([0.01] * 6)  # 24 steps: warm-up over 4


def test_deterministic_mode_lasts_for_the_loop_only():
    x, y = regression_problem()
    assert not torch.are_deterministic_algorithms_enabled()
    seen = []
    fit(torch.nn.Linear(3, 1), lambda out, t: seen.append(torch.are_deterministic_algorithms_enabled())
        or torch.nn.functional.mse_loss(out, t), make_batches(x, y), 8, validator(x, y),
        config(epochs=1, deterministic=True), log=lambda s: None)
    assert seen and all(seen) and not torch.are_deterministic_algorithms_enabled()


def test_resume_with_a_data_loader_continues_its_shuffling(tmp_path):
    """A DataLoader's own generator is saved with the checkpoint: interrupted and resumed, the run ends with
    exactly the weights of an uninterrupted one."""
    from torch.utils.data import DataLoader, TensorDataset

    x, y = regression_problem()
    final = {}
    for name, stop_at in (("a", None), ("b", 13)):
        calls = [0]

        def loss(out, target, stop_at=stop_at, calls=calls):
            calls[0] += 1
            if calls[0] == stop_at:
                raise KeyboardInterrupt
            return torch.nn.functional.mse_loss(out, target)

        def loader():
            return DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True,
                              generator=torch.Generator().manual_seed(5))

        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        try:
            fit(model, loss, loader(), None, validator(x, y), config(), tmp_path / name, log=lambda s: None)
        except KeyboardInterrupt:
            torch.manual_seed(123)  # whatever the process did since, the checkpoint restores the generators
            model = torch.nn.Linear(3, 1)
            fit(model, loss, loader(), None, validator(x, y), config(), tmp_path / name, resume=True,
                log=lambda s: None)
        final[name] = (tmp_path / name / "checkpoints" / "last.safetensors").read_bytes()
    assert final["a"] == final["b"]


def test_files_after_the_commit_are_rewritten_on_resume(tmp_path, monkeypatch):
    """A kill after the state is written but before best/last: resume restores them from the state."""
    x, y = regression_problem()
    torch.manual_seed(0)
    fit(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, make_batches(x, y), 8, validator(x, y), config(epochs=2),
        tmp_path, log=lambda s: None)
    ckpt = tmp_path / "checkpoints"
    state = load_state(ckpt / "last_state.pt")
    assert state["best_epoch"] == 2  # the loss falls every epoch here, so the last epoch is also the best
    for name in ("best.safetensors", "last.safetensors"):
        (ckpt / name).write_bytes(b"cut short by a kill")
    (tmp_path / "history.csv").unlink()
    fit(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, make_batches(x, y), 8, validator(x, y), config(epochs=2),
        tmp_path, resume=True, log=lambda s: None)  # nothing left to train: only the repair
    for name in ("best.safetensors", "last.safetensors"):
        restored = load_weights(torch.nn.Linear(3, 1), ckpt / name)
        torch.testing.assert_close(restored.state_dict(), state["model"], rtol=0, atol=0)
    assert len(read_csv(tmp_path / "history.csv")) == 2


def test_weights_files_carry_the_epoch_they_hold(tmp_path):
    from pixelwise.train.checkpoint import weights_metadata

    x, y = regression_problem()
    torch.manual_seed(0)
    result = fit(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, make_batches(x, y), 8, validator(x, y),
                 config(epochs=3), tmp_path, log=lambda s: None)
    assert weights_metadata(tmp_path / "checkpoints" / "last.safetensors") == {"epoch": "3"}
    assert weights_metadata(tmp_path / "checkpoints" / "best.safetensors") == {"epoch": str(result.best_epoch)}

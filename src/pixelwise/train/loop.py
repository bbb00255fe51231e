"""A plain training loop: ``fit(model, loss_fn, train_batches, steps_per_epoch, validate, config)``.

No trainer class: :func:`fit` is the whole story. Adam (with optional weight decay), a learning-rate schedule
computed from progress, validation after every epoch, the best checkpoint by a monitored metric, early
stopping, a time budget in minutes, atomic checkpoints and ``resume``.

Batches come from a function ``train_batches(epoch, generator)`` whose randomness all comes from the loop's
``generator`` (what makes runs reproducible), or from any iterable of ``(input, target)`` pairs, such as a
``torch.utils.data.DataLoader`` (its own ``generator``, if it has one, is saved with the checkpoints too).

How a batch becomes gradients is ``backward(forward, loss_fn, x, y) -> loss`` (default: ``loss_fn(forward(x),
y).backward()``): it fills the parameters' ``.grad`` (or sets the weights itself and leaves none, so that the
optimizer's step changes nothing) and returns the batch's loss. DP-SGD, federated averaging and adversarial
training plug in there (:mod:`pixelwise.train.protected`); its randomness must come from the global generator
(which the checkpoints hold) or from the batch.

Optionally an exponential moving average of the weights (``ema``, as used for DDPM by Ho et al. 2020 and
for sampling in most generative models): theta_ema <- d theta_ema + (1 - d) theta after every step, with
the warm-up d_k = min(ema, (1 + k) / (10 + k)) so that early averages are not dominated by the random
initialisation. The average is what is validated and saved as ``last``/``best``.

Time budget: after the first few steps the loop measures the step time and plans how many epochs fit in
the budget (validation included); after each epoch it plans again from the measured epoch time, and it
never starts an epoch it expects to overrun. The schedule is stretched to the planned length.

Checkpoints, after every epoch, in this order: ``last_state.pt`` (everything ``resume`` needs: the weights, the
average, the optimizer, every random generator, the loss's own state and the history; one atomic file, the
commit), then ``best.safetensors`` (when the epoch improved), ``last.safetensors`` and ``history.csv``. A
kill at any moment leaves the last committed epoch whole; ``resume`` rewrites the files after it from the state,
then goes on. In ``deterministic`` mode an interrupted and resumed run ends with exactly the weights and history
of an uninterrupted one (bitwise on a CPU).

Devices and processes: ``config.device`` and ``config.precision`` (:mod:`pixelwise.train.devices`; checkpoints
from CPU copies, the model back where it was after ``fit``), DistributedDataParallel under ``torchrun``
(:mod:`pixelwise.train.distributed`). A ``validate`` with ``device_aware = True`` gets the model on its device,
others a CPU copy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from pixelwise.errors import NonFiniteLossError, PixelwiseError
from pixelwise.train import devices, distributed
from pixelwise.train.allocator import tune_malloc
from pixelwise.train.checkpoint import load_state, save_state, save_weights, weights_of
from pixelwise.train.config import FitConfig
from pixelwise.train.files import write_csv
from pixelwise.train.loop_setup import batch_source, determinism, ema_update, frozen_copy, placed
from pixelwise.train.schedule import learning_rate


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best_value: float = float("nan")
    stopped: str = "epochs"  # "epochs", "budget" or "early_stopping"
    seconds: float = 0.0
    steps: int = 0


@dataclass
class _Loop:
    """What the loop carries from epoch to epoch (and a checkpoint carries across processes)."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    ema: torch.nn.Module | None
    loss_fn: Callable
    loader_generator: torch.Generator | None
    config: FitConfig
    monitor: str
    sign: float
    steps_per_epoch: int
    epoch: int = 0  # the next epoch to train (0-based)
    step: int = 0
    planned_steps: int = 0
    best_score: float = -math.inf
    since_best: int = 0
    best_epoch: int = -1
    history: list = field(default_factory=list)
    seconds_before: float = 0.0
    first_plan_done: bool = False  # a time budget is first planned during the first epoch this process trains
    backward: Callable | None = None  # backward(forward, loss_fn, x, y) -> loss; None: loss_fn(forward(x), y)
    team: distributed.Solo | None = None  # the processes training together (train.distributed), and the device
    scaler: torch.amp.GradScaler | None = None  # float16's loss scaling (train.devices)

    def __post_init__(self):
        self.planned_steps = self.max_steps  # until a time budget plans fewer
        if self.team is not None:
            self.scaler = devices.grad_scaler(self.team.device, self.config.precision)

    @property
    def evaluated(self) -> torch.nn.Module:
        return self.model if self.ema is None else self.ema

    @property
    def max_steps(self) -> int:
        return self.config.epochs * self.steps_per_epoch


def fit(model: torch.nn.Module, loss_fn: Callable, train_batches: Callable | Iterable,
        steps_per_epoch: int | None = None, validate: Callable[[torch.nn.Module], dict] | None = None,
        config: FitConfig | None = None, run_dir: str | Path | None = None, resume: bool = False,
        log: Callable[[str], None] = print, backward: Callable | None = None) -> FitResult:
    """Train ``model`` and return the history.

    Args:
        loss_fn: ``loss_fn(model_output, target) -> scalar``.
        train_batches: ``train_batches(epoch, generator)`` yielding (input, target) pairs for one epoch, all
            its randomness from ``generator``; or an iterable of such pairs (a ``DataLoader``), one pass an epoch.
        steps_per_epoch: the number of batches an epoch yields (default: ``len(train_batches)``).
        validate: ``validate(model) -> {"val_loss": ..., ...}`` (the model is in eval mode, under no_grad);
            None: no validation.
        config: the loop's settings (:class:`FitConfig`). The monitored metric defaults to ``val_loss`` (or
            ``train_loss`` without ``validate``), minimised; a metric not named ``*loss`` is maximised.
        run_dir: where ``checkpoints/`` and ``history.csv`` go (nothing is written if None).
        resume: continue from ``run_dir/checkpoints/last_state.pt``.
        backward: ``backward(forward, loss_fn, x, y) -> loss``, a batch's gradients (see the module docstring).
    """
    from tqdm.auto import tqdm

    config = config or FitConfig()
    epoch_batches, steps_per_epoch, loader_generator = batch_source(train_batches, steps_per_epoch)
    monitor = config.monitor or ("val_loss" if validate is not None else "train_loss")
    mode = config.mode or ("min" if monitor.endswith("loss") else "max")
    tune_malloc()  # freed activations are reused by the next step instead of faulting in again
    ckpt = Path(run_dir) / "checkpoints" if run_dir is not None else None
    with determinism(config.deterministic), placed(model, loss_fn, config, log) as (team, log):
        torch.manual_seed(config.seed)
        loop = _Loop(model, torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.betas,
                                             weight_decay=config.weight_decay),
                     torch.Generator().manual_seed(config.seed), frozen_copy(model) if config.ema else None,
                     loss_fn, loader_generator, config, monitor, 1.0 if mode == "max" else -1.0, steps_per_epoch,
                     team=team, backward=backward)
        if resume:
            _resume(loop, ckpt, run_dir, log)
        # DistributedDataParallel under torchrun (batch norm over the global batch unless local); compiled, it shares
        # model's parameters
        forward = team.wrap(model, global_norm=not config.local_batch_norm)
        forward = devices.compiled(forward, log) if config.compile else forward
        budget = config.minutes * 60 if config.minutes is not None else None
        t0 = time.perf_counter() - loop.seconds_before
        stopped = None
        while loop.step < loop.planned_steps:
            bar = tqdm(total=min(steps_per_epoch, loop.planned_steps - loop.step), disable=not config.progress or
                       not team.main, leave=False, desc=f"epoch {loop.epoch + 1}/{_epochs(loop)}", dynamic_ncols=True)
            t_epoch = time.perf_counter()
            losses, lr = _train_epoch(loop, forward, epoch_batches, bar, budget, t0, ckpt)
            bar.close()
            improved = _end_epoch(loop, validate, losses, lr, t_epoch, budget, t0)
            if ckpt is not None and team.main:
                _save_checkpoint(loop, ckpt, improved, time.perf_counter() - t0)
            log(_epoch_line(loop))
            loop.epoch += 1
            if config.patience is not None and loop.since_best >= config.patience:
                stopped = "early_stopping"
                break
        stopped = stopped or ("budget" if budget is not None and loop.planned_steps < loop.max_steps else "epochs")
    best_value = loop.sign * loop.best_score if loop.best_score > -math.inf else float("nan")
    return FitResult(loop.history, loop.best_epoch, best_value, stopped, time.perf_counter() - t0, loop.step)


def _epoch_line(loop: _Loop) -> str:
    row = loop.history[-1]
    return (f"epoch {row['epoch']}/{_epochs(loop)}: loss {row['train_loss']:.4f} "
            + " ".join(f"{k} {_fmt(v)}" for k, v in row.items() if k.startswith("val_")) + f" ({row['seconds']:.1f}s)")


def _train_epoch(loop: _Loop, forward: Callable, epoch_batches: Callable, bar, budget: float | None, t0: float,
                 ckpt: Path | None) -> tuple[list[float], float]:
    """One epoch of steps (or fewer, when the plan ends inside it); returns the losses and the last lr."""
    config, losses = loop.config, []
    lr = config_lr = config.lr
    loop.model.train()
    t_epoch, t_first = time.perf_counter(), None
    team = loop.team
    for i, batch in enumerate(epoch_batches(loop.epoch, loop.generator)):
        (x, y), share = team.shard(batch)  # this process's rows of the batch, and their weight
        x, y = devices.to_device(x, team.device), devices.to_device(y, team.device)
        warmup = min(config.warmup_steps, loop.planned_steps // 5)  # a short run is not all warm-up
        lr = learning_rate(config.schedule, config_lr, loop.step, loop.planned_steps, warmup_steps=warmup)
        for group in loop.optimizer.param_groups:
            group["lr"] = lr
        with team.guard():
            loop.optimizer.zero_grad(set_to_none=True)
            loss = (loop.backward or _scaled_backward(loop, share))(forward, loop.loss_fn, x, y)
            value = team.mean(loss.item(), share)  # the loss of the whole batch, on every process
            if not math.isfinite(value):
                kept = ckpt / "last.safetensors" if ckpt is not None else None
                note = f"; the last good checkpoint {kept} is kept" if kept is not None and kept.is_file() else ""
                raise NonFiniteLossError(f"the loss became {value} at epoch {loop.epoch + 1}, step {i + 1}{note}; "
                                         f"lower the learning rate (now {config_lr:g}) or check the data.")
            _step(loop)
        loop.step += 1
        if loop.ema is not None:
            ema_update(loop.ema, loop.model, min(config.ema, (1 + loop.step) / (10 + loop.step)))
        losses.append(value)
        bar.update(1)
        last = loop.history[-1].get(loop.monitor) if loop.history else None
        bar.set_postfix(loss=f"{losses[-1]:.4f}", **{loop.monitor: "-" if last is None else _fmt(last)})
        t_first = time.perf_counter() if i == 0 else t_first  # the end of the first step (warm-up, compilation)
        if budget is not None and not loop.first_plan_done and i == min(3, loop.steps_per_epoch - 1):
            # first plan from the measured step time, without the first step when there are others (it warms
            # up, and compiles); validation is guessed at a tenth of an epoch until it is measured
            per_step = (time.perf_counter() - (t_first if i else t_epoch)) / max(i, 1)
            loop.planned_steps = team.agree(_plan(budget - (time.perf_counter() - t0), loop.step, per_step,
                                                  0.1 * per_step * loop.steps_per_epoch, loop.steps_per_epoch,
                                                  loop.max_steps))  # process 0's plan, for all to stop together
            loop.first_plan_done = True
            bar.set_description(f"epoch {loop.epoch + 1}/{_epochs(loop)}")
        if loop.step >= loop.planned_steps or i + 1 >= loop.steps_per_epoch:
            break  # the budget ends inside this epoch, or an iterable longer than steps_per_epoch
    return losses, lr


def _scaled_backward(loop: _Loop, share: float) -> Callable:
    """The plain backward: the loss at the configured precision, its gradient weighted by this process's share of
    the batch (and scaled for float16). A recipe's own ``backward`` (DP-SGD, FedAvg, adversarial) runs in float32
    in one process (their configs refuse the rest)."""

    def backward(forward: Callable, loss_fn: Callable, x, y) -> torch.Tensor:
        with devices.autocast(loop.team.device, loop.config.precision):
            loss = loss_fn(forward(x), y)
        weighted = loss if share == 1.0 else loss * share
        (loop.scaler.scale(weighted) if loop.scaler is not None else weighted).backward()
        return loss

    return backward


def _step(loop: _Loop) -> None:
    """Optional clipping of the unscaled gradient, and the optimizer's step (through float16's scaler)."""
    scaler = loop.scaler
    if loop.config.grad_clip:
        if scaler is not None:
            scaler.unscale_(loop.optimizer)
        torch.nn.utils.clip_grad_norm_(loop.model.parameters(), loop.config.grad_clip)
    if scaler is not None:
        scaler.step(loop.optimizer)
        scaler.update()
    else:
        loop.optimizer.step()


def _end_epoch(loop: _Loop, validate: Callable | None, losses: list[float], lr: float, t_epoch: float,
               budget: float | None, t0: float) -> bool:
    """Validate, append the history row, track the best, re-plan a budget; returns whether the epoch improved."""
    train_seconds = time.perf_counter() - t_epoch
    loop.model.eval()
    loop.team.sync_buffers(loop.evaluated)  # process 0's batch-norm statistics: the ones validated and saved
    with torch.no_grad():
        metrics = loop.team.validate(validate, loop.evaluated) if validate is not None else {}
    epoch_seconds = time.perf_counter() - t_epoch
    row = {"epoch": loop.epoch + 1, "steps": len(losses), "train_loss": sum(losses) / max(len(losses), 1),
           **metrics, "lr": lr, "seconds": round(epoch_seconds, 3)}
    if loop.monitor not in row:
        raise ValueError(f"the monitored metric {loop.monitor!r} is not among {sorted(row)}; set FitConfig.monitor "
                         "to one that validate() returns.")
    loop.history.append(row)
    score = loop.sign * float(row[loop.monitor])
    improved = score > loop.best_score
    if improved:
        loop.best_score, loop.since_best, loop.best_epoch = score, 0, loop.epoch + 1
    else:
        loop.since_best += 1
    if budget is not None and loop.step < loop.planned_steps:
        loop.planned_steps = loop.team.agree(_plan(budget - (time.perf_counter() - t0), loop.step,
                                                   train_seconds / max(len(losses), 1), epoch_seconds - train_seconds,
                                                   loop.steps_per_epoch, loop.max_steps))
    return improved


def _save_checkpoint(loop: _Loop, ckpt: Path, improved: bool, seconds: float) -> None:
    """The state first (the commit), then the files derived from it (see the module docstring)."""
    state = {"model": weights_of(loop.model), "ema": weights_of(loop.ema) if loop.ema is not None else None,
             "loss": _loss_state(loop.loss_fn), "optimizer": devices.to_cpu(loop.optimizer.state_dict()),
             "scaler": loop.scaler.state_dict() if loop.scaler is not None else None,
             "generator": loop.generator.get_state(), "torch_rng": torch.get_rng_state(),
             "loader_generator": loop.loader_generator.get_state() if loop.loader_generator is not None else None,
             "epoch": loop.epoch, "step": loop.step, "planned_steps": loop.planned_steps,
             "best_score": loop.best_score, "since_best": loop.since_best, "best_epoch": loop.best_epoch,
             "history": loop.history, "seconds": seconds, "config": _plain(asdict(loop.config))}
    save_state(state, ckpt / "last_state.pt")
    _write_derived(loop, ckpt, best=improved)


def _write_derived(loop: _Loop, ckpt: Path, best: bool) -> None:
    """best (when the last committed epoch improved) and last, stamped with that epoch, and history.csv."""
    weights, stamp = weights_of(loop.evaluated), {"epoch": str(len(loop.history))}
    if best:
        save_weights(weights, ckpt / "best.safetensors", stamp)
    save_weights(weights, ckpt / "last.safetensors", stamp)
    write_csv(ckpt.parent / "history.csv", loop.history)


def _loss_state(loss_fn) -> dict | None:
    """The state of a loss with parameters or buffers of its own (a discriminator, a step counter), or None."""
    if isinstance(loss_fn, torch.nn.Module) and loss_fn.state_dict():
        return weights_of(loss_fn)
    return None


def _resume(loop: _Loop, ckpt: Path | None, run_dir, log: Callable[[str], None]) -> None:
    """Restore everything from ``last_state.pt``, rewrite the files after the commit, and plan what is left."""
    if ckpt is None:
        raise PixelwiseError("resume needs a run folder with checkpoints.")
    state = load_state(ckpt / "last_state.pt")
    if "model" not in state:
        raise PixelwiseError(f"checkpoint {ckpt / 'last_state.pt'} was written by an older pixelwise and holds no "
                             "weights; start the run again (--overwrite).")
    loop.model.load_state_dict(state["model"])
    if loop.ema is not None:
        loop.ema.load_state_dict(state["ema"] if state["ema"] is not None else state["model"])
    if state.get("loss") is not None and isinstance(loop.loss_fn, torch.nn.Module):
        loop.loss_fn.load_state_dict(state["loss"])
    loop.optimizer.load_state_dict(state["optimizer"])  # its moments move to the parameters' device
    if loop.scaler is not None and state.get("scaler"):
        loop.scaler.load_state_dict(state["scaler"])
    loop.generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    if loop.loader_generator is not None and state.get("loader_generator") is not None:
        loop.loader_generator.set_state(state["loader_generator"])
    loop.epoch, loop.step = state["epoch"] + 1, state["step"]
    loop.best_score, loop.since_best, loop.best_epoch = state["best_score"], state["since_best"], state["best_epoch"]
    loop.history, loop.seconds_before = list(state["history"]), state["seconds"]
    if loop.team.main:  # what a kill may have cut short
        _write_derived(loop, ckpt, best=loop.best_epoch == state["epoch"] + 1)
    _replan_on_resume(loop, state, log)


def _replan_on_resume(loop: _Loop, state: dict, log: Callable[[str], None]) -> None:
    """A fixed number of epochs may be raised on resume; a time budget is planned again from measured steps."""
    config = loop.config
    loop.planned_steps = state["planned_steps"] if config.minutes is not None else loop.max_steps
    done = sum(row["steps"] for row in loop.history)
    if config.minutes is not None and loop.planned_steps <= loop.step < loop.max_steps and done > 0:
        # the saved plan is used up (the run ended by its budget): a larger budget is planned again from the
        # pace measured so far (validation included), if at least one more epoch fits in it
        per_step = sum(row["seconds"] for row in loop.history) / done
        remaining = config.minutes * 60 - loop.seconds_before
        if remaining > per_step * loop.steps_per_epoch:
            loop.planned_steps = _plan(remaining, loop.step, per_step, 0.0, loop.steps_per_epoch, loop.max_steps)
    if loop.step < loop.planned_steps:
        log(f"resuming at epoch {loop.epoch + 1} of {_epochs(loop)}")
    else:
        log(f"nothing to resume: the run has finished its {len(loop.history)} epochs (raise the epochs or the time "
            "budget to train on)")


def _epochs(loop: _Loop) -> int:
    return -(-loop.planned_steps // loop.steps_per_epoch)


def _plan(remaining: float, step: int, step_seconds: float, validation_seconds: float, steps_per_epoch: int,
          max_steps: int) -> int:
    """Total steps so that training, and a validation after every (possibly partial) epoch, end within
    ``remaining`` seconds; at least one more step, at most ``max_steps``."""
    epoch_seconds = step_seconds * steps_per_epoch + validation_seconds
    more = remaining / max(epoch_seconds, 1e-9) * steps_per_epoch  # steps that fit, validations included
    more = int(max(more - 1, 1))  # keep a little slack for the last validation
    return min(max_steps, step + more)


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _plain(d: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}

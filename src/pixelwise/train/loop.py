"""A plain training loop: ``fit(model, loss_fn, train_batches, validate, config)``.

No trainer class: the loop below is the whole story. Adam (with optional weight decay), a learning-rate
schedule computed from progress, validation after every epoch, the best checkpoint by a monitored
metric, early stopping, a time budget in minutes, atomic checkpoints and ``resume``.

Optionally an exponential moving average of the weights (``ema``, as used for DDPM by Ho et al. 2020 and
for sampling in most generative models): theta_ema <- d theta_ema + (1 - d) theta after every step, with
the warm-up d_k = min(ema, (1 + k) / (10 + k)) so that early averages are not dominated by the random
initialisation. The average is what is validated and saved as ``last``/``best``; the raw training weights
go to ``last_train.safetensors`` for ``resume``.

Time budget: after the first few steps the loop measures the step time and plans how many epochs fit in
the budget (validation included); after each epoch it plans again from the measured epoch time, and it
never starts an epoch it expects to overrun. The schedule is stretched to the planned length.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from pixelwise.errors import NonFiniteLossError, PixelwiseError
from pixelwise.train.allocator import tune_malloc
from pixelwise.train.checkpoint import load_state, load_weights, save_state, save_weights
from pixelwise.train.runs import write_csv
from pixelwise.train.schedule import SCHEDULES, learning_rate


@dataclass
class FitConfig:
    epochs: int = 20  # the number of epochs, or the upper bound when ``minutes`` is set
    minutes: float | None = None  # time budget; the loop plans the epochs to end within it
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)  # Adam's; GANs use (0.5, 0.999) after Radford et al. 2016
    schedule: str = "cosine"
    warmup_steps: int = 0  # linear learning-rate warm-up (train.schedule), at most a fifth of the planned steps
    patience: int | None = None  # stop after this many epochs without improvement of ``monitor``
    monitor: str = "val_iou"
    mode: str = "max"  # "max" or "min" for ``monitor``
    seed: int = 0
    deterministic: bool = False
    progress: bool = True
    grad_clip: float | None = None
    ema: float | None = None  # decay of an exponential moving average of the weights, e.g. 0.999; None: off
    compile: bool = False  # train through torch.compile (inductor); validation and checkpoints use the plain model

    def __post_init__(self):
        if self.epochs < 1:
            raise PixelwiseError(f"epochs={self.epochs} must be >= 1.")
        if self.minutes is not None and not self.minutes > 0:
            raise PixelwiseError(f"minutes={self.minutes} must be > 0.")
        if not self.lr > 0:
            raise PixelwiseError(f"lr={self.lr} must be > 0, e.g. 1e-3.")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise PixelwiseError(f"betas={self.betas} must be two numbers in [0, 1), e.g. (0.9, 0.999).")
        self.betas = (float(self.betas[0]), float(self.betas[1]))
        if self.weight_decay < 0:
            raise PixelwiseError(f"weight_decay={self.weight_decay} must be >= 0.")
        if self.schedule not in SCHEDULES:
            raise PixelwiseError(f"schedule={self.schedule!r} is not known; use one of {', '.join(SCHEDULES)}.")
        if int(self.warmup_steps) != self.warmup_steps or self.warmup_steps < 0:
            raise PixelwiseError(f"warmup_steps={self.warmup_steps} must be a whole number >= 0 (0: no warm-up).")
        if self.patience is not None and self.patience < 1:
            raise PixelwiseError(f"patience={self.patience} must be >= 1 (or unset to train to the end).")
        if self.mode not in ("max", "min"):
            raise PixelwiseError(f"mode={self.mode!r} must be 'max' or 'min'.")
        if self.ema is not None and not 0 <= self.ema < 1:
            raise PixelwiseError(f"ema={self.ema} must be a decay in [0, 1), e.g. 0.999 (or unset for none).")


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best_value: float = float("nan")
    stopped: str = "epochs"  # "epochs", "budget" or "early_stopping"
    seconds: float = 0.0
    steps: int = 0


def seed_everything(seed: int, deterministic: bool = False) -> None:
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def fit(model: torch.nn.Module, loss_fn: Callable, train_batches: Callable[[int, torch.Generator], Iterable],
        steps_per_epoch: int, validate: Callable[[torch.nn.Module], dict], config: FitConfig,
        run_dir: str | Path | None = None, resume: bool = False, log: Callable[[str], None] = print) -> FitResult:
    """Train ``model`` and return the history.

    Args:
        loss_fn: ``loss_fn(model_output, target) -> scalar``.
        train_batches: ``train_batches(epoch, generator)`` yields (input, target) pairs for one epoch;
            all its randomness must come from ``generator`` (that is what makes runs reproducible).
        steps_per_epoch: the number of batches it yields.
        validate: ``validate(model) -> {"val_loss": ..., "val_iou": ...}`` (the model is in eval mode).
        run_dir: where ``checkpoints/`` and ``history.csv`` go (none written if None).
        resume: continue from ``run_dir/checkpoints/last_*``.
    """
    from tqdm.auto import tqdm

    tune_malloc()  # freed activations are reused by the next step instead of faulting in again
    seed_everything(config.seed, config.deterministic)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.betas,
                                 weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    ckpt = Path(run_dir) / "checkpoints" if run_dir is not None else None
    sign = 1.0 if config.mode == "max" else -1.0
    result = FitResult()
    max_steps = config.epochs * steps_per_epoch
    start_epoch, step, planned_steps, elapsed_before = 0, 0, max_steps, 0.0
    best_score, since_best = -math.inf, 0
    ema_model = _frozen_copy(model) if config.ema is not None else None

    if resume:
        if ckpt is None:
            raise PixelwiseError("resume needs a run folder with checkpoints.")
        state = load_state(ckpt / "last_state.pt")
        if ema_model is not None:
            load_weights(model, ckpt / "last_train.safetensors")
            load_weights(ema_model, ckpt / "last.safetensors")
        else:
            load_weights(model, ckpt / "last.safetensors")
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        start_epoch, step = state["epoch"] + 1, state["step"]
        # a fixed number of epochs may be raised on resume; a time budget is planned again from measured steps
        planned_steps = state["planned_steps"] if config.minutes is not None else max_steps
        best_score, since_best = state["best_score"], state["since_best"]
        result.history, result.best_epoch = list(state["history"]), state["best_epoch"]
        result.best_value = sign * best_score if best_score > -math.inf else float("nan")
        elapsed_before = state["seconds"]
        done = sum(row["steps"] for row in result.history)
        if config.minutes is not None and planned_steps <= step < max_steps and done > 0:
            # the saved plan is used up (the run ended by its budget): a larger budget is planned again from
            # the pace measured so far (validation included), if at least one more epoch fits in it
            per_step = sum(row["seconds"] for row in result.history) / done
            remaining = config.minutes * 60 - elapsed_before
            if remaining > per_step * steps_per_epoch:
                planned_steps = _plan(remaining, step, per_step, 0.0, steps_per_epoch, max_steps)
        if step < planned_steps:
            log(f"resuming at epoch {start_epoch + 1} of {_epochs(planned_steps, steps_per_epoch)}")
        else:
            log(f"nothing to resume: the run has finished its {len(result.history)} epochs (raise the epochs or "
                "the time budget to train on)")

    forward = _compiled(model, log) if config.compile else model  # shares the parameters of ``model``
    budget = config.minutes * 60 if config.minutes is not None else None
    t0 = time.perf_counter() - elapsed_before
    epoch, validation_seconds, first_plan_done = start_epoch, None, False
    while step < planned_steps:
        model.train()
        t_epoch = time.perf_counter()
        losses = []
        bar = tqdm(total=min(steps_per_epoch, planned_steps - step), disable=not config.progress, leave=False,
                   desc=f"epoch {epoch + 1}/{_epochs(planned_steps, steps_per_epoch)}", dynamic_ncols=True)
        for i, (x, y) in enumerate(train_batches(epoch, generator)):
            warmup = min(config.warmup_steps, planned_steps // 5)  # a short run is not all warm-up
            lr = learning_rate(config.schedule, config.lr, step, planned_steps, warmup_steps=warmup)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = loss_fn(forward(x), y)
            if not torch.isfinite(loss):
                kept = f"; the last good checkpoint {ckpt / 'last.safetensors'} is kept" if ckpt else ""
                raise NonFiniteLossError(f"the loss became {loss.item()} at epoch {epoch + 1}, step {i + 1}{kept}; "
                                         f"lower the learning rate (now {config.lr:g}) or check the data.")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            step += 1
            if ema_model is not None:
                ema_update(ema_model, model, min(config.ema, (1 + step) / (10 + step)))
            losses.append(loss.item())
            bar.update(1)
            last = result.history[-1].get(config.monitor) if result.history else None
            bar.set_postfix(loss=f"{losses[-1]:.4f}", **{config.monitor: "-" if last is None else _fmt(last)})
            if i == 0:
                t_first = time.perf_counter()  # the end of the first step (warm-up, and compilation)
            if budget is not None and not first_plan_done and i == min(3, steps_per_epoch - 1):
                # first plan from the measured step time, without the first step when there are others (it
                # warms up, and compiles); validation is guessed at a tenth of an epoch until it is measured
                per_step = (time.perf_counter() - (t_first if i else t_epoch)) / max(i, 1)
                planned_steps = _plan(budget - (time.perf_counter() - t0), step, per_step,
                                      0.1 * per_step * steps_per_epoch, steps_per_epoch, max_steps)
                first_plan_done = True
                bar.set_description(f"epoch {epoch + 1}/{_epochs(planned_steps, steps_per_epoch)}")
            if step >= planned_steps:
                break  # the budget ends inside this epoch
        bar.close()
        train_seconds = time.perf_counter() - t_epoch
        model.eval()
        evaluated = model if ema_model is None else ema_model
        with torch.no_grad():
            metrics = validate(evaluated)
        epoch_seconds = time.perf_counter() - t_epoch
        validation_seconds = epoch_seconds - train_seconds
        row = {"epoch": epoch + 1, "steps": len(losses), "train_loss": sum(losses) / max(len(losses), 1), **metrics,
               "lr": lr, "seconds": round(epoch_seconds, 3)}
        result.history.append(row)
        score = sign * float(metrics.get(config.monitor, float("nan")))
        improved = score > best_score
        if improved:
            best_score, since_best, result.best_epoch, result.best_value = score, 0, epoch + 1, sign * score
        else:
            since_best += 1
        if budget is not None and step < planned_steps:
            planned_steps = _plan(budget - (time.perf_counter() - t0), step, train_seconds / max(len(losses), 1),
                                  validation_seconds, steps_per_epoch, max_steps)
        if ckpt is not None:
            save_weights(evaluated, ckpt / "last.safetensors")
            if ema_model is not None:
                save_weights(model, ckpt / "last_train.safetensors")
            if improved:
                save_weights(evaluated, ckpt / "best.safetensors")
            save_state({"optimizer": optimizer.state_dict(), "generator": generator.get_state(), "epoch": epoch,
                        "step": step, "planned_steps": planned_steps, "best_score": best_score,
                        "since_best": since_best, "best_epoch": result.best_epoch, "history": result.history,
                        "seconds": time.perf_counter() - t0, "config": _plain(asdict(config))},
                       ckpt / "last_state.pt")
            write_csv(Path(run_dir) / "history.csv", result.history)
        log(f"epoch {epoch + 1}/{_epochs(planned_steps, steps_per_epoch)}: loss {row['train_loss']:.4f} "
            + " ".join(f"{k} {_fmt(v)}" for k, v in metrics.items()) + f" ({epoch_seconds:.1f}s)")
        if config.patience is not None and since_best >= config.patience:
            result.stopped = "early_stopping"
            break
        epoch += 1
    else:
        result.stopped = "budget" if budget is not None and planned_steps < max_steps else "epochs"
    result.seconds, result.steps = time.perf_counter() - t0, step
    return result


def _compiled(model: torch.nn.Module, log: Callable[[str], None]) -> Callable:
    """``torch.compile(model)`` (inductor: fused element-wise kernels around the convolutions). Compilation
    happens at the first step; if it cannot (e.g. no C++ compiler), training falls back to the plain model."""
    compiled = torch.compile(model)

    def forward(x):
        nonlocal compiled
        if compiled is not model:
            try:
                return compiled(x)
            except Exception as error:  # noqa: BLE001 (any backend failure: train uncompiled instead)
                reason = (str(error).splitlines() or [""])[0][:200]
                log(f"torch.compile failed ({type(error).__name__}: {reason}); "
                    "training without it")
                compiled = model
        return model(x)

    return forward


def _frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """theta_ema <- decay * theta_ema + (1 - decay) * theta for every parameter; buffers (e.g. batch-norm
    statistics) are copied."""
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p, 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)


def _epochs(steps: int, steps_per_epoch: int) -> int:
    return -(-steps // steps_per_epoch)


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

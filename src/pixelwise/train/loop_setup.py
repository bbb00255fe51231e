"""What :func:`pixelwise.train.loop.fit` sets up around its steps: the device and processes it trains on, the
source of an epoch's batches, deterministic mode for the loop only, and the moving average of the weights."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable

import torch

from pixelwise.errors import PixelwiseError
from pixelwise.train import devices, distributed
from pixelwise.train.config import FitConfig


@contextlib.contextmanager
def placed(model: torch.nn.Module, loss_fn: Callable, config: FitConfig, log: Callable[[str], None]):
    """``(team, log)``: the processes training together and their device (:mod:`pixelwise.train.distributed`),
    the model and the loss's own state moved there, and the log (silent on processes other than 0). After a
    training that ends well, every process waits for process 0's checkpoints and the model goes back where it
    was."""
    team, home = distributed.join(config.device), devices.device_of(model)
    devices.check_precision(team.device, config.precision)
    model.to(team.device)
    if isinstance(loss_fn, torch.nn.Module):
        loss_fn.to(team.device)
    yield team, (log if team.main else (lambda _line: None))
    team.barrier()  # the checkpoints process 0 wrote are there for every process to read
    model.to(home)


def batch_source(train_batches, steps_per_epoch: int | None):
    """``(epoch_batches(epoch, generator), steps per epoch, the iterable's own generator)``."""
    if callable(train_batches) and not hasattr(train_batches, "__iter__"):
        if steps_per_epoch is None:
            raise ValueError("steps_per_epoch is needed with a batch function; give the number of batches it yields.")
        return train_batches, int(steps_per_epoch), None
    if steps_per_epoch is None:
        try:
            steps_per_epoch = len(train_batches)
        except TypeError:
            raise ValueError("steps_per_epoch is needed for an iterable without len(); give the number of batches "
                             "an epoch yields.") from None
    if steps_per_epoch < 1:
        raise PixelwiseError("the training data gives no batch; add data or lower the batch size.")
    return (lambda epoch, generator: iter(train_batches)), int(steps_per_epoch), getattr(train_batches, "generator",
                                                                                         None)


@contextlib.contextmanager
def determinism(on: bool):
    """``torch.use_deterministic_algorithms`` for the loop only (the process's setting is restored after)."""
    before, warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    if on:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn)


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
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

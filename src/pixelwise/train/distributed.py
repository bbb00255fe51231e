"""Training on several processes (or machines): torch's DistributedDataParallel under ``torchrun``.

``torchrun --nproc-per-node N -m pixelwise segment train ...`` starts N copies of the command with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous (``MASTER_ADDR``/``MASTER_PORT``) in their environment;
:func:`join` sees them and forms the process group (gloo on the CPU, NCCL on CUDA GPUs, one GPU per process),
with a timeout (``PIXELWISE_DIST_TIMEOUT`` seconds, default 300) so that a process that never arrives, or stops
answering, ends the run with one sentence instead of a hang. Without those variables (or with one process)
everything here is the identity (:class:`Solo`).

How :func:`pixelwise.train.fit` divides the work (:class:`Team`):

- ``--batch-size`` is the *global* batch B. Every process draws the same batches from the same seeded generator
  and keeps its shard, rows ``[r B/N, (r + 1) B/N)``; DDP averages the gradients. For a loss that is a mean
  over samples this is the gradient of the loss of the whole batch, so N processes with B/N each take the steps
  of one process with B (``tests/test_distributed.py`` checks the weights). Uneven shards are weighted by their
  size. Losses pooled over the batch (a soft Dice summed over every pixel of the batch) are pooled per process.
- Batch normalisation: the BatchNorm layers normalise with the statistics of the global batch: on CUDA as
  torch's ``SyncBatchNorm``, on the CPU (where that does not run) as
  :class:`pixelwise.train.sync_norm.GlobalBatchNorm`, by all-reduces over gloo (two small ones per layer and
  step, each way: 2 processes on 2 cores trained a U-Net at 0.70 of one process's speed, against 1.02 with
  ``local_batch_norm``, each process's own shard). The running averages of process 0 are copied to the others
  before every validation and are the ones saved.
- Validation runs on every process; the metrics are averaged over the processes, weighted by the number of
  cases each scored when the validator splits them (``_count``, see :func:`shard_range`).
- The time budget (``--minutes``) is planned on process 0 and broadcast, so all stop at the same step; the
  training loss of each step is averaged over the processes, so a NaN anywhere stops all of them together.
- Only process 0 writes (the run folder, checkpoints, history, reports) and prints; ``--resume`` reads the
  run's last checkpoint on every process.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from dataclasses import dataclass

from pixelwise.errors import PixelwiseError

TIMEOUT_ENV = "PIXELWISE_DIST_TIMEOUT"
DEFAULT_TIMEOUT = 300.0


@dataclass(frozen=True)
class Ranks:
    """This process's place among the processes of a ``torchrun`` job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1


def ranks() -> Ranks:
    """``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE`` as torchrun sets them (one process
    without them)."""
    def number(name: str, default: int) -> int:
        text = os.environ.get(name, "").strip()
        if not text:
            return default
        if not text.isdigit():
            raise PixelwiseError(f"the environment variable {name}={text!r} is not a whole number; start the "
                                 "processes with torchrun, or unset it.")
        return int(text)

    world = number("WORLD_SIZE", 1)
    if world <= 1:
        return Ranks()
    rank, local = number("RANK", 0), number("LOCAL_RANK", 0)
    if rank >= world:
        raise PixelwiseError(f"RANK={rank} is not below WORLD_SIZE={world}; start the processes with torchrun.")
    return Ranks(rank, world, local, number("LOCAL_WORLD_SIZE", world))


def is_main() -> bool:
    """Whether this process writes and prints: always without torchrun, process 0 under it."""
    return ranks().rank == 0


def shard_range(n: int) -> tuple[range, int]:
    """The cases ``r, r + N, r + 2N, ...`` of ``n`` that process r of N scores, and their count (for a
    validator that splits its cases: it returns ``_count`` with its means)."""
    r = ranks()
    cases = range(r.rank, n, r.world)
    return cases, len(cases)


def timeout_seconds() -> float:
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        value = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        value = -1.0
    if not value > 0:
        raise PixelwiseError(f"{TIMEOUT_ENV}={text!r} must be a number of seconds > 0, e.g. 300.")
    return value


def check_world(config) -> None:
    """The checks of a training config against this process's device and the torchrun job, before anything is
    written: the device is there, the precision runs on it, and the global batch divides among the processes."""
    from pixelwise.train.devices import check_precision, resolve_device

    r = ranks()
    name = getattr(config, "device", "auto")
    if r.world > 1:
        if ":" in name:
            raise PixelwiseError(f"device={name} names one GPU, but each of the {r.world} processes of this torchrun "
                                 "job takes its own (cuda:LOCAL_RANK); use device=cuda, or device=auto.")
        batch = getattr(config, "batch_size", None)
        if batch is not None and batch % r.world:
            good = max(r.world, batch // r.world * r.world)
            raise PixelwiseError(f"batch_size={batch} does not divide among the {r.world} processes of this "
                                 f"torchrun job (each takes batch_size / {r.world}); use a multiple of {r.world}, "
                                 f"e.g. {good}.")
        hook = getattr(config, "check_processes", None)
        if hook is not None:
            hook(r.world)
        guarded = [what for name, what in (("privacy", "DP-SGD"), ("federated", "federated averaging"),
                                           ("robustness", "adversarial training"))
                   if getattr(getattr(config, name, None), "enabled", False)]
        if guarded:
            raise PixelwiseError(f"{guarded[0]} trains in one process (its step makes the gradients itself, which "
                                 "DistributedDataParallel cannot share); run it without torchrun.")
    device = resolve_device(name, r.local_rank if r.world > 1 else None)
    if r.world > 1 and device.type not in ("cpu", "cuda"):
        raise PixelwiseError(f"several processes train on the CPU (gloo) or on CUDA GPUs (NCCL), not on {device.type}; "
                             "use device=cpu or device=cuda.")
    check_precision(device, getattr(config, "precision", "32"))


def join(device_name: str = "auto"):
    """The team of this process: :class:`Solo` without torchrun, else a :class:`Team` in a process group formed
    now (or already formed by an earlier stage of the run). Either carries the resolved ``device``."""
    from pixelwise.train.devices import resolve_device

    r = ranks()
    if r.world <= 1:
        return Solo(resolve_device(device_name))
    import torch
    import torch.distributed as dist

    device = resolve_device(device_name, r.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        _form_group(r, "nccl" if device.type == "cuda" else "gloo")
    return Team(r, device)


def _form_group(r: Ranks, backend: str) -> None:
    import datetime

    import torch.distributed as dist

    seconds = timeout_seconds()
    try:
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=seconds))
    except (RuntimeError, ValueError) as err:  # a missing rendezvous, a process that never came
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise PixelwiseError(f"process {r.rank} of {r.world} could not join the others within {seconds:g} s "
                             f"({reason}); start all of them with torchrun (the same --nnodes, --nproc-per-node "
                             f"and rendezvous), or raise {TIMEOUT_ENV}.") from None
    atexit.register(_leave)


def _leave() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


class Solo:
    """One process: every collective is the identity."""

    rank, world, main = 0, 1, True

    def __init__(self, device):
        self.device = device

    def wrap(self, model, global_norm: bool = True):
        return model

    def shard(self, batch):
        """``(batch, weight)``: this process's part of a global batch and its loss weight (see :class:`Team`)."""
        return batch, 1.0

    def mean(self, value: float, weight: float = 1.0) -> float:
        return value

    def agree(self, value: int) -> int:
        return value

    def reduce_metrics(self, metrics: dict) -> dict:
        return {k: v for k, v in metrics.items() if k != "_count"}

    def sync_buffers(self, module) -> None:
        pass

    def validate(self, validate, model) -> dict:
        """``validate(model)`` on the model's device if the validator moves its inputs itself
        (``validate.device_aware = True``), else on a CPU copy; the metrics averaged over the processes."""
        if self.device.type != "cpu" and not getattr(validate, "device_aware", False):
            import copy

            model = copy.deepcopy(model).cpu()
        with self.guard():
            return self.reduce_metrics(validate(model))

    def barrier(self) -> None:
        pass

    def guard(self):
        return contextlib.nullcontext()


class Team(Solo):
    """Process ``rank`` of ``world`` in a formed process group (see the module docstring)."""

    def __init__(self, r: Ranks, device):
        super().__init__(device)
        import torch

        self.rank, self.world, self.main = r.rank, r.world, r.rank == 0
        self._wire = device if device.type == "cuda" else torch.device("cpu")  # gloo: CPU tensors

    def wrap(self, model, global_norm: bool = True):
        """``model`` in DistributedDataParallel, with ``global_norm`` its batch norm over the global batch
        (SyncBatchNorm on CUDA, GlobalBatchNorm on the CPU; else each process's shard); a model whose steps may
        leave some parameters without a gradient (a GAN's critic steps) says so with
        ``ddp_find_unused_parameters = True``."""
        from torch import nn

        if global_norm and self.device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        elif global_norm:  # torch's SyncBatchNorm needs CUDA: the same statistics by all-reduces over gloo
            from pixelwise.train.sync_norm import GlobalBatchNorm

            model = GlobalBatchNorm.convert(model)
        unused = bool(getattr(model, "ddp_find_unused_parameters", False))
        ids = [self.device.index] if self.device.type == "cuda" else None
        with self.guard():
            return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=unused)

    def shard(self, batch):
        x, y = batch
        n = _leading(x)
        if n is None:
            return batch, 1.0
        if n < self.world:
            raise PixelwiseError(f"a batch of {n} cannot be split among {self.world} processes; raise the batch "
                                 f"size to at least {self.world}.")
        sizes = [n // self.world + (r < n % self.world) for r in range(self.world)]
        start, size = sum(sizes[:self.rank]), sizes[self.rank]
        return (_cut(x, n, start, size), _cut(y, n, start, size)), size * self.world / n

    def mean(self, value: float, weight: float = 1.0) -> float:
        import torch
        import torch.distributed as dist

        t = torch.tensor([value * weight], dtype=torch.float64, device=self._wire)
        with self.guard():
            dist.all_reduce(t)
        return float(t[0]) / self.world

    def agree(self, value: int) -> int:
        """Process 0's ``value`` on every process (the plan of a time budget)."""
        import torch
        import torch.distributed as dist

        t = torch.tensor([int(value)], dtype=torch.int64, device=self._wire)
        with self.guard():
            dist.broadcast(t, 0)
        return int(t[0])

    def reduce_metrics(self, metrics: dict) -> dict:
        import torch
        import torch.distributed as dist

        count = float(metrics.get("_count", 1.0))
        keys = [k for k, v in metrics.items() if k != "_count" and isinstance(v, (int, float))
                and not isinstance(v, bool)]
        values = [count] + [float(metrics[k]) * count if count else 0.0 for k in keys]
        t = torch.tensor(values, dtype=torch.float64, device=self._wire)
        with self.guard():
            dist.all_reduce(t)
        out = {k: v for k, v in metrics.items() if k != "_count"}
        out.update({k: float(t[i + 1] / t[0]) for i, k in enumerate(keys)})
        return out

    def sync_buffers(self, module) -> None:
        """Process 0's buffers (batch-norm running statistics) on every process."""
        import torch.distributed as dist

        with self.guard():
            for b in module.buffers():
                dist.broadcast(b.data, 0)

    def barrier(self) -> None:
        import torch.distributed as dist

        with self.guard():
            dist.barrier()

    @contextlib.contextmanager
    def guard(self):
        """A failure of the process group (a process killed, or silent past the timeout) as one sentence."""
        try:
            yield
        except RuntimeError as err:
            if not _is_transport_error(err):
                raise
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
            reason = reason.split("] ", 1)[-1][:160]
            raise PixelwiseError(f"another process of this run stopped answering (process {self.rank} of "
                                 f"{self.world} saw: {reason}); the run stops and its last checkpoint is kept: "
                                 "fix the cause and start it again with --resume.") from None


def _is_transport_error(err: RuntimeError) -> bool:
    import torch.distributed as dist

    words = ("gloo", "nccl", "connection", "timed out", "timeout", "processgroup", "broken pipe", "peer")
    return isinstance(err, getattr(dist, "DistError", ())) or any(w in str(err).lower() for w in words)


def _leading(value) -> int | None:
    """The batch size: the first dimension of the first tensor in ``value``."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.shape[0] if value.dim() else None
    if isinstance(value, (tuple, list)):
        for v in value:
            n = _leading(v)
            if n is not None:
                return n
    if isinstance(value, dict):
        return _leading(list(value.values()))
    return None


def _cut(value, n: int, start: int, size: int):
    """Rows ``[start, start + size)`` of every tensor in ``value`` whose first dimension is the batch's ``n``."""
    import torch

    if isinstance(value, torch.Tensor):
        return value[start:start + size] if value.dim() and value.shape[0] == n else value
    if isinstance(value, tuple):
        return tuple(_cut(v, n, start, size) for v in value)
    if isinstance(value, list):
        return [_cut(v, n, start, size) for v in value]
    if isinstance(value, dict):
        return {k: _cut(v, n, start, size) for k, v in value.items()}
    return value

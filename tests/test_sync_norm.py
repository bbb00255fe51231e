"""GlobalBatchNorm: two CPU processes (gloo), each with half a batch, give the outputs, input gradients, summed
parameter gradients and running statistics of torch's BatchNorm on the whole batch in one process."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from pixelwise.train.sync_norm import GlobalBatchNorm

SHAPES = [(6, 3, 5, 7), (4, 5), (4, 2, 3, 4, 5)]  # BatchNorm2d, 1d, 3d; odd sizes
NORMS = {2: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}


def batch(shape) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 3 + 2
    weights = torch.randn(shape, generator=g, dtype=torch.float64)  # loss = sum(weights * y): any upstream gradient
    return x, weights


def reference(shape, momentum) -> dict:
    x, weights = batch(shape)
    x.requires_grad_(True)
    norm = NORMS[len(shape)](shape[1], momentum=momentum, dtype=torch.float64)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5), norm.bias.uniform_(-1, 1)
    start = {k: v.clone() for k, v in norm.state_dict().items()}
    for _ in range(2):  # two steps: the running statistics after two updates
        y = norm(x)
    (weights * y).sum().backward()
    return {"start": start, "y": y.detach(), "dx": x.grad, "dw": norm.weight.grad, "db": norm.bias.grad,
            "state": norm.state_dict()}


def worker(rank: int, port: int, shape, momentum, ref: dict, results) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        x, weights = batch(shape)
        half = [slice(0, 3 * shape[0] // 4), slice(3 * shape[0] // 4, shape[0])][rank]  # uneven shards
        mine = x[half].clone().requires_grad_(True)
        norm = GlobalBatchNorm.convert(NORMS[len(shape)](shape[1], momentum=momentum, dtype=torch.float64))
        norm.load_state_dict(ref["start"])
        for _ in range(2):
            y = norm(mine)
        (weights[half] * y).sum().backward()
        dw, db = norm.weight.grad.clone(), norm.bias.grad.clone()
        dist.all_reduce(dw), dist.all_reduce(db)  # the loss of the whole batch is the sum of the shards'
        state = {k: v.numpy() for k, v in norm.state_dict().items()}  # arrays: a tensor's shared memory would
        results.put((rank, half, y.detach().numpy(), mine.grad.numpy(), dw.numpy(), db.numpy(), state))  # go
    finally:
        dist.barrier()
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("shape", SHAPES, ids=[str(s) for s in SHAPES])
def test_two_processes_normalise_as_one_with_the_whole_batch(shape, momentum):
    ref = reference(shape, momentum)
    context = mp.get_context("spawn")
    results = context.SimpleQueue()
    mp.start_processes(worker, args=(free_port(), shape, momentum, ref, results), nprocs=2, start_method="spawn")
    for _ in range(2):
        rank, half, *arrays, state = results.get()
        y, dx, dw, db = map(torch.from_numpy, arrays)
        state = {k: torch.from_numpy(v) for k, v in state.items()}
        torch.testing.assert_close(y, ref["y"][half])
        torch.testing.assert_close(dx, ref["dx"][half])
        torch.testing.assert_close(dw, ref["dw"])
        torch.testing.assert_close(db, ref["db"])
        for name, value in ref["state"].items():
            torch.testing.assert_close(state[name], value, msg=name)


def test_one_process_and_evaluation_are_torchs_batch_norm():
    x, _ = batch((6, 3, 5, 7))
    plain = nn.BatchNorm2d(3, dtype=torch.float64)
    converted = GlobalBatchNorm.convert(nn.Sequential(nn.Identity(), nn.BatchNorm2d(3, dtype=torch.float64)))
    assert isinstance(converted[1], GlobalBatchNorm)
    original = nn.BatchNorm2d(3)
    held = [*original.parameters(), *original.buffers()]
    assert all(a is b for a, b in zip(held, [*GlobalBatchNorm.convert(original).parameters(),
                                             *GlobalBatchNorm.convert(original).buffers()], strict=True))
    torch.testing.assert_close(converted(x), plain(x))  # no process group: the ordinary training step
    plain.eval(), converted.eval()
    torch.testing.assert_close(converted(x), plain(x))
    torch.testing.assert_close(converted[1].running_var, plain.running_var)
    with pytest.raises(ValueError, match="expects"):
        GlobalBatchNorm(3)(torch.ones(3))

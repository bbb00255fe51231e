"""Several processes on this machine's CPU (gloo): torchrun with 2 processes and a global batch B (B/2 each) ends
with the weights and history of one process with batch B; --resume under torchrun; process 0 alone writes and
prints; a killed process ends the run in one sentence, not a hang; torchrun jobs whose sizes do not fit are refused
before anything is written."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pixelwise.cli import main
from pixelwise.data.synthetic import write_polyps_folder
from pixelwise.errors import PixelwiseError
from pixelwise.train.distributed import Ranks, Team

pytestmark = pytest.mark.usefixtures("one_thread")

SRC = Path(__file__).resolve().parents[1] / "src"


def environment(**extra: str) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(SRC), **extra}


def torchrun(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           *args], capture_output=True, text=True, env=environment(), timeout=240)


WRAPPED = r"""
import atexit, json, os, sys
import torch
from torch import nn
torch.set_num_threads(1)
run, log = sys.argv[1], sys.argv[2]
writes, seen = [], set()
def audit(event, args):  # what this process opens for writing, or renames, inside the run folder
    if event == "open" and str(args[0]).startswith(run):
        mode, flags = args[1], args[2]
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)):
            writes.append(str(args[0]))
    elif event == "os.rename" and str(args[1]).startswith(run):
        writes.append(str(args[1]))
sys.addaudithook(audit)
convolve = nn.Conv2d._conv_forward
def counted(self, x, weight, bias):  # the batch sizes this process trains on
    if torch.is_grad_enabled():
        seen.add(x.shape[0])
    return convolve(self, x, weight, bias)
nn.Conv2d._conv_forward = counted
def record():
    with open(f"{log}-{os.environ.get('RANK', '0')}.json", "a") as f:
        f.write(json.dumps({"writes": sorted(set(writes)), "seen": sorted(seen)}) + "\n")
atexit.register(record)
from pixelwise.cli import main
sys.exit(main(sys.argv[3:]))
"""


def records(log: Path, rank: int) -> list[dict]:
    return [json.loads(line) for line in Path(f"{log}-{rank}.json").read_text().splitlines()]


@pytest.mark.slow
def test_two_processes_with_half_batches_end_as_one_with_the_whole_batch(tmp_path, polyp_folder, capsys):
    """`torchrun -m pixelwise segment train`, 1 epoch then --resume to 2, batch 4 (2 a process), against one
    process with batch 4. Group norm and the BCE alone (--lambda-dice 0): losses of means over samples, so the
    processes' averaged gradients are the gradient of the whole batch (batch norm and a batch-pooled Dice are
    per process on the CPU, see pixelwise.train.distributed)."""
    args = ["segment", "train", "--data", str(polyp_folder), "--size", "24", "--base-channels", "4", "--depth", "2",
            "--norm", "group", "--lambda-dice", "0", "--schedule", "constant", "--batch-size", "4", "--device", "cpu",
            "--quiet"]
    one, two, log = tmp_path / "one", tmp_path / "two", tmp_path / "log"
    assert main([*args, "--epochs", "2", "--out", str(one)]) == 0
    capsys.readouterr()
    (tmp_path / "wrapped.py").write_text(WRAPPED)
    for extra in (["--epochs", "1"], ["--epochs", "2", "--resume"]):
        done = torchrun(str(tmp_path / "wrapped.py"), str(two), str(log), *args, "--out", str(two), *extra)
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.count("run folder:") == 1 and done.stdout.count("test split:") == 1, done.stdout
    for rank in (0, 1):
        assert [r["seen"] for r in records(log, rank)] == [[2], [2]]  # each process trained on half the batch
    assert [r["writes"] for r in records(log, 1)] == [[], []]  # process 1 wrote nothing, in either launch
    assert all(any(w.endswith("last_state.pt") for w in r["writes"]) for r in records(log, 0))
    mine, reference = (load_file(run / "checkpoints" / "last.safetensors") for run in (two, one))
    for name, value in reference.items():
        torch.testing.assert_close(mine[name], value, rtol=1e-4, atol=1e-5, msg=name)
    rows = [list(csv.DictReader((run / "history.csv").open())) for run in (two, one)]
    assert [r["epoch"] for r in rows[0]] == ["1", "2"]  # the resumed run continued the first epoch
    for a, b in zip(*rows):  # the loss of the whole batch; validation over every case, split between processes
        for key, rel in (("train_loss", 1e-5), ("val_loss", 1e-5), ("val_iou", 1e-3)):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=rel), key


@pytest.mark.slow
def test_batch_norm_over_two_processes_is_batch_norm_over_the_whole_batch(tmp_path, polyp_folder, capsys):
    """With --norm batch each process normalises with the statistics of the global batch (GlobalBatchNorm on the
    CPU), so 2 processes with 2 samples each end with the weights and running statistics of one with 4; with
    --local-batch-norm each uses its own 2, and the running statistics saved (process 0's) are not the whole
    batch's."""
    args = ["segment", "train", "--data", str(polyp_folder), "--size", "24", "--base-channels", "4", "--depth", "2",
            "--norm", "batch", "--lambda-dice", "0", "--schedule", "constant", "--batch-size", "4", "--device",
            "cpu", "--epochs", "2", "--quiet"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main([*args, "--out", str(one)]) == 0
    capsys.readouterr()
    done = torchrun("-m", "pixelwise", *args, "--out", str(two))
    assert done.returncode == 0, done.stderr[-3000:]
    mine, reference = (load_file(run / "checkpoints" / "last.safetensors") for run in (two, one))
    assert any("running_var" in name for name in reference)
    for name, value in reference.items():
        torch.testing.assert_close(mine[name], value, rtol=1e-4, atol=1e-5, msg=name)
    local = tmp_path / "local"
    done = torchrun("-m", "pixelwise", *args, "--local-batch-norm", "--out", str(local))
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((local / "config.json").read_text())["local_batch_norm"] is True
    own = load_file(local / "checkpoints" / "last.safetensors")
    assert not torch.allclose(own["inc.1.running_mean"], reference["inc.1.running_mean"], rtol=1e-3, atol=1e-4)


KILLED = """
import os, signal, sys
import torch
torch.set_num_threads(1)
if os.environ["RANK"] == "1":  # process 1 dies (SIGKILL) before its fourth optimizer step
    step, count = torch.optim.Adam.step, [0]
    def counted(self, *args, **kwargs):
        count[0] += 1
        if count[0] == 4:
            os.kill(os.getpid(), signal.SIGKILL)
        return step(self, *args, **kwargs)
    torch.optim.Adam.step = counted
from pixelwise.cli import main
sys.exit(main(sys.argv[1:]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_killed_process_ends_the_run_in_one_sentence(tmp_path):
    data = write_polyps_folder(tmp_path / "polyps", n=16, size=24, seed=1)
    run = tmp_path / "run"
    argv = ["segment", "train", "--data", str(data), "--size", "24", "--base-channels", "4", "--depth", "2",
            "--epochs", "3", "--batch-size", "4", "--device", "cpu", "--out", str(run), "--quiet"]
    port, t0 = str(free_port()), time.perf_counter()
    processes = [subprocess.Popen([sys.executable, "-c", KILLED, *argv], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True,
                                  env=environment(RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE="2",
                                                  LOCAL_WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=port,
                                                  PIXELWISE_DIST_TIMEOUT="60")) for r in (0, 1)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert processes[1].returncode == -signal.SIGKILL
    assert processes[0].returncode == 2, outputs[0][1][-2000:]
    err = outputs[0][1]
    assert err.count("\n") == 1 and "stopped answering" in err and "--resume" in err, err
    assert time.perf_counter() - t0 < 90  # not the timeout of a hang
    assert (run / "checkpoints" / "last_state.pt").is_file()  # the first epoch, committed by process 0
    assert len((run / "history.csv").read_text().strip().splitlines()) == 2


@pytest.mark.parametrize("argv, words", [
    (["segment", "train", "--data", "DATA", "--batch-size", "5"], "--batch-size=5 does not divide among the 2"),
    (["segment", "train", "--data", "DATA", "--device", "cuda:1"], "--device=cuda:1 names one GPU"),
    (["restore", "train", "--task", "denoise", "--adversarial-weight", "0.01"], "cannot share"),
])
def test_torchrun_jobs_that_do_not_fit_are_refused_before_anything_is_written(argv, words, monkeypatch, tmp_path,
                                                                               polyp_folder, capsys):
    for name, value in (("WORLD_SIZE", "2"), ("RANK", "0"), ("LOCAL_RANK", "0")):
        monkeypatch.setenv(name, value)
    out = tmp_path / "run"
    argv = [str(polyp_folder) if a == "DATA" else a for a in argv]
    assert main([*argv, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err
    assert not out.exists()


def test_a_batch_is_split_by_rows_and_uneven_shards_are_weighted():
    x, y = torch.arange(10.0).view(5, 2), torch.arange(5.0)
    op = object()  # an operator passes untouched, as does a tensor of another length
    parts = [Team(Ranks(r, 2), torch.device("cpu")).shard(((x, op, torch.ones(3)), y)) for r in (0, 1)]
    ((x0, op0, other), y0), w0 = parts[0]
    ((x1, _, _), y1), w1 = parts[1]
    assert torch.equal(x0, x[:3]) and torch.equal(x1, x[3:]) and torch.equal(y0, y[:3]) and torch.equal(y1, y[3:])
    assert op0 is op and other.shape == (3,)
    assert (w0, w1) == (3 * 2 / 5, 2 * 2 / 5)
    # DDP averages the processes' gradients: the weighted shard means average to the mean of the whole batch
    per_sample = (y - 1.5) ** 2
    assert (w0 * per_sample[:3].mean() + w1 * per_sample[3:].mean()) / 2 == pytest.approx(per_sample.mean().item())
    with pytest.raises(PixelwiseError, match="cannot be split among 4 processes"):
        Team(Ranks(0, 4), torch.device("cpu")).shard((x[:3], y[:3]))

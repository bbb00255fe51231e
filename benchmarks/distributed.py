"""Training images per second: one process with all the threads against several processes (torchrun, gloo on a
CPU, NCCL on GPUs) with a share of the threads each, the same global batch and the same network; and the ratio.

On this 2-core machine the question is whether 2 processes x 1 thread beat 1 process x 2 threads (the target the
lead measures: the ratio, and that the several-process run trains at all); on a node with N GPUs, ``--device cuda
--procs N`` compares one GPU with N, unchanged. The network is segmentation's U-Net, trained by
:func:`pixelwise.train.fit` on Kvasir-SEG images resized to ``--size`` (``--data``), or random images without it.
Each row times the steps after ``--warmup`` on process 0 (every step waits for the gradients of all).

    python benchmarks/distributed.py --data ../shared/data/kvasir-seg-880 --steps 30
    python benchmarks/distributed.py --data ../shared/data/kvasir-seg-880 --steps 30 --local-batch-norm
    python benchmarks/distributed.py --size 32 --batch 4 --steps 4 --warmup 1 --base 4 --depth 2   # toy
    python benchmarks/distributed.py --device cuda --procs 8 --threads 8 --batch 64                # a GPU node
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import emit, machine

SRC = Path(__file__).resolve().parents[1] / "src"


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="a folder with images/ and masks/ (default: random images)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8, help="the global batch")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5, help="steps before the clock starts")
    parser.add_argument("--base", type=int, default=32, help="U-Net channels of the first level")
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--procs", type=int, default=2, help="processes of the torchrun row")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads in all, shared by the processes")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--local-batch-norm", action="store_true", help="the several-process row normalises with "
                        "each process's share (default: the global batch's statistics, GlobalBatchNorm on a CPU)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # a JSON file: run one row's training
    return parser.parse_args()


def images(args) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3, S, S) images normalised and (N, 1, S, S) masks: the first 64 cases of --data, or random ones."""
    if args.data is None:
        g = torch.Generator().manual_seed(0)
        x = torch.rand(64, 3, args.size, args.size, generator=g)
        return (x - 0.5) / 0.25, (x[:, :1] > 0.6).float()
    from pixelwise.data.folders import ImageMaskFolder
    from pixelwise.tasks.segment.data import channel_statistics, to_tensor

    folder = ImageMaskFolder(args.data)
    pictures, masks = folder.load(range(min(64, len(folder))), (args.size, args.size), progress=False)
    mean, std = channel_statistics(pictures)
    return to_tensor(pictures, mean, std), torch.from_numpy(masks).float()[:, None]


def work(args) -> None:
    """One row's training (in each process of a torchrun job, or alone); process 0 writes its timing."""
    from pixelwise.losses import BCEDiceLoss
    from pixelwise.models import UNet
    from pixelwise.train import FitConfig, fit
    from pixelwise.train.distributed import ranks

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    x, y = images(args)
    torch.manual_seed(0)
    model = UNet(3, 1, args.depth, args.base).to(memory_format=torch.channels_last)
    stamps: list[float] = []
    model.register_forward_pre_hook(lambda m, _: stamps.append(time.perf_counter()) if m.training else None)

    def batches(epoch, generator):
        for _ in range(args.steps):
            i = torch.randint(len(x), (args.batch,), generator=generator)
            yield x[i].contiguous(memory_format=torch.channels_last), y[i]

    config = FitConfig(epochs=1, progress=False, device=args.device, schedule="constant",
                       local_batch_norm=args.local_batch_norm)
    fit(model, BCEDiceLoss(1.0), batches, args.steps, None, config, log=lambda _: None)
    if ranks().rank == 0:
        seconds = stamps[-1] - stamps[args.warmup]  # from the warm-up's end to the start of the last step
        Path(args.worker).write_text(json.dumps({"images_per_s": args.batch * (args.steps - 1 - args.warmup) / seconds,
                                                 "seconds": seconds, "threads": torch.get_num_threads()}))


def row(args, procs: int, threads: int) -> dict:
    """Run one row in fresh processes: alone (procs 1) or under torchrun."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "row.json"
        env = {**os.environ, "BENCH_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
               "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
        argv = [a for a in sys.argv[1:]] + ["--worker", str(out)]
        launch = [sys.executable] if procs == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                      "--nproc-per-node", str(procs)]
        done = subprocess.run([*launch, __file__, *argv], capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise SystemExit(f"the {procs}-process row failed:\n{done.stderr[-3000:]}")
        return {"processes": procs, "threads_each": threads, **json.loads(out.read_text())}


def main() -> None:
    args = options()
    if args.worker:
        work(args)
        return
    if args.batch % args.procs or args.steps <= args.warmup + 1:
        raise SystemExit("--batch must divide among --procs, and --steps exceed --warmup + 1.")
    one = row(args, 1, args.threads)
    several = row(args, args.procs, max(1, args.threads // args.procs))
    emit({"benchmark": "distributed", "machine": machine(), "device": args.device,
          "data": args.data or "random images", "size": args.size, "global_batch": args.batch, "steps": args.steps,
          "warmup": args.warmup, "network": f"U-Net depth {args.depth}, base {args.base}",
          "batch_norm": "each process's share" if args.local_batch_norm else "the global batch",
          "one_process": one, "several_processes": several,
          "ratio_several_over_one": several["images_per_s"] / one["images_per_s"]})


if __name__ == "__main__":
    main()

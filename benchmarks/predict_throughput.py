"""``segment predict`` throughput on a folder of 3x512x512 images, network-only and end to end.

The network part is timed on batches already in memory (no-grad, channels-last): eager, eager with batch
norm folded into the convolutions, and (``--compile``) torch.compile with frozen weights.
Its achieved GFLOP/s is compared with the machine's fp32 matrix-multiply peak (the median of samples taken
before each row and at the end; each sample is the faster of MKL's and oneDNN's GEMM, see ``_common.py``).
End to end runs :func:`pixelwise.tasks.segment.predict` on JPEG files (decoding, resizing and
writing overlapped with compute), eager and, with ``--compile``, compiled. Targets (issue 2): network >= 80% of
peak; end-to-end images/s within 20% of network-only. Weights are random: speed does not depend on them.

    python benchmarks/predict_throughput.py [--n 16 --size 512 --batch 4 --compile]

Both the benchmark and ``predict()`` first call ``pixelwise.train.tune_malloc`` (glibc keeps the large blocks a
batch frees; see ``pixelwise/train/allocator.py``); ``PIXELWISE_KEEP_MALLOC=1`` measures glibc's default instead.

Measured 2026-12-01 (AMD Zen 5, 2 threads; peak 456 GFLOP/s from oneDNN, while MKL's torch.mm gives about 200):
folded eager network 0.92 of peak, compiled 0.94 (3 s to compile), frozen TorchScript 0.72 (a path removed
since, as slower than both); end to end 0.97 of the network; the convolutions alone 0.96. With glibc's default
malloc, in the same hour: folded eager 0.60 and the convolutions alone 0.68. Earlier sessions read that 0.68 as
the ceiling of the 32- and 64-channel layers; it was page faults: each 4x32x512x512 activation (128 MiB) was
mapped afresh and faulted in on every batch.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from _common import PeakSampler, best_time, convolutions_alone, count_flops, emit, machine

from pixelwise.data.io import write_image
from pixelwise.models.inference import CompiledInference, optimize_for_inference
from pixelwise.tasks.segment import SegmentationConfig, build_model, predict
from pixelwise.train import save_weights, tune_malloc
from pixelwise.train.runs import RunFolder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="images in the folder")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="add the torch.compile rows (network, end to end)")
    args = parser.parse_args()
    malloc = tune_malloc()  # as predict() does; PIXELWISE_KEEP_MALLOC=1 measures glibc's default instead
    torch.manual_seed(0)
    peak = PeakSampler()
    config = SegmentationConfig(data="", size=args.size, norm_mean=[0.5] * 3, norm_std=[0.25] * 3)
    model = build_model(config).eval()
    x = torch.randn(args.batch, 3, args.size, args.size).contiguous(memory_format=torch.channels_last)
    flops = count_flops(lambda: model(x))
    results = {}
    with torch.inference_mode():
        eager = model.to(memory_format=torch.channels_last)
        peak.sample()
        t = best_time(lambda: eager(x), args.repeats, warmup=1)
        results["network_eager"] = _row(flops, t, args.batch)
    for name, shuffle in (("network_folded_bn", False), ("network_folded_bn_shuffle_up", True)):
        fast = optimize_for_inference(model, shuffle_up=shuffle)
        with torch.inference_mode():
            peak.sample()
            t = best_time(lambda: fast(x), args.repeats, warmup=1)  # noqa: B023 (timed inside the loop)
            results[name] = _row(flops, t, args.batch)
    if args.compile:
        compiled = CompiledInference(build_model(config).eval(), args.batch)
        with torch.inference_mode():
            start = time.perf_counter()
            compiled(x)
            compile_seconds = time.perf_counter() - start
            peak.sample()
            t = best_time(lambda: compiled(x), args.repeats, warmup=1)
        results["network_compiled_frozen"] = {**_row(flops, t, args.batch),
                                              "first_call_seconds": round(compile_seconds, 1)}
    peak.sample()
    ceiling = convolutions_alone(optimize_for_inference(model, shuffle_up=False), x, train=False, repeats=args.repeats)
    peak.sample()
    peak.add_fractions([*results.values(), ceiling])

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = RunFolder(replace(config, out=str(tmp / "run"))).create()
        save_weights(build_model(config), run / "checkpoints" / "best.safetensors")
        rng = np.random.default_rng(0)
        for i in range(args.n):
            write_image(tmp / "in" / f"img{i:03d}.jpg", rng.integers(0, 255, (args.size, args.size, 3), dtype=np.uint8))
        end_to_end = {}
        for name, compile_ in (("eager", False), ("compiled", True))[:2 if args.compile else 1]:
            # a first call warms up (and fills the compile caches); the timed call still compiles its own model
            # from those caches, which it pays for
            predict(run, [tmp / "in"], tmp / "warm", batch_size=args.batch, progress=False, compile=compile_)
            t = time.perf_counter()
            predict(run, [tmp / "in"], tmp / name, batch_size=args.batch, progress=False, compile=compile_)
            end_to_end[name] = round(args.n / (time.perf_counter() - t), 2)
    best_net = max(results.values(), key=lambda r: r["images_per_s"])
    best_end = max(end_to_end.values())
    out = {"benchmark": "predict_throughput", "input": [args.batch, 3, args.size, args.size], "images": args.n,
           "machine": machine(), "malloc": malloc, **peak.report(),
           "gflop_per_image": round(flops / args.batch / 1e9, 2),
           **results, "end_to_end_images_per_s": end_to_end,
           "end_to_end_vs_network": round(best_end / best_net["images_per_s"], 3),
           "convolutions_alone": ceiling,
           "best_network_vs_convolutions_alone": round(best_net["gflops"] / ceiling["gflops"], 3),
           "targets": {"network_fraction_of_peak>=0.80": best_net["fraction_of_peak"] >= 0.8,
                       "end_to_end_within_20%": best_end >= 0.8 * best_net["images_per_s"]}}
    emit(out)


def _row(flops: float, seconds: float, batch: int) -> dict:
    return {"seconds_per_batch": round(seconds, 4), "images_per_s": round(batch / seconds, 2),
            "gflops": round(flops / seconds / 1e9, 1)}


if __name__ == "__main__":
    main()

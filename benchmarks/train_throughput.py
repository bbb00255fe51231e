"""Training throughput of the default U-Net at 3x256x256, batch 8, next to MONAI's BasicUNet.

Prints JSON: images/s, achieved GFLOP/s (FLOPs of one forward+backward counted by torch's FlopCounterMode,
divided by the median step time) and the fraction of the machine's fp32 matrix-multiply peak measured in
the same process (the faster of MKL's and oneDNN's GEMM, see ``_common.py``), and the U-Net's convolutions timed
alone at the same shapes (forward and backward): the ceiling that the rest of the step can only lower.
Targets (issue 2): >= 70% of peak and >= 1.5x BasicUNet's GFLOP/s.

    python benchmarks/train_throughput.py [--batch 8 --size 256 --repeats 5 --compile]

Both the benchmark and ``fit()`` first call ``pixelwise.train.tune_malloc`` (glibc keeps the large blocks the
step frees; see ``pixelwise/train/allocator.py``); ``PIXELWISE_KEEP_MALLOC=1`` measures glibc's default instead.

Measured 2026-12-01 (AMD Zen 5, 2 threads, peak 456 GFLOP/s from oneDNN; MKL's torch.mm gives about 200):
U-Net channels-last 1.79 s per step, 0.71 of peak; compiled 1.69 s, 0.75; BasicUNet 0.44; ratio 1.71; the
convolutions alone 0.83. With glibc's default malloc, in the same hour: 2.62 s (0.50), compiled 2.13 s (0.61),
BasicUNet 2.77 s (0.19), convolutions alone 0.76: every 64 MiB activation was a fresh mapping, paid for in page
faults on every step, and the earlier readings of this benchmark (0.54-0.59) were those faults, not the network.
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import PeakSampler, best_time, convolutions_alone, count_flops, emit, machine

from pixelwise.losses import BCEDiceLoss
from pixelwise.models import UNet
from pixelwise.train import tune_malloc


def train_step_fn(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = BCEDiceLoss(1.0)

    def step():
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def fwd_bwd():
        loss_fn(model(x), y).backward()

    return step, fwd_bwd


def measure(name: str, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int,
            peak: PeakSampler, compiled: bool = False) -> dict:
    model.train()
    step, fwd_bwd = train_step_fn(model, x, y)
    flops = count_flops(fwd_bwd)
    if compiled:  # the model (forward and backward) through inductor; Adam stays eager, as in fit(compile=True)
        step = train_step_fn(torch.compile(model), x, y)[0]
        t = time.perf_counter()
        step()
        first = time.perf_counter() - t
    peak.sample()
    seconds = best_time(step, repeats)
    gflops = flops / seconds / 1e9
    return {"model": name, "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 3),
            "gflop_per_step": round(flops / 1e9, 2), "seconds_per_step": round(seconds, 4),
            "images_per_s": round(x.shape[0] / seconds, 2), "gflops": round(gflops, 1),
            **({"first_step_seconds": round(first, 1)} if compiled else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="add a row trained through torch.compile")
    args = parser.parse_args()
    malloc = tune_malloc()  # as fit() does; PIXELWISE_KEEP_MALLOC=1 measures glibc's default instead
    torch.manual_seed(0)
    peak = PeakSampler()
    x = torch.randn(args.batch, 3, args.size, args.size)
    y = (torch.rand(args.batch, 1, args.size, args.size) > 0.7).float()
    results = []
    unet = UNet(3, 1).to(memory_format=torch.channels_last)
    results.append(measure("pixelwise UNet (channels-last)", unet, x.contiguous(memory_format=torch.channels_last), y,
                           args.repeats, peak))
    results.append(measure("pixelwise UNet (contiguous)", UNet(3, 1), x, y, args.repeats, peak))
    if args.compile:
        unet = UNet(3, 1).to(memory_format=torch.channels_last)
        results.append(measure("pixelwise UNet (channels-last, torch.compile)", unet,
                               x.contiguous(memory_format=torch.channels_last), y, args.repeats, peak, compiled=True))
    try:
        from monai.networks.nets import BasicUNet

        basic = BasicUNet(spatial_dims=2, in_channels=3, out_channels=1)
        results.append(measure("monai BasicUNet", basic, x, y, args.repeats, peak))
    except ImportError:
        results.append({"model": "monai BasicUNet", "skipped": "monai is not installed (pip install -e '.[dev]')"})
    peak.sample()
    ceiling = convolutions_alone(UNet(3, 1).to(memory_format=torch.channels_last).train(),
                                 x.contiguous(memory_format=torch.channels_last), train=True, repeats=args.repeats)
    peak.sample()
    peak.add_fractions([*results, ceiling])
    out = {"benchmark": "train_throughput", "input": [args.batch, 3, args.size, args.size], "machine": machine(),
           "malloc": malloc, **peak.report(), "results": results, "pixelwise_unet_convolutions_alone": ceiling}
    if "gflops" in results[-1]:
        best = max((r for r in results if r["model"].startswith("pixelwise")), key=lambda r: r["gflops"])
        out["best_pixelwise"] = best["model"]
        out["ratio_vs_basicunet"] = round(best["gflops"] / results[-1]["gflops"], 2)
        out["best_vs_convolutions_alone"] = round(best["gflops"] / ceiling["gflops"], 3)
        out["targets"] = {"fraction_of_peak>=0.70": best["fraction_of_peak"] >= 0.70,
                          "ratio_vs_basicunet>=1.5": out["ratio_vs_basicunet"] >= 1.5}
    emit(out)


if __name__ == "__main__":
    main()

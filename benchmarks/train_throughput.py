"""Training throughput of the default U-Net at 3x256x256, batch 8, next to MONAI's BasicUNet.

Prints JSON: images/s, achieved GFLOP/s (FLOPs of one forward+backward counted by torch's FlopCounterMode,
divided by the median step time) and the fraction of the machine's fp32 matrix-multiply peak measured in
the same process. Targets (issue 2): >= 70% of peak and >= 1.5x BasicUNet's GFLOP/s.

    python benchmarks/train_throughput.py [--batch 8 --size 256 --repeats 5]
"""

from __future__ import annotations

import argparse

import torch
from _common import best_time, count_flops, emit, machine, matmul_peak_gflops

from pixelwise.losses import BCEDiceLoss
from pixelwise.models import UNet


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


def measure(name: str, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int, peak: float) -> dict:
    model.train()
    step, fwd_bwd = train_step_fn(model, x, y)
    flops = count_flops(fwd_bwd)
    seconds = best_time(step, repeats)
    gflops = flops / seconds / 1e9
    return {"model": name, "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 3),
            "gflop_per_step": round(flops / 1e9, 2), "seconds_per_step": round(seconds, 4),
            "images_per_s": round(x.shape[0] / seconds, 2), "gflops": round(gflops, 1),
            "fraction_of_peak": round(gflops / peak, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    peak = matmul_peak_gflops()
    x = torch.randn(args.batch, 3, args.size, args.size)
    y = (torch.rand(args.batch, 1, args.size, args.size) > 0.7).float()
    results = []
    unet = UNet(3, 1).to(memory_format=torch.channels_last)
    results.append(measure("pixelwise UNet (channels-last)", unet, x.contiguous(memory_format=torch.channels_last), y,
                           args.repeats, peak))
    results.append(measure("pixelwise UNet (contiguous)", UNet(3, 1), x, y, args.repeats, peak))
    try:
        from monai.networks.nets import BasicUNet

        basic = BasicUNet(spatial_dims=2, in_channels=3, out_channels=1)
        results.append(measure("monai BasicUNet", basic, x, y, args.repeats, peak))
    except ImportError:
        results.append({"model": "monai BasicUNet", "skipped": "monai is not installed (pip install -e '.[dev]')"})
    out = {"benchmark": "train_throughput", "input": [args.batch, 3, args.size, args.size], "machine": machine(),
           "matmul_peak_gflops": round(peak, 1), "results": results}
    if "gflops" in results[-1]:
        out["ratio_vs_basicunet"] = round(results[0]["gflops"] / results[-1]["gflops"], 2)
        out["targets"] = {"fraction_of_peak>=0.70": results[0]["fraction_of_peak"] >= 0.70,
                          "ratio_vs_basicunet>=1.5": out["ratio_vs_basicunet"] >= 1.5}
    emit(out)


if __name__ == "__main__":
    main()

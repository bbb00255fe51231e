"""Benchmark: DnCNN inference throughput on 1 x 1 x 512 x 512 (prints JSON).

The issue asks for a comparison with deepinv's DnCNN. deepinv cannot be installed here (pip would pull
torchvision and another torch build), so the opponent is a plain ``nn.Sequential`` reference written in
this file, run in the same process on the same input: the textbook DnCNN stack with the same depth and
width (conv+ReLU, (depth - 2) x conv+BN+ReLU, conv) and the residual subtraction, random weights, eval
mode. It is what any straightforward implementation (deepinv's included) computes per image, so equal
speed is the expected result; what the benchmark guards is that pixelwise adds no overhead. Both are also
timed after ``torch.jit.freeze`` (batch norm folded into the convolutions).

    python benchmarks/restore_throughput.py [--depth 17] [--width 64] [--size 512] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import os

import torch
from _common import best_time, count_flops, emit, machine
from torch import nn

from pixelwise.models import DnCNN


def reference_dncnn(channels: int, depth: int, width: int) -> nn.Module:
    """The same network as a bare ``nn.Sequential`` (no pixelwise code), estimate ``y - f(y)``."""
    layers = [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
    for _ in range(depth - 2):
        layers += [nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
    layers.append(nn.Conv2d(width, channels, 3, padding=1))
    body = nn.Sequential(*layers)

    class Reference(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = body

        def forward(self, y):
            return y - self.body(y)

    return Reference()


def frozen(model: nn.Module, x: torch.Tensor) -> nn.Module:
    with torch.no_grad():
        return torch.jit.freeze(torch.jit.trace(model.eval(), x))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=17)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.rand(1, 1, args.size, args.size)
    models = {"pixelwise_dncnn": DnCNN(1, args.depth, args.width).eval(),
              "reference_sequential": reference_dncnn(1, args.depth, args.width).eval()}
    flops = count_flops(lambda: models["pixelwise_dncnn"](x))
    rows = {}
    with torch.inference_mode(False), torch.no_grad():
        for name, model in models.items():
            for variant, m in (("eager", model), ("frozen", frozen(model, x))):
                seconds = best_time(lambda m=m: m(x), args.repeats, warmup=1)
                rows[f"{name}_{variant}"] = {"seconds_per_image": seconds, "images_per_second": 1 / seconds,
                                             "gflops_per_second": flops / seconds / 1e9}
    emit({"benchmark": "restore_throughput", "input": [1, 1, args.size, args.size], "depth": args.depth,
          "width": args.width, "gflops_per_image": flops / 1e9, "results": rows,
          "ratio_pixelwise_over_reference_eager": rows["reference_sequential_eager"]["seconds_per_image"]
          / rows["pixelwise_dncnn_eager"]["seconds_per_image"],
          "opponent": "plain nn.Sequential of the same depth and width (deepinv is not installable here)",
          "load_average": os.getloadavg(), "machine": machine()})


if __name__ == "__main__":
    main()

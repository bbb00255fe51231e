"""Benchmark: DnCNN inference throughput on 1 x 1 x 512 x 512 against deepinv's DnCNN (prints JSON).

Target: pixelwise at least as fast as deepinv, ``seconds_ratio = deepinv seconds / pixelwise seconds >= 1``.
All networks run in the same process on the same input, random weights, eval mode, ``torch.no_grad``:

- ``pixelwise_dncnn``: ``pixelwise.models.DnCNN(1, depth, width)``, the paper's network: conv+ReLU,
  (depth - 2) x (conv without bias + batch norm + ReLU), conv; estimate ``y - f(y)``.
- ``pixelwise_dncnn_no_bn``: the same with ``batch_norm=False`` (every conv has a bias, no batch norm).
- ``deepinv_dncnn``: ``deepinv.models.DnCNN(in_channels=1, out_channels=1, depth, nf=width, pretrained=None)``.
  What differs from the paper's (and pixelwise's default) network, read from deepinv 0.5.0's source: no
  batch norm, a bias in every conv, and the residual added (``x + f(x)``) instead of subtracted; the
  convolutions and ReLUs are the same. So deepinv's network is ``pixelwise_dncnn_no_bn`` with the last
  layer's sign flipped: the JSON checks this by copying deepinv's weights into pixelwise (max abs difference
  of the outputs), and the headline ratio compares these two (same architecture). The default pixelwise
  network does more work per image in eager mode (batch norm); that ratio is reported as well.
- ``reference_sequential``: the paper's network as a bare ``nn.Sequential`` written in this file (no
  pixelwise code): guards that pixelwise adds no overhead of its own.

Each network is timed eager and after ``torch.jit.freeze`` (batch norm folded into the convolutions).
Timings: median of ``--repeats`` calls after one warm-up. Without deepinv (it needs torchvision, which needs
its own torch build) its rows are left out and the JSON says why. To run against it, from the repository root:

    python3.11 -m venv DIR && DIR/bin/pip install torch==2.14.1 torchvision==0.29.1 deepinv==0.5.0
    DIR/bin/pip install -e . scikit-image
    DIR/bin/python benchmarks/restore_throughput.py [--depth 17] [--width 64] [--size 512] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import os

import torch
from _common import best_time, count_flops, emit, import_deepinv, machine
from torch import nn

from pixelwise.models import DnCNN
from pixelwise.models.inference import optimize_for_inference


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


def deepinv_dncnn(dinv, depth: int, width: int) -> nn.Module:
    return dinv.models.DnCNN(in_channels=1, out_channels=1, depth=depth, bias=True, nf=width, pretrained=None).eval()


def same_map_check(theirs: nn.Module, depth: int, width: int, size: int = 32) -> dict:
    """Copy deepinv's weights into ``DnCNN(batch_norm=False)`` with the last layer negated (deepinv adds the
    residual, pixelwise subtracts it) and compare the outputs on one small random image."""
    ours = DnCNN(1, depth, width, batch_norm=False).eval()
    convs = [theirs.in_conv, *theirs.conv_list, theirs.out_conv]
    mine = [m for m in ours.body if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        for i, (src, dst) in enumerate(zip(convs, mine)):
            sign = -1.0 if i == len(convs) - 1 else 1.0
            dst.weight.copy_(sign * src.weight)
            dst.bias.copy_(sign * src.bias)
        x = torch.rand(1, 1, size, size, generator=torch.Generator().manual_seed(0))
        diff = float((ours(x) - theirs(x)).abs().max())
    count = sum(p.numel() for p in theirs.parameters())
    return {"input": [1, 1, size, size], "max_abs_diff": diff, "parameters_deepinv": count,
            "parameters_pixelwise_no_bn": sum(p.numel() for p in ours.parameters()),
            "parameters_pixelwise_default": sum(p.numel() for p in DnCNN(1, depth, width).parameters()),
            "differences": "deepinv: no batch norm, bias in every conv, x + f(x); pixelwise default: batch norm "
                           "in the middle layers (their convs without bias), y - f(y)"}


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
    dinv, status = import_deepinv()
    torch.manual_seed(0)
    x = torch.rand(1, 1, args.size, args.size)
    models = {"pixelwise_dncnn": DnCNN(1, args.depth, args.width).eval(),
              "pixelwise_dncnn_no_bn": DnCNN(1, args.depth, args.width, batch_norm=False).eval(),
              "reference_sequential": reference_dncnn(1, args.depth, args.width).eval()}
    # the paper's network with its batch norm folded into the convolutions (pixelwise.models.inference)
    models["pixelwise_dncnn_folded_bn"] = optimize_for_inference(models["pixelwise_dncnn"], shuffle_up=False)
    models["pixelwise_dncnn_folded_bn"].to(memory_format=torch.contiguous_format)
    check = None
    if dinv is not None:
        models["deepinv_dncnn"] = deepinv_dncnn(dinv, args.depth, args.width)
        check = same_map_check(models["deepinv_dncnn"], args.depth, args.width)
    flops = count_flops(lambda: models["pixelwise_dncnn"](x))
    rows = {}
    with torch.inference_mode(False), torch.no_grad():
        for name, model in models.items():
            for variant, m in (("eager", model), ("frozen", frozen(model, x))):
                seconds = best_time(lambda m=m: m(x), args.repeats, warmup=1)
                rows[f"{name}_{variant}"] = {"seconds_per_image": seconds, "images_per_second": 1 / seconds,
                                             "gflops_per_second": flops / seconds / 1e9}

    def ratio(opponent: str, ours: str) -> float:
        return rows[opponent]["seconds_per_image"] / rows[ours]["seconds_per_image"]

    result = {"benchmark": "restore_throughput", "input": [1, 1, args.size, args.size], "depth": args.depth,
              "width": args.width, "gflops_per_image": flops / 1e9, "deepinv": status,
              "target": "pixelwise at least as fast as deepinv: seconds_ratio = deepinv / pixelwise >= 1",
              "results": rows,
              "ratio_pixelwise_over_reference_eager": ratio("reference_sequential_eager", "pixelwise_dncnn_eager"),
              "opponents": "deepinv.models.DnCNN (same depth and width) when it imports; a plain nn.Sequential of "
                           "the paper's network"}
    if dinv is not None:
        result["deepinv_same_map_check"] = check
        pairs = {"same_architecture": "pixelwise_dncnn_no_bn", "pixelwise_default_bn": "pixelwise_dncnn",
                 "pixelwise_default_bn_folded": "pixelwise_dncnn_folded_bn"}
        result["seconds_ratio_deepinv_over_pixelwise"] = {
            f"{kind}_{variant}": ratio(f"deepinv_dncnn_{variant}", f"{ours}_{variant}")
            for kind, ours in pairs.items() for variant in ("eager", "frozen")}
        result["pixelwise_at_least_as_fast_as_deepinv"] = (
            result["seconds_ratio_deepinv_over_pixelwise"]["same_architecture_eager"] >= 1)
    result.update({"load_average": os.getloadavg(), "machine": machine()})
    emit(result)


if __name__ == "__main__":
    main()

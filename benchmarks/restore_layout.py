"""Benchmark: the restoration networks channels-last (as ``restore`` builds them) against the standard layout.

For each network of ``restore`` (:data:`pixelwise.tasks.restore.models.MODELS` but the unrolled one, which applies
the operator to its activations and stays in the standard layout), built by ``build_model`` exactly as ``restore
train`` builds it (weights channels-last) and the same network with its weights copied to the standard
(contiguous) layout, in the same process on the same inputs:

- ``train``: one training step (forward, mean squared error, backward, Adam) on a batch of ``--batch`` grey
  ``--patch`` x ``--patch`` patches, as ``restore train`` feeds it (the naive image, or the measurement);
- ``infer``: one ``torch.no_grad`` forward pass on one grey ``--size`` x ``--size`` image, as a plug-and-play
  denoiser call or ``restore predict`` makes.

Prints JSON: median seconds of ``--repeats`` calls after two warm-up calls, the speed-up
(``contiguous seconds / channels-last seconds``), and the largest difference between the two layouts' outputs
(the same arithmetic in another order: float32 rounding). oneDNN, PyTorch's CPU convolution library, computes in
a channels-last (NHWC) layout and converts standard-layout tensors to it and back at every convolution.

    python benchmarks/restore_layout.py [--batch 16 --patch 40 --size 240 --repeats 10 --threads 2]
"""

from __future__ import annotations

import argparse
import copy

import torch
from _common import best_time, emit, machine

from pixelwise.physics.presets import Measurement, build_operator
from pixelwise.tasks.restore import RestorationConfig, build_model
from pixelwise.train import tune_malloc

# network -> the task it is timed on (the post-upsampling network needs a down-sampling operator)
NETWORKS = {"dncnn": "denoise", "unet": "denoise", "srcnn": "sr", "vdsr": "sr", "post": "sr"}


def _config(model: str, task: str) -> RestorationConfig:
    told = dict(noise_map=True, sigma_range=(1.0, 50.0)) if model == "unet" else {}
    measurement = Measurement(operator="downsample", scale=2) if task == "sr" else Measurement(operator="denoise")
    return RestorationConfig(data="unused", model=model, measurement=measurement, **told)


def _timed(restorer, train: tuple, infer: tuple, repeats: int) -> dict:
    """Median seconds of a training step on ``train`` and of an inference on ``infer`` (each ``(y, op)``)."""
    target = torch.rand_like(train[1].A_adjoint(train[0]))  # an image of the size the network answers
    opt = torch.optim.Adam(restorer.parameters(), lr=1e-4)

    def step():
        loss = (restorer(train) - target).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    restorer.train()
    train_seconds = best_time(step, repeats)
    restorer.eval()
    with torch.no_grad():
        infer_seconds = best_time(lambda: restorer(infer), repeats)
    return {"train_seconds": round(train_seconds, 4), "infer_seconds": round(infer_seconds, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=40, help="training patch side (a multiple of 8)")
    parser.add_argument("--size", type=int, default=240, help="inference image side (a multiple of 8)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--models", default=",".join(NETWORKS))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    malloc = tune_malloc()
    rows = {}
    for name in args.models.split(","):
        task = NETWORKS[name]
        config = _config(name, task)
        torch.manual_seed(0)
        built = build_model(config)
        standard = copy.deepcopy(built)
        standard.net.to(memory_format=torch.contiguous_format)
        small, big = (args.patch, args.patch), (args.size, args.size)
        op_train = build_operator(config.measurement, small)
        op_infer = build_operator(config.measurement, big)
        gen = torch.Generator().manual_seed(0)
        train_y = op_train.A(torch.rand(args.batch, 1, *small, generator=gen))
        infer_y = op_infer.A(torch.rand(1, 1, *big, generator=gen))
        with torch.no_grad():  # the same weights in both layouts: the same answer but for float32 rounding
            a, b = built.eval()((infer_y, op_infer)), standard.eval()((infer_y, op_infer))
        last = _timed(built, (train_y, op_train), (infer_y, op_infer), args.repeats)
        plain = _timed(standard, (train_y, op_train), (infer_y, op_infer), args.repeats)
        rows[name] = {"task": task, "channels_last": last, "contiguous": plain,
                      "train_speedup": round(plain["train_seconds"] / last["train_seconds"], 2),
                      "infer_speedup": round(plain["infer_seconds"] / last["infer_seconds"], 2),
                      "max_abs_difference": float((a - b).abs().max()),
                      "weights_channels_last": all(p.is_contiguous(memory_format=torch.channels_last)
                                                   for p in built.parameters() if p.dim() == 4)}
    emit({"benchmark": "restore_layout", "machine": machine(), "malloc": malloc, "batch": args.batch,
          "patch": args.patch, "size": args.size, "networks": rows})


if __name__ == "__main__":
    main()

"""Utility against privacy for DP-SGD: MNIST-5k classifier accuracy and Kvasir-SEG U-Net Dice at each target
epsilon (JSON on stdout).

For every --epsilons value (``inf``: the same model trained without DP-SGD, the reference) one run of the same
architecture, data, split, seed and number of epochs: the digit classifier with group normalisation
(`classify train --norm group --dp-clip C --dp-epsilon E`), and, with --kvasir, the U-Net with group normalisation
(`segment train --norm group ...`). The noise is calibrated to reach E (delta 1e-5 for MNIST, below 1/N for
Kvasir) over the planned epochs with Poisson sampling (pixelwise's RDP accountant, which agrees with Opacus's);
the JSON gives, per epsilon, the test metric (mean and bootstrap interval), the epsilon actually spent, the noise
multiplier and the training time.

Full size (the lead runs it):

    .venv/bin/python benchmarks/dp_sgd.py --mnist ../shared/data/mnist-5k/mnist-5k.npz --epochs 30 \\
        --kvasir ../shared/data/kvasir-seg-880 --kvasir-epochs 30 --work /tmp/dpsgd

Toy size (a minute): --mnist digits --max-images 300 --epochs 1 --epsilons 8,inf
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from _common import emit, machine


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _privacy(eps: float, clip: float, delta: float):
    from pixelwise.train.protection import PrivacyConfig

    return PrivacyConfig() if math.isinf(eps) else PrivacyConfig(dp_clip=clip, dp_epsilon=eps, dp_delta=delta)


def _row(eps: float, result, metric: str) -> dict:
    m = result.metrics
    value = m["metrics"]["correct"] if metric == "accuracy" else m["metrics"]["dice"]
    privacy = m.get("privacy", {})
    return {"target_epsilon": None if math.isinf(eps) else eps, metric: value["mean"],
            f"{metric}_ci": [value["ci_low"], value["ci_high"]], "epsilon_spent": privacy.get("epsilon"),
            "noise_multiplier": privacy.get("noise_multiplier"), "epochs": len(result.history),
            "seconds": round(result.seconds, 1)}


def _mnist(args, eps: float):
    from pixelwise.tasks.classify import ClassifyConfig, run

    config = ClassifyConfig(data=args.mnist, out=str(Path(args.work) / f"mnist-eps{eps:g}"), norm="group",
                            max_images=args.max_images, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                            seed=args.seed, privacy=_privacy(eps, args.clip, 1e-5))
    return run(config, overwrite=True, progress=False, log=log)


def _kvasir(args, eps: float):
    from pixelwise.tasks.segment import SegmentationConfig, run

    config = SegmentationConfig(data=args.kvasir, out=str(Path(args.work) / f"kvasir-eps{eps:g}"), norm="group",
                                size=args.size, base_channels=16, split=(0.7, 0.1, 0.2), epochs=args.kvasir_epochs,
                                batch_size=16, lr=2e-3, schedule="onecycle", seed=args.seed,
                                privacy=_privacy(eps, args.clip, 1e-4))
    return run(config, overwrite=True, progress=False, log=log)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mnist", required=True, help="mnist-5k.npz (or digits, mnist)")
    p.add_argument("--max-images", type=int, default=None)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128, help="the expected Poisson batch")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--epsilons", default="1,2,4,8,inf", help="comma-separated targets; inf = no DP-SGD")
    p.add_argument("--kvasir", default=None, help="images/ and masks/: also the U-Net's Dice against epsilon")
    p.add_argument("--kvasir-epochs", type=int, default=30)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--work", default="/tmp/pixelwise-dpsgd")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    epsilons = [float(e) for e in args.epsilons.split(",")]
    t0 = time.perf_counter()
    out = {"benchmark": "dp_sgd", "clip": args.clip, "sampling": "Poisson", "accountant": "pixelwise RDP (= Opacus)"}
    out["mnist"] = {"data": args.mnist, "epochs": args.epochs, "batch_size": args.batch_size, "delta": 1e-5,
                    "rows": []}
    for eps in epsilons:
        log(f"MNIST classifier, epsilon {eps}")
        out["mnist"]["rows"].append(_row(eps, _mnist(args, eps), "accuracy"))
    if args.kvasir:
        out["kvasir"] = {"data": args.kvasir, "epochs": args.kvasir_epochs, "size": args.size, "delta": 1e-4,
                         "rows": []}
        for eps in epsilons:
            log(f"Kvasir U-Net, epsilon {eps}")
            out["kvasir"]["rows"].append(_row(eps, _kvasir(args, eps), "dice"))
    out.update(seconds=round(time.perf_counter() - t0, 1), machine=machine())
    emit(out)


if __name__ == "__main__":
    main()

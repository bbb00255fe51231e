"""MNIST SimCLR linear probe: the U-Net encoder pretrained with SimCLR for ``--minutes``, then linear-probed against a
random encoder and a supervised one in the same run.

The digits of ``--data`` (mnist-5k.npz: 5,000 MNIST training digits with labels) are split with the seed into a
pretraining part and a test part (``--test-fraction``). SimCLR sees the pretraining part without its labels; the
linear probes train on the pretraining part's features and labels and are scored on the test part, which the
encoder never saw (``pixelwise pretrain eval --probe --test-data``). The supervised reference trains the same
encoder end to end with the labels for ``--supervised-minutes``. Prints JSON. Target (issue 21): linear-probe
accuracy >= 95% after 10 minutes of pretraining, reported beside the random-encoder and supervised probes.

    python benchmarks/simclr_probe.py --data ../shared/data/mnist-5k/mnist-5k.npz --minutes 10 \\
        [--supervised-minutes 5] [--out runs/simclr-mnist]

SimCLR: T. Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020.
MNIST: Y. LeCun, C. Cortes and C. Burges.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from _common import emit, machine

from pixelwise.tasks.pretrain import PretrainConfig, probe, run


def _split_npz(source: str, out: Path, test_fraction: float, seed: int) -> tuple[Path, Path]:
    with np.load(source) as f:
        images, labels = f["images"], f["labels"]
    order = np.random.default_rng(seed).permutation(len(images))
    n_test = round(test_fraction * len(images))
    out.mkdir(parents=True, exist_ok=True)
    paths = out / "pretrain-part.npz", out / "test-part.npz"
    for path, idx in zip(paths, (np.sort(order[n_test:]), np.sort(order[:n_test]))):
        np.savez(path, images=images[idx], labels=labels[idx])
    return paths


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="an .npz with images (N, 28, 28) and labels (mnist-5k.npz)")
    p.add_argument("--out", default="runs/simclr-mnist")
    p.add_argument("--minutes", type=float, default=10, help="SimCLR pretraining budget")
    p.add_argument("--supervised-minutes", type=float, default=5, help="the supervised reference's budget")
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--base-channels", type=int, default=32)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--temperature", type=float, default=0.5)
    p.add_argument("--crop-scale", default="0.4,1")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=1000, help="upper bound of the epochs (toy runs: 1)")
    args = p.parse_args()
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731 (progress on stderr, the JSON alone on stdout)
    out, t0 = Path(args.out), time.perf_counter()
    train, test = _split_npz(args.data, out / "data", args.test_fraction, args.seed)
    config = PretrainConfig(data=str(train), out=str(out / "simclr"), method="simclr", channels=1, size=args.size,
                            base_channels=args.base_channels, depth=args.depth, batch_size=args.batch_size,
                            temperature=args.temperature, flips="none", grey_p=0.0, lr=args.lr,
                            crop_scale=tuple(float(v) for v in args.crop_scale.split(",")), minutes=args.minutes,
                            epochs=args.epochs, seed=args.seed)
    pre = run(config, progress=False, log=log, overwrite=True)
    metrics = probe(pre.run_dir, str(train), test_data=str(test), supervised_minutes=args.supervised_minutes,
                    supervised_epochs=args.epochs, progress=False, log=log)
    gains = metrics["probe"]["gain"]
    emit({"benchmark": "simclr_probe", "machine": machine(), "data": args.data, "pretrain_minutes": args.minutes,
          "pretrain_epochs": len(pre.history), "pretext_top1": pre.metrics["metrics"]["top1"]["mean"],
          "train_images": metrics["train_images"], "test_images": metrics["test_images"],
          "accuracy": {k: {s: v["correct"][s] for s in ("mean", "ci_low", "ci_high")}
                       for k, v in metrics["probe"]["summary"].items()},
          "pretrained_minus": {k: {s: v["correct"][s] for s in ("mean", "ci_low", "ci_high")}
                               for k, v in gains.items()},
          "total_minutes": round((time.perf_counter() - t0) / 60, 2),
          "target_probe>=0.95": metrics["accuracy"]["pretrained"] >= 0.95})


if __name__ == "__main__":
    main()

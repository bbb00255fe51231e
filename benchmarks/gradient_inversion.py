"""What one shared gradient leaks, without and with DP-SGD: gradient-inversion PSNR on MNIST (JSON on stdout).

Two digit classifiers of the same architecture (group normalisation) are trained on MNIST-5k: one plainly, one
with DP-SGD at --epsilon (delta 1e-5; the noise calibrated over the same epochs). Then, for each --batches size B,
`pixelwise invert` (Geiping et al. 2020: cosine distance, TV prior, labels known) recovers B training images from:

- ``plain``: the plain gradient at the plain run's weights;
- ``dp_same_weights``: DP-SGD's gradient (the DP run's clip and noise multiplier) at the same weights, so that the
  only difference is the privatisation;
- ``dp_run``: the DP run's own gradient at its own weights (what a client of that run would share).

Each gives the mean PSNR over --repeats draws of the batch (seeds 0, 1, ...) with a bootstrap interval, and the
PSNR of a constant image at each true image's mean (the floor). Target: DP at epsilon <= 8 lowers the recovered
PSNR by at least 10 dB (``drop_db``: plain minus dp_same_weights).

Full size (the lead runs it):

    .venv/bin/python benchmarks/gradient_inversion.py --mnist ../shared/data/mnist-5k/mnist-5k.npz --epochs 10 \\
        --epsilon 8 --batches 1,4,16 --iterations 2000 --repeats 8 --work /tmp/inversion

Toy size (a minute): --mnist digits --max-images 300 --epochs 1 --batches 1 --iterations 30 --repeats 1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _common import emit, machine


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _train(args, name: str, private: bool):
    from pixelwise.tasks.classify import ClassifyConfig, run
    from pixelwise.train.protection import PrivacyConfig

    privacy = PrivacyConfig(dp_clip=args.clip, dp_epsilon=args.epsilon, dp_delta=1e-5) if private else PrivacyConfig()
    config = ClassifyConfig(data=args.mnist, out=str(Path(args.work) / name), norm="group", max_images=args.max_images,
                            epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, privacy=privacy)
    return run(config, overwrite=True, progress=False, log=log)


def _invert(args, run_dir: Path, batch: int, seed: int, dp: tuple[float, float] | None, tag: str) -> dict:
    from pixelwise.tasks.invert import InvertConfig, run

    clip, noise = dp if dp is not None else (None, None)
    config = InvertConfig(run=str(run_dir), batch=batch, iterations=args.iterations, tv_weight=args.tv_weight,
                          dp_clip=clip, dp_noise=noise, seed=seed,
                          out=str(run_dir / "evaluations" / f"benchmark-{tag}-b{batch}-s{seed}"))
    return run(config, progress=False, log=log)


def main() -> None:
    from pixelwise.metrics import summarise

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mnist", required=True, help="mnist-5k.npz (or digits, mnist)")
    p.add_argument("--max-images", type=int, default=None)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128, help="training batch (DP: the expected Poisson batch)")
    p.add_argument("--epsilon", type=float, default=8.0)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--batches", default="1,4,16", help="sizes of the attacked batch")
    p.add_argument("--iterations", type=int, default=2000)
    p.add_argument("--tv-weight", type=float, default=1e-2)
    p.add_argument("--repeats", type=int, default=8, help="batches drawn per size (seeds 0, 1, ...)")
    p.add_argument("--work", default="/tmp/pixelwise-inversion")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    t0 = time.perf_counter()
    plain, private = _train(args, "plain", False), _train(args, "dp", True)
    dp = (private.metrics["privacy"]["clip"], private.metrics["privacy"]["noise_multiplier"])
    rows = {}
    for batch in (int(b) for b in args.batches.split(",")):
        found = {"plain": [], "dp_same_weights": [], "dp_run": [], "constant_image": []}
        for seed in range(args.repeats):
            log(f"batch {batch}, draw {seed}")
            m = _invert(args, plain.run_dir, batch, seed, None, "plain")
            found["plain"].append(m["psnr"]["mean"])
            found["constant_image"].append(m["reference_psnr"]["mean"])
            found["dp_same_weights"].append(_invert(args, plain.run_dir, batch, seed, dp, "dp")["psnr"]["mean"])
            found["dp_run"].append(_invert(args, private.run_dir, batch, seed, None, "own")["psnr"]["mean"])
        rows[str(batch)] = {k: summarise(v, seed=args.seed) for k, v in found.items()}
        rows[str(batch)]["drop_db"] = summarise([a - b for a, b in zip(found["plain"], found["dp_same_weights"])],
                                                seed=args.seed)
    emit({"benchmark": "gradient_inversion", "data": args.mnist, "attack": "Geiping et al. 2020 (cosine, TV, "
          "labels known)", "iterations": args.iterations, "tv_weight": args.tv_weight,
          "runs": {"plain_accuracy": plain.metrics["accuracy"], "dp_accuracy": private.metrics["accuracy"],
                   "dp_epsilon_spent": private.metrics["privacy"]["epsilon"], "dp_clip": dp[0],
                   "dp_noise_multiplier": dp[1]},
          "target": "drop_db >= 10 at epsilon <= 8", "by_batch": rows,
          "seconds": round(time.perf_counter() - t0, 1), "machine": machine()})


if __name__ == "__main__":
    main()

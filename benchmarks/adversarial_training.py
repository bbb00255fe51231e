"""Standard against adversarial training of the segmentation U-Net at the same budget: clean and attacked Dice
(JSON on stdout).

Two `segment train` runs on the same data, split, seed, model and time budget: one standard, one with
`--adversarial pgd` (or fgsm) at --train-epsilon, mixing clean and adversarial losses with weight 0.5 (Goodfellow
et al. 2015). Both are then attacked with PGD (10 steps, random start, Madry et al. 2018) at each --epsilon on the
same test cases (`pixelwise attack`); the JSON gives each run's Dice per epsilon (mean and bootstrap interval) and
the adversarial run's gain over the standard one, paired by case, at every epsilon (epsilon 0: the clean Dice,
where adversarial training usually costs a little).

Full size (the lead runs it; 2 x --minutes of training on 2 cores, then the attacks):

    .venv/bin/python benchmarks/adversarial_training.py --data ../shared/data/kvasir-seg-880 --minutes 60 \\
        --work /tmp/advtrain

Toy size (a minute): --data A_SMALL_FOLDER --size 32 --base-channels 4 --depth 2 --epochs 1 --max-cases 4 --steps 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _common import emit, machine


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _train(args, out: Path, adversarial: str | None):
    from pixelwise.tasks.segment import SegmentationConfig, run
    from pixelwise.train.protection import AdversarialConfig

    robust = AdversarialConfig(adversarial=adversarial, epsilon=args.train_epsilon, adv_steps=args.train_steps)
    config = SegmentationConfig(data=args.data, out=str(out), size=args.size, base_channels=args.base_channels,
                                depth=args.depth, schedule="onecycle", lr=2e-3, split=(0.7, 0.1, 0.2),
                                minutes=args.minutes, epochs=args.epochs, seed=args.seed, robustness=robust)
    return run(config, overwrite=True, progress=False, log=log)


def _attack(args, run_dir: Path) -> dict:
    from pixelwise.tasks.attack import AttackConfig, run

    config = AttackConfig(run=str(run_dir), method="pgd", epsilons=tuple(args.epsilons), steps=args.steps,
                          max_cases=args.max_cases, seed=args.seed, out=str(run_dir / "evaluations" / "benchmark-pgd"))
    return run(config, progress=False, log=log)


def main() -> None:
    from pixelwise.metrics import paired_summaries
    from pixelwise.train.files import read_csv
    from pixelwise.train.protection import fraction

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="images/ and masks/ (e.g. ../shared/data/kvasir-seg-880)")
    p.add_argument("--work", default="/tmp/pixelwise-advtrain", help="where the two runs are written")
    p.add_argument("--minutes", type=float, default=None, help="training budget of each run")
    p.add_argument("--epochs", type=int, default=None, help="epochs of each run (with --minutes: the upper bound)")
    p.add_argument("--size", type=int, default=192)
    p.add_argument("--base-channels", type=int, default=16)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--train-attack", default="pgd", choices=("fgsm", "pgd"))
    p.add_argument("--train-epsilon", type=fraction, default=2 / 255)
    p.add_argument("--train-steps", type=int, default=3, help="PGD steps while training")
    p.add_argument("--epsilon", dest="epsilons", type=lambda t: [fraction(v) for v in t.split(",")],
                   default=[1 / 255, 2 / 255, 4 / 255, 8 / 255], help="attack radii, e.g. 1/255,2/255")
    p.add_argument("--steps", type=int, default=10, help="PGD steps of the evaluation attack")
    p.add_argument("--max-cases", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    t0 = time.perf_counter()
    work = Path(args.work)
    runs, curves, rows = {}, {}, {}
    for name, adversarial in (("standard", None), ("adversarial", args.train_attack)):
        log(f"training the {name} run")
        result = _train(args, work / name, adversarial)
        runs[name] = {"epochs": len(result.history), "seconds": round(result.seconds, 1),
                      "test_dice_full_size": result.metrics["metrics"]["dice"]["mean"]}
        curves[name] = _attack(args, work / name)["curve"]
        rows[name] = read_csv(work / name / "evaluations" / "benchmark-pgd" / "per_case.csv")
    paired = {}
    for eps in sorted({r["epsilon"] for r in rows["standard"]}):
        a = {r["id"]: r["dice"] for r in rows["adversarial"] if r["epsilon"] == eps}
        b = {r["id"]: r["dice"] for r in rows["standard"] if r["epsilon"] == eps}
        joined = [{"dice_adversarial": a[k], "dice_standard": b[k]} for k in sorted(a)]
        paired[f"{eps:.5f}"] = paired_summaries(joined, ("adversarial", "standard"), ("dice",), "adversarial",
                                                args.seed)["gain"]["standard"]
    emit({"benchmark": "adversarial_training", "data": args.data, "budget_minutes": args.minutes,
          "train": {"attack": args.train_attack, "epsilon": args.train_epsilon, "steps": args.train_steps,
                    "weight": 0.5},
          "evaluation_attack": {"method": "pgd", "steps": args.steps, "random_start": True,
                                "scored": "Dice at the training size"},
          "runs": runs, "curves": curves, "adversarial_gain_over_standard_by_epsilon": paired,
          "seconds": round(time.perf_counter() - t0, 1), "machine": machine()})


if __name__ == "__main__":
    main()

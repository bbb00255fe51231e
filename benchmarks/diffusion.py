"""Benchmark: DDPM samples judged by a digit classifier trained by pixelwise (JSON).

    PYTHONPATH=src python benchmarks/diffusion.py --data /path/to/mnist-5k.npz --minutes 10 \\
        --out runs/bench-diffusion

The issue's target (after at most 30 minutes of DDPM training on 2 cores): of 64 samples, the classifier
finds all 10 classes and classifies at least 80% with confidence above 0.9. The classifier is trained on
90% of the same labelled digits (its validation accuracy on the other 10% is reported), the DDPM on all
images (it never sees labels).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="an .npz of digits with labels, or 'mnist' / 'digits'")
    p.add_argument("--minutes", type=float, default=10.0, help="DDPM training budget (the target allows 30)")
    p.add_argument("--classifier-minutes", type=float, default=2.0)
    p.add_argument("--T", type=int, default=200, dest="T")
    p.add_argument("--schedule", default="cosine")
    p.add_argument("--base", type=int, default=24)
    p.add_argument("--mults", default="1,2,2")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--threads", type=int, default=2, help="torch threads (the target is for 2 cores)")
    p.add_argument("--ema", type=float, default=0.999, help="decay of the sampled weight average; 0 = raw weights")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/bench-diffusion")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    from pixelwise.data.imagesets import load_image_set
    from pixelwise.tasks.classify import ClassifierConfig, mode_coverage, train_classifier
    from pixelwise.tasks.diffusion import DiffusionConfig, generate, run

    torch.set_num_threads(args.threads)
    say = lambda m: print(m, file=sys.stderr)  # noqa: E731
    t0 = time.perf_counter()
    data = load_image_set(args.data)
    if data.labels is None:
        raise SystemExit("the benchmark needs labelled digits (an .npz with 'labels', 'mnist' or 'digits').")
    out = Path(args.out)
    classifier_config = ClassifierConfig(epochs=1000, minutes=args.classifier_minutes, seed=args.seed)
    classifier, accuracy = train_classifier(data.images, data.labels, classifier_config, out / "classifier",
                                            log=say)
    say(f"classifier validation accuracy {accuracy:.4f}")
    config = DiffusionConfig(data=args.data, out=str(out / "ddpm"), T=args.T, schedule=args.schedule,
                             base=args.base, mults=tuple(int(m) for m in args.mults.split(",")), epochs=1000,
                             minutes=args.minutes, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                             n_samples=args.samples, ema=args.ema or None)
    result = run(config, overwrite=True, progress=False, log=say)
    samples = generate(result.run_dir, args.samples, args.seed)
    coverage = mode_coverage(classifier, samples)
    report = {
        "benchmark": "DDPM samples under a pixelwise digit classifier",
        "data": str(args.data),
        "classifier": {"val_accuracy": accuracy, "minutes": args.classifier_minutes},
        "ddpm": {"T": args.T, "schedule": args.schedule, "base": args.base, "mults": args.mults, "ema": args.ema,
                 "epochs": len(result.history), "budget_minutes": args.minutes,
                 "train_minutes": round(sum(h["seconds"] for h in result.history) / 60, 2),
                 "final_val_eps_mse": result.history[-1]["val_loss"], "threads": args.threads,
                 "sampling_seconds": result.metrics["sampling_seconds"]},
        "samples": args.samples,
        "mode_coverage": coverage,
        "target": "all 10 classes found and >= 80% of samples with confidence > 0.9, within 30 minutes",
        "target_met": bool(coverage["classes_found"] == 10 and coverage["confident_fraction"] >= 0.8),
        "samples_png": str(result.run_dir / "plots" / "samples.png"),
        "seconds_total": round(time.perf_counter() - t0, 1),
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

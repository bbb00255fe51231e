"""The course's bottleneck experiment and the "random vectors into the decoder" check (JSON + one grid).

    PYTHONPATH=src python benchmarks/latent_bottleneck.py --data /path/to/mnist-5k.npz --dims 2,4,32 \\
        --minutes 1 --out runs/bench-bottleneck

For each d: the same conv AE (and, with --vae, a conv VAE) trained for --minutes, its test MSE per pixel
next to PCA-d fitted on the same training images; for 256 decoded N(0, I) codes ("random vectors into the
decoder"), the share that a digit classifier trained by pixelwise on the training images labels with
probability > 0.9 (how digit-like they are) and, as a cruder measure, the mean MSE to the nearest
training image. A grid of originals and reconstructions for every
d is written to OUT/bottleneck.png. The test part is a held-out 20% of --data (not the official MNIST test).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--dims", default="2,4,32")
    p.add_argument("--minutes", type=float, default=1.0, help="budget per model")
    p.add_argument("--vae", action="store_true", help="also train a conv VAE per d (random decodes)")
    p.add_argument("--base", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--max-images", type=int, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--classifier-minutes", type=float, default=1.0,
                   help="budget of the digit classifier that judges the random decodes (labelled data only)")
    p.add_argument("--reuse", action="store_true", help="score existing run folders in --out, do not train")
    p.add_argument("--out", default="runs/bench-bottleneck")
    args = p.parse_args(argv)

    from pixelwise.report.latent import image_grid
    from pixelwise.tasks.classify import ClassifierConfig, mode_coverage, train_classifier
    from pixelwise.tasks.latent import LatentConfig, load_data, load_run, random_decodes, reconstruct, run

    torch.set_num_threads(args.threads)
    dims = [int(d) for d in args.dims.split(",")]
    out = Path(args.out)
    t0 = time.perf_counter()
    rows, grid, titles = [], None, []
    classifier = None
    for d in dims:
        for model in ["convae", "vae"] if args.vae else ["convae"]:
            config = LatentConfig(data=args.data, out=str(out / f"{model}-d{d}"), model=model, latent_dim=d,
                                  base=args.base, minutes=args.minutes, lr=args.lr, max_images=args.max_images,
                                  split=(0.72, 0.08, 0.2), seed=args.seed)
            if args.reuse:
                run_dir = Path(config.out)
                m = json.loads((run_dir / "metrics.json").read_text())
                epochs = len((run_dir / "history.csv").read_text().splitlines()) - 1
            else:
                result = run(config, overwrite=True, progress=False, log=lambda m: print(m, file=sys.stderr))
                run_dir, m, epochs = result.run_dir, result.metrics, len(result.history)
            cfg, net = load_run(run_dir)
            split = json.loads((Path(run_dir) / "split.json").read_text())
            data = load_data(cfg)
            scores = m["metrics"]  # per-image summaries: mean, median, std, bootstrap interval, n
            row = {"model": model, "d": d, "test_mse": scores["mse"]["mean"],
                   "test_mse_ci95": [scores["mse"]["ci_low"], scores["mse"]["ci_high"]],
                   "pca_test_mse": scores["pca_mse"]["mean"],
                   "random_decode_nearest_train_mse": scores["random_decode_nearest_train_mse"]["mean"],
                   "epochs": epochs}
            if data.labels is not None:
                if classifier is None:
                    train = np.asarray(split["train"])
                    classifier, accuracy = train_classifier(
                        data.images[train], data.labels[train],
                        ClassifierConfig(epochs=1000, minutes=args.classifier_minutes, seed=args.seed),
                        log=lambda m: None)
                    print(f"classifier validation accuracy {accuracy:.3f}", file=sys.stderr)
                cov = mode_coverage(classifier, random_decodes(net, cfg, 256, args.seed))
                row["random_decodes_confident_fraction"] = cov["confident_fraction"]
                row["random_decodes_classes_found"] = cov["classes_found"]
            rows.append(row)
            if model == "convae":
                spread = np.linspace(0, len(split["test"]) - 1, 12).round().astype(int)  # every class
                test = torch.from_numpy(data.images[np.asarray(split["test"])[spread]])
                if grid is None:
                    grid, titles = [test.numpy()], ["originals"]
                grid.append(reconstruct(net, test)["x_hat"].numpy())
                titles.append(f"d = {d}: MSE {scores['mse']['mean']:.4f} (PCA-{d} {scores['pca_mse']['mean']:.4f})")
    image_grid(grid, out / "bottleneck.png", titles, "conv AE reconstructions of held-out digits")
    report = {"benchmark": "bottleneck: conv AE (and VAE) for several d vs PCA-d; random vectors into the "
                           "decoder",
              "data": str(args.data),
              "test_set": f"held-out 20% (seed {args.seed}), not the official MNIST test",
              "minutes_per_model": args.minutes, "rows": rows, "grid": str(out / "bottleneck.png"),
              "seconds_total": round(time.perf_counter() - t0, 1), "numpy": np.__version__}
    text = json.dumps(report, indent=1)
    print(text)
    (out / "bottleneck.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: DDPM samples judged by a digit classifier trained by pixelwise (JSON).

    PYTHONPATH=src python benchmarks/diffusion.py --data /path/to/mnist-5k.npz --minutes 10 \\
        --out runs/bench-diffusion

The issue's target (after at most 30 minutes of DDPM training on 2 cores): of 64 samples, the classifier
finds all 10 classes and classifies at least 80% with confidence above 0.9. The classifier is trained on
90% of the same labelled digits (its validation accuracy on the other 10% is reported), the DDPM on all
images (it never sees labels).

One draw of 64 samples is noisy: its confident fraction moves by several points from seed to seed. So
``--draws K`` draws K sets of 64 with seeds seed, seed+1, ... and reports each and their mean. The target is
judged on the first draw (the issue's protocol) and, separately, on the mean over the draws. ``--reuse``
skips training when OUT already holds this benchmark's trained classifier and DDPM run, e.g. to compare
``--variance`` choices on the same model; the drawn samples are kept in OUT/ddpm/draws/ and scored again,
not drawn again.

The judge's own ceiling is reported beside the samples: ``real_digits`` is the same measure on the
classifier's held-out real digits (its validation split, never trained on), so a confident fraction of
samples can be read against what real digits score under the same classifier.
``confident_fraction_on_non_digits`` is the same measure on images that are no digit: uniform noise, real
digits with their pixels shuffled, and random pen strokes (``scribbles``). A judge that calls these
confidently would pass any sampler.

The judge (default since 2026-12-01) is trained with outlier exposure (``--outlier-exposure 0.5``; Hendrycks,
Mazeika and Dietterich, ICLR 2019; see ``pixelwise.tasks.classify``): also on synthetic non-digits (noise,
shuffled pixels, smooth blobs) towards uniform class probabilities. ``--outlier-exposure 0`` gives the plain
classifier of earlier runs. Measured on mnist-5k, 2 minutes of judge training, on the same six draws of one
DDPM (base 24, 196 epochs in 28.5 min):

    judge                       val acc   real   noise  shuffled  scribbles  DDPM samples  2-min DDPM
    plain, seed 0               0.968     0.93   0.35   0.47      0.47       0.81          0.64
    plain, seed 1               0.974     0.95   1.00   0.58      0.48       0.84
    outlier exposure, seed 0    0.974     0.92   0.00   0.00      0.16       0.73          0.44
    outlier exposure, seed 1    0.982     0.92   0.00   0.00      0.15       0.71
    augment + OE (4 min)        0.994     0.94   0.00   0.00      0.28       0.73

(scribbles are a kind the outlier-exposure judge never saw in training.) Plain judges trained by the same
recipe disagree on the same samples by up to 0.10 (0.79 to 0.89 on a base-32 DDPM) and on noise by 0.35 to
1.00; so their "80% confident" says little. Judges with outlier exposure reject noise, and rank real digits,
the 30-minute DDPM, the 2-minute DDPM and scribbles in that order.

Under the three outlier-exposure judges above (the same judges, the same seeds of draws), no 30-minute DDPM
reached 0.80 on the mean over six draws with the ancestral sampler alone (the predictor-corrector sampler
below does): base 24: 0.73, 0.71, 0.73; base 32 (130 epochs): 0.73, 0.71, 0.77;
base 24 with ``--attention 4`` (166 epochs): 0.77, 0.74, 0.78 (one training seed each).

``--conditional`` trains a class-conditional DDPM instead (labels hidden with probability ``--label-dropout``,
so the same net is also unconditional; Ho and Salimans 2022). Its unconditional draws are scored as above;
then for each guidance weight w of ``--guidance`` (default 0,2), ``--draws`` sets of 64 samples asking for
each class in turn (0, 1, ..., 9, 0, ...) are scored, with the share the judge classifies as the class asked
for (``agreement``). The issue's target does not say whether the DDPM may see labels: the JSON keeps the
unconditional verdict (``target_met*``) apart from the conditional one (per w). ``within_class_spread`` (the
mean squared difference per pixel between two samples asked for the same class) shows what guidance costs in
diversity, beside the same measure on real held-out digits.

Measured on mnist-5k (2026-12-01): a conditional DDPM (base 24, ``--attention 4``, label dropout 0.1, 149
epochs in 28.4 min), the same six seeds of draws, under the judges of the table above (and the plain one):

    judge                       unconditional   w = 0: confident / as asked   w = 2: confident / as asked
    plain, seed 0               0.66            0.93 / 0.94                   1.00 / 1.00
    outlier exposure, seed 0    0.57            0.90 / 0.95                   1.00 / 1.00
    outlier exposure, seed 1    0.49            0.89 / 0.95                   1.00 / 1.00
    augment + OE (4 min)        0.55            0.92 / 0.96                   1.00 / 1.00

A second training seed (``--seed 1``, 186 epochs: the first run shared the cores with other work for part of
its training), w = 0 only, under the three outlier-exposure judges: 0.91, 0.89, 0.91 confident, 0.96, 0.95,
0.96 as asked; its unconditional samples 0.49 to 0.59. Within-class spread: real digits 0.105, w = 0 0.100,
w = 2 0.089. The conditional net's own unconditional
samples (the "no label" input, 10% of its training) are worse than those of a net trained unconditionally
(0.74 to 0.78 under the same judges).

Samplers. ``--corrector-steps 1`` scores predictor-corrector sampling (Song et al. 2021: after each ancestral
step, one Langevin step at the new noise level, step size ratio ``--snr`` r = 0.1; twice the network calls);
``--steps K [--eta E]`` scores DDIM (Song, Meng and Ermon 2021) on K of the T steps. Each keeps its own draws.
On the base-24 attention DDPM above (166 epochs), the same six seeds of draws (2026-12-01):

    judge                       ancestral   + 1 corrector step, r = 0.1
    plain, seed 0               0.83        0.87
    outlier exposure, seed 0    0.77        0.82
    outlier exposure, seed 1    0.74        0.80
    augment + OE (4 min)        0.78        0.84

A second DDPM trained end to end by this benchmark with the corrector (``--minutes 28.5 --compile
--attention 4 --seed 2 --corrector-steps 1``, 168 epochs in 28.4 min; draws with seeds 2 to 7):

    judge                       ancestral   + 1 corrector step, r = 0.1
    plain, seed 0               0.83        0.91
    outlier exposure, seed 0    0.77        0.88
    outlier exposure, seed 1    0.76        0.86
    augment + OE (4 min)        0.79        0.91
    outlier exposure, seed 2    0.78        0.88   (the run's own judge: first draw 0.89, every draw >= 0.83)

All 10 classes in every draw. The corrector does not buy its score with copies or collapsed classes: the
mean distance per pixel to the nearest training digit is 0.031 (ancestral 0.037; held-out real digits 0.032),
the spread within each judged class 0.098 (ancestral 0.101; real digits 0.105), the class entropy 2.24
(ancestral 2.23; log 10 = 2.30). With r = 0.03 the gain was smaller (0.78 on three draws, OE seed 0).
DDIM with eta = 0 scored below the ancestral sampler on the same net (OE seed 0: 0.70 at 100 steps, 0.71 at
1000), and strided ancestral steps (eta = 1, 250 steps) 0.75: fewer steps are cheaper, not better, here.

Each kind of judge is kept in its own folder (OUT/classifier, classifier-oe, classifier-augment-oe, with
``-seedK`` for ``--classifier-seed K``), so that several judges can score the same DDPM (``--reuse
--retrain-classifier``). ``--control-minutes M`` also trains the same DDPM for only M minutes
(OUT/ddpm-control) and scores 64 of its samples: a judge that separates quality must score them well below
the full run's.
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
    p.add_argument("--T", type=int, default=1000, dest="T", help="diffusion steps (Ho et al.: 1000)")
    p.add_argument("--noise-schedule", default="cosine", choices=("cosine", "linear"), help="beta schedule")
    p.add_argument("--base", type=int, default=24)
    p.add_argument("--mults", default="1,2,2")
    p.add_argument("--attention", type=int, default=0, help="heads of self-attention at the lowest resolution")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--draws", type=int, default=6, help="sets of --samples drawn, with seeds seed, seed+1, ...")
    p.add_argument("--variance", default="beta", choices=("beta", "posterior"), help="sigma_t^2 of the sampler")
    p.add_argument("--steps", type=int, default=None,
                   help="score the DDIM sampler on this many of the T steps (default: ancestral on all T)")
    p.add_argument("--eta", type=float, default=0.0, help="with --steps: the DDIM noise (0: deterministic)")
    p.add_argument("--corrector-steps", type=int, default=0,
                   help="score the predictor-corrector sampler: this many Langevin steps after each ancestral step")
    p.add_argument("--snr", type=float, default=0.1, help="with --corrector-steps: the corrector's step-size ratio")
    p.add_argument("--threads", type=int, default=2, help="torch threads (the target is for 2 cores)")
    p.add_argument("--ema", type=float, default=0.999, help="decay of the sampled weight average; 0 = raw weights")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--classifier-seed", type=int, default=None,
                   help="seed of the judge (default --seed): a second judge of the same kind, to see its spread")
    p.add_argument("--out", default="runs/bench-diffusion")
    p.add_argument("--compile", action="store_true", help="train through torch.compile")
    p.add_argument("--min-snr", type=float, default=None, help="Min-SNR-gamma loss weighting (Hang et al. 2023)")
    p.add_argument("--reuse", action="store_true", help="reuse the classifier and DDPM already trained in --out")
    p.add_argument("--retrain-classifier", action="store_true",
                   help="with --reuse: train the classifier afresh (a new judge for the same DDPM)")
    p.add_argument("--augment", action="store_true", help="train the classifier with small affine jitter")
    p.add_argument("--outlier-exposure", type=float, default=0.5,
                   help="train the judge also on non-digits towards uniform probabilities, with this weight")
    p.add_argument("--control-minutes", type=float, default=0.0,
                   help="also score a DDPM trained for only this long (0 = no such control)")
    p.add_argument("--conditional", action="store_true",
                   help="train a class-conditional DDPM (label dropout, classifier-free guidance); its unconditional "
                        "samples are scored as usual, and its samples of each class in turn for each --guidance")
    p.add_argument("--label-dropout", type=float, default=0.1, help="--conditional: probability a label is hidden")
    p.add_argument("--guidance", default="0,2", help="--conditional: guidance weights w to score, e.g. 0,1,3")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    weights = [float(w) for w in args.guidance.split(",")] if args.conditional else []
    if args.steps is not None and args.corrector_steps:
        p.error("--steps (DDIM) and --corrector-steps (the ancestral sampler's corrector) exclude each other; "
                "give one of them.")

    from pixelwise.data.imagesets import load_image_set
    from pixelwise.tasks.classify import ClassifierConfig, classifier_split, mode_coverage, train_classifier
    from pixelwise.tasks.diffuse import DiffusionConfig, generate, run
    from pixelwise.train import read_json

    torch.set_num_threads(args.threads)
    say = lambda m: print(m, file=sys.stderr)  # noqa: E731
    t0 = time.perf_counter()
    data = load_image_set(args.data)
    if data.labels is None:
        raise SystemExit("the benchmark needs labelled digits (an .npz with 'labels', 'mnist' or 'digits').")
    out = Path(args.out)
    if args.reuse and not (out / "ddpm" / "history.csv").is_file():
        raise SystemExit(f"--reuse: {out / 'ddpm'} holds no trained DDPM; run once without --reuse.")
    judge_seed = args.seed if args.classifier_seed is None else args.classifier_seed
    classifier_config = ClassifierConfig(epochs=1000, minutes=args.classifier_minutes, seed=judge_seed,
                                         augment=args.augment, outlier_exposure=args.outlier_exposure)
    judge_dir = out / ("classifier" + ("-augment" if args.augment else "") + ("-oe" if args.outlier_exposure else "")
                     + (f"-seed{judge_seed}" if judge_seed != args.seed else ""))
    if args.reuse and not args.retrain_classifier:
        classifier, accuracy = _trained_classifier(judge_dir, data, classifier_config.base)
    else:
        classifier, accuracy = train_classifier(data.images, data.labels, classifier_config, judge_dir, log=say)

    def trained_ddpm(name: str, minutes: float):
        if args.reuse and (out / name / "history.csv").is_file():
            return out / name, _history(out / name), read_json(out / name / "metrics.json")["sampling_seconds"]
        config = DiffusionConfig(data=args.data, out=str(out / name), T=args.T, noise_schedule=args.noise_schedule,
                                 base=args.base, mults=tuple(int(m) for m in args.mults.split(",")), epochs=1000,
                                 minutes=minutes, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                                 n_samples=args.samples, ema=args.ema or None, variance=args.variance,
                                 compile=args.compile, min_snr=args.min_snr, attention=args.attention,
                                 conditional=args.conditional, label_dropout=args.label_dropout)
        result = run(config, overwrite=True, progress=False, log=say)
        return result.run_dir, result.history, result.metrics["sampling_seconds"]

    run_dir, history, sampling_seconds = trained_ddpm("ddpm", args.minutes)
    sampler = {} if args.steps is None else {"steps": args.steps, "eta": args.eta}
    if args.corrector_steps:
        sampler = {"corrector_steps": args.corrector_steps, "snr": args.snr}
    say(f"classifier validation accuracy {accuracy:.4f}")
    held_out = classifier_split(len(data.images), classifier_config)[0]
    real = mode_coverage(classifier, data.images[held_out])
    not_digits = _not_digits(data.images[held_out], args.seed)
    sanity = {name: round(mode_coverage(classifier, x)["confident_fraction"], 4) for name, x in not_digits.items()}
    draws, spread, nearest = [], [], []
    ddpm_split = read_json(run_dir / "split.json")
    ddpm_train = data.images[ddpm_split["train"]]
    for k in range(args.draws):
        samples = _samples(run_dir, args.samples, args.seed + k, args.variance, generate, sampler=sampler)
        draws.append(mode_coverage(classifier, samples))
        spread.append(_within_class_spread(samples, _judged(classifier, samples)))
        nearest.append(_nearest_mse(samples, ddpm_train))
        say(f"draw {k} (seed {args.seed + k}): {draws[k]['classes_found']} classes, "
            f"{draws[k]['confident_fraction']:.3f} confident")
    guided = {}
    for w in weights:  # a conditional DDPM: 64 samples asking for each class in turn, guidance weight w
        asked = [k % (int(data.labels.max()) + 1) for k in range(args.samples)]
        scored, spread = [], []
        for k in range(args.draws):
            samples = _samples(run_dir, args.samples, args.seed + k, args.variance, generate, guidance=w,
                               sampler=sampler)
            scored.append(mode_coverage(classifier, samples, labels=asked))
            spread.append(_within_class_spread(samples, asked))
            say(f"guidance {w:g}, draw {k}: {scored[k]['classes_found']} classes, "
                f"{scored[k]['confident_fraction']:.3f} confident, {scored[k]['agreement']:.3f} as asked")
        mean = sum(d["confident_fraction"] for d in scored) / len(scored)
        guided[f"{w:g}"] = {
            "draws": [{"seed": args.seed + k, "classes_found": d["classes_found"],
                       "confident_fraction": round(d["confident_fraction"], 4),
                       "agreement": round(d["agreement"], 4),
                       "confident_agreement": round(d["confident_agreement"], 4)} for k, d in enumerate(scored)],
            "confident_fraction_mean_over_draws": round(mean, 4),
            "agreement_mean": round(sum(d["agreement"] for d in scored) / len(scored), 4),
            "confident_agreement_mean": round(sum(d["confident_agreement"] for d in scored) / len(scored), 4),
            "within_class_spread_mean": round(sum(spread) / len(spread), 4),
            "target_met_on_mean_over_draws": bool(all(d["classes_found"] == 10 for d in scored) and mean >= 0.8)}
    control = None
    if args.control_minutes > 0:
        control_dir, control_history, _ = trained_ddpm("ddpm-control", args.control_minutes)
        scored = mode_coverage(classifier, _samples(control_dir, args.samples, args.seed, args.variance, generate,
                                                    sampler=sampler))
        control = {"train_minutes": round(sum(float(h["seconds"]) for h in control_history) / 60, 2),
                   "epochs": len(control_history), "final_val_eps_mse": float(control_history[-1]["val_loss"]),
                   "classes_found": scored["classes_found"],
                   "confident_fraction": round(scored["confident_fraction"], 4),
                   "samples_png": str(control_dir / "plots" / "samples.png")}
        say(f"control DDPM ({args.control_minutes} min): {control['confident_fraction']:.3f} confident")
    first = draws[0]
    mean_fraction = sum(d["confident_fraction"] for d in draws) / len(draws)
    trained = read_json(run_dir / "config.json")
    report = {
        "benchmark": "DDPM samples under a pixelwise digit classifier",
        "data": str(args.data),
        "classifier": {"val_accuracy": accuracy, "minutes": args.classifier_minutes,
                       "real_digits": {"n": real["n"], "classes_found": real["classes_found"],
                                       "confident_fraction": round(real["confident_fraction"], 4),
                                       "within_class_spread": round(_within_class_spread(
                                           data.images[held_out], data.labels[held_out]), 4)},
                       "augment": classifier_config.augment,
                       "outlier_exposure": classifier_config.outlier_exposure, "seed": judge_seed,
                       "confident_fraction_on_non_digits": sanity},
        "ddpm": {"T": trained["T"], "noise_schedule": trained["noise_schedule"], "base": trained["base"],
                 "mults": trained["mults"], "attention": trained.get("attention", 0), "ema": trained["ema"],
                 "variance": args.variance if args.steps is None else None,
                 "sampler": _sampler_name(sampler),
                 "compile": trained.get("compile", False), "min_snr": trained.get("min_snr"),
                 "conditional": trained.get("conditional", False),
                 "label_dropout": trained.get("label_dropout") if trained.get("conditional") else None,
                 "epochs": len(history), "budget_minutes": trained["minutes"],
                 "train_minutes": round(sum(float(h["seconds"]) for h in history) / 60, 2),
                 "final_val_eps_mse": float(history[-1]["val_loss"]), "threads": args.threads,
                 "sampling_seconds": sampling_seconds,
                 "samples_after_training": read_json(run_dir / "metrics.json")["metrics"]},
        "samples": args.samples,
        "mode_coverage": first,
        "draws": [{"seed": args.seed + k, "classes_found": d["classes_found"],
                   "confident_fraction": round(d["confident_fraction"], 4)} for k, d in enumerate(draws)],
        "confident_fraction_mean_over_draws": round(mean_fraction, 4),
        "diversity": {"within_class_spread_by_judged_class": round(sum(spread) / len(spread), 4),
                      "real_digits_within_class_spread": round(_within_class_spread(
                          data.images[held_out], data.labels[held_out]), 4),
                      "nearest_train_mse": round(sum(nearest) / len(nearest), 4),
                      "ddpm_val_images_nearest_train_mse": round(_nearest_mse(
                          data.images[ddpm_split["val"]][:args.samples * args.draws], ddpm_train), 4)},
        "control_ddpm_short_training": control,
        "conditional_samples_by_guidance": guided or None,
        "target": "all 10 classes found and >= 80% of samples with confidence > 0.9, within 30 minutes",
        "target_met": bool(first["classes_found"] == 10 and first["confident_fraction"] >= 0.8),
        "target_met_on_mean_over_draws": bool(all(d["classes_found"] == 10 for d in draws)
                                              and mean_fraction >= 0.8),
        "samples_png": str(run_dir / "plots" / "samples.png"),
        "seconds_total": round(time.perf_counter() - t0, 1),
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


def _not_digits(real, seed: int) -> dict:
    """Images that are not digits, for the judge's sanity: a judge that calls these confidently would pass
    any sampler. Uniform noise, each real digit with its pixels shuffled (the same grey levels, no shape), and
    random pen strokes (a kind that outlier exposure never trains on)."""
    import numpy as np

    from pixelwise.tasks.classify import scribbles

    rng = np.random.default_rng(seed)
    flat = real.reshape(len(real), -1)
    shuffled = np.stack([row[rng.permutation(flat.shape[1])] for row in flat]).reshape(real.shape)
    return {"uniform_noise": rng.random(real.shape, dtype=np.float32), "shuffled_real_digits": shuffled,
            "scribbles_never_trained_on": scribbles(len(real), real.shape[1:], seed)}


def _within_class_spread(images, labels) -> float:
    """Diversity within a class: the mean squared difference per pixel between two images of the same class
    (over all pairs of each class, then averaged over the classes). Guidance that collapsed each class onto
    one prototype would drive it towards 0; compare with the same measure on real digits."""
    import numpy as np

    x = np.asarray(images, np.float64).reshape(len(images), -1)
    labels = np.asarray(labels)
    values = []
    for c in np.unique(labels):
        z = x[labels == c]
        if len(z) > 1:  # the sum over ordered pairs i != j (the diagonal is 0), over their number
            values.append(((z[:, None] - z[None]) ** 2).mean(-1).sum() / (len(z) * (len(z) - 1)))
    return float(np.mean(values))


def _judged(classifier, images):
    """The judge's class of each image."""
    with torch.no_grad():
        return classifier.eval()(torch.as_tensor(images, dtype=torch.float32)).argmax(1).numpy()


def _nearest_mse(images, train) -> float:
    """Mean over ``images`` of the squared difference per pixel to the nearest training image: near 0 would
    mean copies of training digits; compare with the same for held-out real digits."""
    from pixelwise.metrics.latent import nearest_mse

    return float(nearest_mse(images, train).double().mean())


def _samples(run_dir: Path, n: int, seed: int, variance: str, generate, guidance: float | None = None,
             sampler: dict | None = None):
    """``generate(run_dir, n, seed, variance=...)``, kept in ``run_dir/draws/`` so that a ``--reuse`` run (a new
    judge for the same DDPM) scores the very same samples without drawing them again. With ``guidance`` (a
    conditional DDPM) the samples ask for each class in turn, with that guidance weight. ``sampler`` (``steps``
    and ``eta``) draws with DDIM instead of the ancestral sampler; (``corrector_steps`` and ``snr``) adds Langevin
    corrector steps to it. Without ``sampler``, the ancestral sampler alone (whatever the run was trained with)."""
    import numpy as np

    asked = "" if guidance is None else f"_each_w{guidance:g}"
    sampler = sampler or {}
    if "steps" in sampler:
        kind = f"ddim{sampler['steps']}_eta{sampler['eta']:g}"
    else:  # the ancestral sampler, with or without corrector steps
        kind = variance + (f"_pc{sampler['corrector_steps']}_r{sampler['snr']:g}" if sampler else "")
    path = run_dir / "draws" / f"n{n}_seed{seed}_{kind}{asked}.npy"
    if path.is_file():
        return np.load(path)
    samples = generate(run_dir, n, seed, variance=None if "steps" in sampler else variance,
                       labels=None if guidance is None else "each", guidance=guidance,
                       **({"corrector_steps": 0} | sampler))
    path.parent.mkdir(exist_ok=True)
    np.save(path, samples)
    return samples


def _sampler_name(sampler: dict) -> str:
    if "steps" in sampler:
        return f"DDIM, {sampler['steps']} steps, eta {sampler['eta']:g}"
    if sampler:
        return f"ancestral, all T steps, {sampler['corrector_steps']} Langevin corrector step(s), r {sampler['snr']:g}"
    return "ancestral, all T steps"


def _history(run_dir: Path) -> list[dict]:
    from pixelwise.train.files import read_csv

    return read_csv(run_dir / "history.csv")


def _trained_classifier(run_dir: Path, data, base: int):
    """The classifier that an earlier run of this benchmark trained into ``run_dir``, and its best validation
    accuracy, read back from its history."""
    from pixelwise.models.gan import DigitClassifier
    from pixelwise.train import load_weights

    model = DigitClassifier(tuple(data.images.shape[1:]), int(data.labels.max()) + 1, base)
    load_weights(model, run_dir / "checkpoints" / "best.safetensors")
    return model.eval(), max(float(h["val_accuracy"]) for h in _history(run_dir))


if __name__ == "__main__":
    raise SystemExit(main())

"""Faithfulness and sanity of the attribution methods on a trained segmentation run (JSON on stdout).

For each test image of the run (or of --data) the score explained is (``--score``) the mean logit of the predicted
polyp (``region``: pixelwise.attribution.region_score over the region the network predicts on the clean image), or
the mean logit of the whole image (``image``: no region, so no place singled out before any weight is read). Per
method and score:

- deletion and insertion areas (Petsiuk et al. 2018) of the region's mean probability, pixels removed or inserted
  in the map's order with the training mean colour as the baseline, against a random map (the same image, a
  seeded uniform map): a faithful method has a lower deletion area and a higher insertion area than random;
- the model-randomisation check (Adebayo et al. 2018): the Spearman rank correlation of |map| of the trained network
  with |map| of the same architecture re-initialised (near 0: the map depends on what the network learned);
- occlusion of the true polyp against occlusion of as much background: the drop of the region score when the
  polyp's pixels are set to the baseline, and when the same mask moved onto background is (the drop should be
  larger for the polyp on most images).

Each figure has its mean over the images and a seeded 95% bootstrap interval. Why both scores: for a dense network
the gradient of a region's score is gathered by the receptive field around that region whatever the weights are,
so a region map of a random network already looks like the region, and the randomisation check measures the place
as much as the learned weights; the whole-image score removes that shared place. Full size (the lead trains the run,
e.g. with the README's Kvasir-SEG command):

    .venv/bin/python benchmarks/explain_faithfulness.py --run runs/kvasir --images 50
    (--data ../shared/data/kvasir-seg-880 scores every case of that folder instead of the run's test split)

Toy size (a minute): --images 2 --samples 4 --steps 10 on any small segment run.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from _common import emit, machine


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _moved_off(truth: torch.Tensor) -> torch.Tensor:
    """The truth mask rolled to the place where it overlaps the (dilated) truth least, minus the truth: background
    of about the polyp's size and shape."""
    h, w = truth.shape
    grown = torch.nn.functional.max_pool2d(truth[None, None].float(), 5, 1, 2)[0, 0] > 0
    best, moved = None, None
    for dy in range(0, h, max(1, h // 8)):
        for dx in range(0, w, max(1, w // 8)):
            rolled = torch.roll(truth, (dy, dx), (0, 1))
            overlap = int((rolled & grown).sum())
            if best is None or overlap < best:
                best, moved = overlap, rolled
    return moved & ~truth


def _occlusion_drops(model, head, x, truth, baseline) -> tuple[float, float]:
    with torch.no_grad():
        clean = float(head(model(x))[0])
        polyp = torch.where(truth[None, None], baseline, x)
        background = torch.where(_moved_off(truth)[None, None], baseline, x)
        return clean - float(head(model(polyp))[0]), clean - float(head(model(background))[0])


def _per_image(args, subject, random_model, x, truth, baseline, generator, score: str) -> dict:
    from pixelwise.attribution import (
        METHODS,
        deletion_insertion,
        predicted_region,
        rank_correlation,
        region_score,
        to_map,
    )

    model = subject.model
    with torch.no_grad():
        region = predicted_region(model(x))[0]
    if score == "image" or not region.any():
        region = torch.ones_like(truth) if score == "image" or not truth.any() else truth.clone()
    head, curve_head = region_score(region), region_score(region, probability=True)
    options = {"smoothgrad": {"samples": args.samples, "stdev": 0.15, "generator": generator},
               "occlusion": {"patch": max(2, x.shape[-1] // 8), "stride": max(1, x.shape[-1] // 16),
                             "baseline": baseline}}
    out = {}
    for name in args.methods:
        t = time.perf_counter()
        trained = to_map(METHODS[name](model, x, head, **options.get(name, {})))[0]
        seconds = time.perf_counter() - t
        randomised = to_map(METHODS[name](random_model, x, head, **options.get(name, {})))[0]
        curves = deletion_insertion(model, x, trained, curve_head, args.steps, baseline)
        out[name] = {"deletion_auc": curves["deletion_auc"], "insertion_auc": curves["insertion_auc"],
                     "spearman_vs_random_weights": rank_correlation(trained, randomised), "seconds": seconds}
    noise = torch.rand(x.shape[-2:], generator=generator)
    curves = deletion_insertion(model, x, noise, curve_head, args.steps, baseline)
    out["random_map"] = {"deletion_auc": curves["deletion_auc"], "insertion_auc": curves["insertion_auc"]}
    out["occlusion_drop"] = dict(zip(("polyp", "background"), _occlusion_drops(model, head, x, truth, baseline)))
    return out


def _summaries(rows: list[dict], seed: int) -> dict:
    from pixelwise.metrics import summarise

    out = {}
    for name in rows[0]:
        if name == "occlusion_drop":
            continue
        out[name] = {k: summarise([r[name][k] for r in rows], seed=seed) for k in rows[0][name]}
        if name != "random_map":
            for k in ("deletion_auc", "insertion_auc"):  # paired with the random map of the same image
                diff = [r[name][k] - r["random_map"][k] for r in rows]
                out[name][f"{k}_minus_random"] = summarise(diff, seed=seed)
    polyp = [r["occlusion_drop"]["polyp"] for r in rows]
    background = [r["occlusion_drop"]["background"] for r in rows]
    out["occlusion_polyp_vs_background"] = {
        "polyp_drop": summarise(polyp, seed=seed), "background_drop": summarise(background, seed=seed),
        "difference": summarise(np.subtract(polyp, background), seed=seed),
        "images_where_polyp_drops_more": int(np.sum(np.greater(polyp, background))), "images": len(rows)}
    return out


def main() -> None:
    from pixelwise.attribution import METHODS, randomised_copy
    from pixelwise.tasks.subjects import Normalised, case_batches, load_subject

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="a segment run folder (binary masks)")
    p.add_argument("--data", default=None, help="images/ and masks/ to use instead of the run's test split")
    p.add_argument("--images", type=int, default=50)
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated")
    p.add_argument("--samples", type=int, default=25, help="smoothgrad's noisy copies")
    p.add_argument("--steps", type=int, default=20, help="points of the deletion and insertion curves")
    p.add_argument("--score", default="region,image", help="region (the predicted polyp), image (the whole image)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    args.methods = args.methods.split(",")
    scores = args.score.split(",")
    if not scores or not set(scores) <= {"region", "image"}:
        raise SystemExit(f"--score {args.score!r}: give region, image or region,image.")
    subject = load_subject(args.run)
    if subject.kind != "segment" or subject.config.num_classes is not None:
        raise SystemExit("this benchmark explains binary segment runs; give --run a polyp segmentation run.")
    random_model = Normalised(randomised_copy(subject.net, args.seed), subject.config.norm_mean,
                              subject.config.norm_std).eval()
    baseline = torch.tensor(subject.config.norm_mean).view(-1, 1, 1)
    generator = torch.Generator().manual_seed(args.seed)
    rows, t0 = {score: [] for score in scores}, time.perf_counter()
    for batch in case_batches(subject, 1, args.images, args.data):
        truth = batch.target[0] > 0
        for score in scores:
            rows[score].append(_per_image(args, subject, random_model, batch.x, truth, baseline, generator, score))
        log(f"{len(rows[scores[0]])}/{args.images} {batch.ids[0]}")
    emit({"benchmark": "explain_faithfulness", "run": args.run, "images": len(rows[scores[0]]),
          "methods": args.methods, "scores": {"region": "mean logit of the predicted region; curves: its mean "
                                              "probability", "image": "mean logit of the whole image; curves: its "
                                              "mean probability"},
          "baseline": "the training mean colour",
          "results": {score: _summaries(rows[score], args.seed) for score in scores},
          "seconds": round(time.perf_counter() - t0, 1), "machine": machine()})


if __name__ == "__main__":
    main()

"""Kvasir-SEG label efficiency: a self-supervised encoder against training from scratch, at the same CPU budget.

The encoder of the segmentation U-Net is pretrained (``pixelwise pretrain``, SimCLR by default) on the images of
``--data`` without their masks, once. Then for each label fraction F (5%, 10%, 25%, 100% of the training cases'
labels; the validation and test cases are those of the full split) two runs train: from scratch for ``--minutes``,
and from the pretrained encoder (``--init``) for ``--minutes`` minus the minutes pretraining took (its whole wall
time, evaluation included, counted against every fraction). Both are scored on the same test cases and compared
with ``segment compare`` (mean Dice difference with a seeded paired bootstrap interval, wins / ties / losses).
Prints JSON. Target (issue 21): at 10% labels, pretrained - scratch >= +0.05 mean Dice with the paired interval
excluding zero. With ``--method genesis`` (Models Genesis) the whole U-Net is pretrained, and the fine-tune starts
from its encoder and its decoder (all but the last 1x1 convolution). ``--model vit`` does the same for the
segmentation ViT (``--patch-size``, ``--dim``, ``--vit-depth``, ``--heads``; ``--method mae`` is He et al.'s own
setting: the ViT's patches hidden, a small transformer decoder).
``--method pseudo`` is self-training instead of pretraining (``segment train --pseudo-labels``): for each fraction a
teacher trains on its labels for ``--pretrain-minutes``, then the student on those labels and the teacher's masks of
the other training cases for what is left of ``--minutes`` (the teacher's whole wall time charged); it never sees the
validation and test images.

    python benchmarks/label_efficiency.py --data ../shared/data/kvasir-seg-880 --minutes 20 --pretrain-minutes 8 \\
        [--method simclr|mae|dae|genesis|pseudo] [--fractions 0.05,0.1,0.25,1] [--pretrain-on all|train] \\
        [--out runs/label-eff]

``--pretrain-on all`` (the issue's protocol) pretrains on every image of the folder, test images included (their
pixels, never their masks); ``train`` pretrains on the training cases' images only. Wall time: about
pretrain-minutes + fractions x (2 minutes - pretrain-minutes), plus evaluations.

Kvasir-SEG: D. Jha et al., "Kvasir-SEG: A Segmented Polyp Dataset", MMM 2020, LNCS 11962, pp. 451-462.
SimCLR: T. Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020.
Models Genesis: Z. Zhou et al., "Models Genesis", Medical Image Analysis 67 (2021) 101840.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _common import emit, machine

from pixelwise.data.folders import ImageMaskFolder
from pixelwise.data.splits import parse_fractions
from pixelwise.tasks.compare import compare
from pixelwise.tasks.pretrain import PretrainConfig
from pixelwise.tasks.pretrain import run as pretrain
from pixelwise.tasks.segment import SegmentationConfig, run
from pixelwise.tasks.segment.data import make_split


def _arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="folder with images/ and masks/ (e.g. kvasir-seg-880)")
    p.add_argument("--out", default="runs/label-efficiency")
    p.add_argument("--minutes", type=float, default=20, help="total budget of each arm, pretraining counted")
    p.add_argument("--pretrain-minutes", type=float, default=8)
    p.add_argument("--method", default="simclr", choices=("simclr", "ae", "dae", "mae", "genesis", "pseudo"),
                   help="the pretraining method, or pseudo: self-training from a teacher of --pretrain-minutes")
    p.add_argument("--pretrain-on", default="all", choices=("all", "train"))
    p.add_argument("--fractions", default="0.05,0.1,0.25,1")
    p.add_argument("--model", default="unet", choices=("unet", "vit"), help="the segmentation model whose encoder is "
                   "pretrained (vit: --patch-size, and the segmentation ViT's default sizes)")
    p.add_argument("--patch-size", type=int, default=16, help="ViT: patch size (divides --size)")
    p.add_argument("--dim", type=int, default=192, help="ViT: width")
    p.add_argument("--vit-depth", type=int, default=6, help="ViT: transformer layers")
    p.add_argument("--heads", type=int, default=3, help="ViT: attention heads")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--base-channels", type=int, default=16)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--pretrain-batch-size", type=int, default=32)
    p.add_argument("--temperature", type=float, default=0.5)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--schedule", default="onecycle")
    p.add_argument("--split", default="0.7,0.1,0.2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=1000, help="upper bound of every run's epochs (toy runs: 1)")
    return p.parse_args()


def _pretrain_source(args, out: Path, segment: SegmentationConfig) -> str:
    """The folder to pretrain on: the data itself, or a folder of links to the training cases' images only."""
    if args.pretrain_on == "all":
        return args.data
    folder = ImageMaskFolder(args.data)
    train = set(make_split(folder, segment)["train"])
    images = out / "pretrain-images" / "images"
    images.mkdir(parents=True, exist_ok=True)
    for pair in folder.pairs:
        link = images / pair.image.name
        if pair.stem in train and not link.exists():
            link.symlink_to(pair.image.resolve())
    return str(images.parent)


def main() -> None:
    args = _arguments()
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731 (progress on stderr, the JSON alone on stdout)
    quiet = dict(progress=False, log=log, overwrite=True)
    out, t0 = Path(args.out), time.perf_counter()
    vit = dict(patch_size=args.patch_size, dim=args.dim, vit_depth=args.vit_depth, heads=args.heads)
    segment = dict(data=args.data, model=args.model, **vit, size=args.size, base_channels=args.base_channels,
                   depth=args.depth, batch_size=args.batch_size, lr=args.lr, schedule=args.schedule,
                   split=parse_fractions(args.split), seed=args.seed, epochs=args.epochs)
    arm, info = (_self_training(args, segment, out, quiet) if args.method == "pseudo"
                 else _pretraining(args, segment, vit, out, quiet))
    rows = []
    for f in parse_fractions_list(args.fractions):
        scratch = run(SegmentationConfig(**segment, out=str(out / f"scratch-{f:g}"), label_fraction=f,
                                         minutes=args.minutes), **quiet)
        tuned, extra = arm(f)
        result = compare([scratch.run_dir, tuned.run_dir], "segment", out / f"compare-{f:g}", seed=args.seed, log=log)
        rows.append({**_row(f, scratch, tuned, result), **extra})
    ten = next((r for r in rows if abs(r["label_fraction"] - 0.1) < 1e-9), None)
    emit({"benchmark": "label_efficiency", "machine": machine(), "data": args.data, "model": args.model,
          "method": args.method, "pretrain_on": args.pretrain_on, "minutes_per_arm": args.minutes, **info,
          "config": {k: v for k, v in segment.items() if k != "data"}, "fractions": rows,
          "total_minutes": round((time.perf_counter() - t0) / 60, 2),
          "target_at_10%_dice_gain>=0.05_interval_excludes_0": None if ten is None else
          ten["dice_gain"]["mean"] >= 0.05 and ten["dice_gain"]["ci_low"] > 0})


def _pretraining(args, segment: dict, vit: dict, out: Path, quiet: dict):
    """Pretrain once; the arm of a fraction then fine-tunes from the encoder for what is left of the minutes."""
    source = _pretrain_source(args, out, SegmentationConfig(**segment))
    pre = pretrain(PretrainConfig(data=source, out=str(out / "pretrain"), method=args.method, model=args.model, **vit,
                                  size=args.size, base_channels=args.base_channels, depth=args.depth, flips="all",
                                  batch_size=args.pretrain_batch_size, temperature=args.temperature,
                                  minutes=args.pretrain_minutes, epochs=args.epochs, seed=args.seed), **quiet)
    spent = pre.seconds / 60
    if spent >= args.minutes:
        raise SystemExit(f"pretraining took {spent:.1f} of the {args.minutes} minutes; raise --minutes.")

    def arm(f: float):
        return run(SegmentationConfig(**segment, out=str(out / f"pretrained-{f:g}"), label_fraction=f,
                                      init=str(pre.run_dir), minutes=args.minutes - spent), **quiet), {}

    return arm, {"pretrain_minutes": round(spent, 2), "pretrain_epochs": len(pre.history),
                 "pretext": pre.metrics.get("metrics")}


def _self_training(args, segment: dict, out: Path, quiet: dict):
    """``--method pseudo``: for each fraction a teacher trains on its labels for ``--pretrain-minutes``, then a
    student (``segment train --pseudo-labels``) on those labels and the teacher's masks of the other training cases
    for what is left of the minutes (the teacher's whole wall time charged, its evaluation included)."""

    def arm(f: float):
        teacher = run(SegmentationConfig(**segment, out=str(out / f"teacher-{f:g}"), label_fraction=f,
                                         minutes=args.pretrain_minutes), **quiet)
        spent = teacher.seconds / 60
        if spent >= args.minutes:
            raise SystemExit(f"the teacher took {spent:.1f} of the {args.minutes} minutes; raise --minutes.")
        student = run(SegmentationConfig(**segment, out=str(out / f"pretrained-{f:g}"), label_fraction=f,
                                         pseudo_labels=str(teacher.run_dir), minutes=args.minutes - spent), **quiet)
        return student, {"teacher": {"minutes": round(spent, 2), "epochs": len(teacher.history),
                                     "dice": teacher.metrics["metrics"]["dice"]["mean"]},
                         "student_minutes": round(student.seconds / 60, 2)}

    return arm, {"teacher_minutes": args.pretrain_minutes}


def parse_fractions_list(text: str) -> list[float]:
    values = [float(v) for v in text.split(",")]
    if not values or not all(0 < v <= 1 for v in values):
        raise SystemExit(f"--fractions {text!r}: give fractions in (0, 1], e.g. 0.05,0.1,0.25,1")
    return values


def _row(fraction: float, scratch, tuned, result: dict) -> dict:
    diff = result["comparison"]["difference"][result["runs"][1]]
    summary = result["comparison"]["summary"]
    return {"label_fraction": fraction,
            "labelled_cases": len(_split(scratch.run_dir).get("labelled", _split(scratch.run_dir)["train"])),
            "test_cases": result["n_cases"],
            "scratch": {"dice": summary[result["runs"][0]]["dice"], "epochs": len(scratch.history)},
            "pretrained": {"dice": summary[result["runs"][1]]["dice"], "epochs": len(tuned.history)},
            "dice_gain": {k: diff["dice"][k] for k in ("mean", "median", "ci_low", "ci_high", "wins", "ties",
                                                       "losses")}}


def _split(run_dir) -> dict:
    import json

    return json.loads((Path(run_dir) / "split.json").read_text())


if __name__ == "__main__":
    main()

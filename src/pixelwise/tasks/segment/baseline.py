"""``segment baseline``: a classical segmentation of a run's test cases, scored exactly like a trained network.

``run_baseline(config)`` takes the split the way ``segment train`` does (``--split``, ``--train-ids``), or the
split of another run (``--like RUN``: the same test cases as that network), checks every file and setting, and
only then writes a run folder: ``config.json``, ``split.json``, ``metrics.json``, ``per_case.csv``, ``plots/``
and ``report.html`` from :mod:`pixelwise.tasks.segment.scoring`, the functions ``segment eval`` uses. Methods
(:mod:`pixelwise.tasks.segment.classical`, :mod:`pixelwise.tasks.segment.atlas`) learn nothing from the test
cases: the channel and polarity (when ``auto``) are chosen on training cases, and atlases are training cases.
With ``--like``, ``metrics.json`` and the report also compare the baseline with that run case by case
(``versus``: paired bootstrap intervals of the run's gain in Dice and IoU over the same cases).
"""

from __future__ import annotations

import csv
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pixelwise.classical import check_seeds
from pixelwise.data.folders import ImageMaskFolder, resize_image, resize_mask
from pixelwise.errors import PixelwiseError
from pixelwise.metrics import paired_summaries
from pixelwise.tasks.segment.baseline_config import BaselineConfig
from pixelwise.tasks.segment.classical import choose_channel, segment_image, working_shape
from pixelwise.tasks.segment.data import make_split
from pixelwise.tasks.segment.scoring import score_case, summary, true_area, write_results
from pixelwise.train.files import read_json
from pixelwise.train.runs import RunFolder, RunResult


def resolve_like(config: BaselineConfig) -> tuple[BaselineConfig, dict | None]:
    """``config`` with the data of the ``--like`` run when none is given, and that run's split (or None)."""
    if config.like is None:
        return config, None
    like = Path(config.like)
    if not (like / "split.json").is_file() or not (like / "config.json").is_file():
        raise PixelwiseError(f"--like {like} is not a segment run folder (no split.json and config.json); give a "
                             "folder made by `pixelwise segment train` or `segment baseline`.")
    saved = read_json(like / "config.json")
    if not str(saved.get("_recipe", "")).startswith("segment"):
        raise PixelwiseError(f"--like {like} was made by `pixelwise {saved.get('_recipe')}`, not a segment command; "
                             "give a segment run folder.")
    if saved.get("num_classes") is not None:
        raise PixelwiseError(f"--like {like} segments {saved['num_classes']} classes; segment baseline scores binary "
                             "masks only.")
    if not config.data:
        config = dataclasses.replace(config, data=saved.get("data", ""))
    return config, read_json(like / "split.json")


def read_seeds(path: str | Path, folder: ImageMaskFolder) -> dict[str, np.ndarray]:
    """``{stem: (k, 2) seeds}`` from a CSV of ``stem,row,col`` lines (a header line is allowed), each seed checked
    against its image's size."""
    path = Path(path)
    if not path.is_file():
        raise PixelwiseError(f"seeds file {path} does not exist; give a CSV of stem,row,col lines.")
    found: dict[str, list] = {}
    with open(path, newline="") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            if not row or row[0].strip().startswith("#") or (number == 1 and row[0].strip() == "stem"):
                continue
            try:
                stem, r, c = row[0].strip(), float(row[1]), float(row[2])
            except (IndexError, ValueError):
                raise PixelwiseError(f"{path} line {number} is not stem,row,col (e.g. case_0001,120,88); fix the "
                                     "line.") from None
            found.setdefault(stem, []).append((r, c))
    sizes = {p.stem: (p.height, p.width) for p in folder.pairs}
    unknown = sorted(set(found) - set(sizes))
    if unknown:
        raise PixelwiseError(f"{path} names cases that are not in {folder.root}: {', '.join(unknown[:5])}; fix the "
                             "stems.")
    return {stem: check_seeds(pts, sizes[stem], f"{path} (case {stem})") for stem, pts in found.items()}


def _working_cases(folder: ImageMaskFolder, indices: list[int], config: BaselineConfig) -> list[tuple]:
    """(image, mask) of the cases at their working size, for choosing the channel and polarity."""
    out = []
    for i in indices:
        image, mask = folder.read(i)
        work = working_shape(image.shape[:2], config.work_size)
        out.append((resize_image(image, work), resize_mask(mask, work, binary=True)))
    return out


def _tuning(folder: ImageMaskFolder, train: list[int], config: BaselineConfig) -> dict:
    if config.method == "atlas":
        return {"channel": None, "polarity": None, "table": []}
    if config.channel != "auto" and config.polarity != "auto":
        return {"channel": config.channel, "polarity": config.polarity, "table": []}
    rng = np.random.default_rng(config.seed)
    chosen = sorted(rng.permutation(train)[:config.tune_cases].tolist()) if train else []
    if not chosen:
        raise PixelwiseError("channel or polarity auto needs training cases to choose on; give a split with "
                             "training cases, or name --channel and --polarity.")
    return {**choose_channel(_working_cases(folder, chosen, config), config), "cases": len(chosen)}


def run_baseline(config: BaselineConfig, overwrite: bool = False, progress: bool = True,
                 log: Callable[[str], None] = print) -> RunResult:
    """Segment and score the test cases; writes only inside ``config.out``, and only after every check."""
    t0 = time.perf_counter()
    config, like_split = resolve_like(config)
    if not config.data:
        raise PixelwiseError("data (--data) is not given; name a folder with images/ and masks/ (or --like RUN).")
    if config.like is not None and Path(config.like).resolve() == Path(config.out).resolve():
        raise PixelwiseError(f"--out {config.out} is the --like run itself; write the baseline to another folder.")
    folder_check = RunFolder(config, overwrite=overwrite)
    data = ImageMaskFolder(config.data, None, config.threshold, config.channels)
    split = like_split if like_split is not None else make_split(data, config)
    train, test = data.index(split["train"]), data.index(split["test"])
    if not test:
        raise PixelwiseError("the split has no test cases; give --split with a test fraction, --test-ids, or --like.")
    seeds = read_seeds(config.seeds, data) if config.seeds else {}
    atlas = _atlas_setup(config, data, train, progress) if config.method == "atlas" else None
    data.load(test, (8, 8), progress=False)  # every test file decoded (and checked) before anything is written
    t1 = time.perf_counter()
    tuning = {**_tuning(data, train, config), "seconds": time.perf_counter() - t1}
    log(f"{config.method} baseline on {len(test)} test cases of {data.root}"
        + (f"; channel {tuning['channel']}, polarity {tuning['polarity']}" if tuning["channel"] else ""))
    run_dir = folder_check.create(split)
    t2 = time.perf_counter()
    cases, tiles, areas = _segment_all(data, test, config, tuning, seeds, atlas, progress)
    record = {"source": "test split", "method": config.method, "tuning": tuning,
              "seconds_per_image": (time.perf_counter() - t2) / len(test)}
    metrics = summary(cases, areas, config, **record)
    extra = ""
    if config.like is not None:
        metrics["versus"], extra = versus(Path(config.like), cases, config)
    report = write_results(run_dir, config, metrics, cases, tiles, [], extra)
    m = metrics["metrics"]
    log(f"test split: {len(cases)} cases, Dice {m['dice']['mean']:.3f} (median {m['dice']['median']:.3f}), IoU "
        f"{m['iou']['mean']:.3f} [{m['iou']['ci_low']:.3f}, {m['iou']['ci_high']:.3f}]; report {report}")
    return RunResult(run_dir, metrics, [], time.perf_counter() - t0)


def _atlas_setup(config: BaselineConfig, data: ImageMaskFolder, train: list[int], progress: bool) -> dict:
    """The atlases at the registration size: every training case, or every case of ``--atlas-data``."""
    from pixelwise.tasks.segment.atlas import atlas_arrays

    source = ImageMaskFolder(config.atlas_data, None, config.threshold, config.channels) if config.atlas_data \
        else data
    indices = list(range(len(source))) if config.atlas_data else train
    if not indices:
        raise PixelwiseError("the atlas method needs labelled atlases: training cases in the split, or --atlas-data.")
    images, masks = source.load(indices, (config.atlas_size, config.atlas_size), progress)
    pairs = list(zip(images, masks))
    tensors = atlas_arrays(pairs, config.atlas_size)
    chosen = np.random.default_rng(config.seed).permutation(len(pairs)).tolist()
    return {"images": tensors[0], "masks": tensors[1], "chosen": chosen,
            "stems": [source.pairs[i].stem for i in indices]}


def _segment_all(data, test, config, tuning, seeds, atlas, progress) -> tuple[list, list, list]:
    from tqdm.auto import tqdm

    cases, tiles, areas = [], [], []
    for i in tqdm(test, desc=f"{config.method} baseline", disable=not progress, leave=False):
        stem = data.pairs[i].stem
        image, truth = data.read(i)
        extra = {}
        if atlas is not None:
            from pixelwise.tasks.segment.atlas import atlas_segment

            pred, used = atlas_segment(image, atlas["images"], atlas["masks"], config, atlas["chosen"])
            extra = {"atlases": ";".join(atlas["stems"][k] for k in used["atlases"])}
        else:
            pred = segment_image(image, config, tuning["channel"], tuning["polarity"], seeds.get(stem))
        case = score_case(pred, truth, config)
        cases.append({"id": stem, **case, **extra})
        areas.append(true_area(truth, config))
        tiles.append((stem, image, truth, pred, case["iou"]))
    return cases, tiles, areas


def versus(like: Path, cases: list[dict], config: BaselineConfig) -> tuple[dict, str]:
    """The ``--like`` run against this baseline on the same cases (its ``per_case.csv``, paired by id): each one's
    Dice and IoU and the run's gain with a paired bootstrap interval; and the report's table of it."""
    path = like / "per_case.csv"
    if not path.is_file():
        return {"run": str(like), "note": f"{path} does not exist; evaluate that run first"}, ""
    with open(path, newline="") as f:
        theirs = {row["id"]: row for row in csv.DictReader(f)}
    missing = [c["id"] for c in cases if c["id"] not in theirs]
    if missing:
        return {"run": str(like), "note": f"{len(missing)} cases are not in {path} (e.g. {missing[0]})"}, ""
    rows = [{"dice_run": float(theirs[c["id"]]["dice"]), "iou_run": float(theirs[c["id"]]["iou"]),
             "dice_baseline": c["dice"], "iou_baseline": c["iou"]} for c in cases]
    paired = paired_summaries(rows, ["run", "baseline"], ["dice", "iou"], "run", config.seed)
    saved = read_json(like / "config.json")
    out = {"run": str(like.resolve()), "run_model": saved.get("model", saved.get("method")), "n_cases": len(rows),
           **paired}
    if saved.get("empty_score", 1.0) != config.empty_score:
        out["note"] = "the run scored both-empty cases with another empty_score"
    gain = paired["gain"]["baseline"]
    cells = "".join(f"<tr><td>{k}</td><td>{paired['summary']['run'][k]['mean']:.3f}</td>"
                    f"<td>{paired['summary']['baseline'][k]['mean']:.3f}</td><td>{gain[k]['mean']:+.3f} "
                    f"[{gain[k]['ci_low']:+.3f}, {gain[k]['ci_high']:+.3f}]</td></tr>" for k in ("dice", "iou"))
    html = (f"<h2>Against the run {like.name} ({out['run_model']})</h2><p>Same {len(rows)} test cases; the run's gain "
            f"with a paired bootstrap 95% interval; the run scores higher on {gain['run_better']} cases.</p><table><tr>"
            f"<th>metric</th><th>run</th><th>baseline</th><th>gain</th></tr>{cells}</table>")
    return out, html

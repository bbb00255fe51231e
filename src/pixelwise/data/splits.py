"""Deterministic train/validation/test splits, by seed or from given id lists; saved with each run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pixelwise.errors import PixelwiseError


def parse_fractions(text: str) -> tuple[float, float, float]:
    """'0.6,0.2,0.2' -> (0.6, 0.2, 0.2); they must be non-negative and sum to 1."""
    try:
        parts = tuple(float(t) for t in text.split(","))
    except ValueError:
        raise PixelwiseError(f"--split {text!r} is not three numbers; write it as 0.6,0.2,0.2.") from None
    if len(parts) != 3:
        raise PixelwiseError(f"--split {text!r} needs three fractions (train,val,test), e.g. 0.6,0.2,0.2.")
    check_fractions(parts)
    return parts  # type: ignore[return-value]


def check_fractions(fractions: Sequence[float]) -> None:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise PixelwiseError(f"split fractions {tuple(fractions)} must be three non-negative numbers summing to 1.")
    if fractions[0] == 0:
        raise PixelwiseError("the training fraction of the split is 0; give training at least some cases.")


def random_split(ids: Sequence[str], fractions: Sequence[float] = (0.6, 0.2, 0.2), seed: int = 0) -> dict:
    """Shuffle the sorted ids with ``seed`` and cut them into train/val/test by ``fractions``.

    Sizes: n_val = round(f_val n), n_test = round(f_test n), the rest is training; every non-zero
    fraction gets at least one case when n allows. The same ids and seed always give the same split.
    """
    check_fractions(fractions)
    ids = sorted(ids)
    n = len(ids)
    n_val = round(fractions[1] * n)
    n_test = round(fractions[2] * n)
    if fractions[1] > 0:
        n_val = max(n_val, 1)
    if fractions[2] > 0:
        n_test = max(n_test, 1)
    if n - n_val - n_test < 1:
        raise PixelwiseError(f"{n} cases are too few for the split {tuple(fractions)}; add data or change --split.")
    order = np.random.default_rng(seed).permutation(n)
    shuffled = [ids[i] for i in order]
    return {
        "train": sorted(shuffled[n_val + n_test:]),
        "val": sorted(shuffled[:n_val]),
        "test": sorted(shuffled[n_val:n_val + n_test]),
        "seed": seed,
        "fractions": list(fractions),
    }


def read_id_list(path: str | Path) -> list[str]:
    """One id per line (file stems; an extension is dropped); blank lines and '#' comments ignored."""
    path = Path(path)
    if not path.is_file():
        raise PixelwiseError(f"id list {path} does not exist; give a text file with one image stem per line.")
    ids = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            is_file_name = Path(line).suffix.lower() in (".jpg", ".png", ".jpeg", ".bmp", ".tif", ".tiff")
            ids.append(Path(line).stem if is_file_name else line)
    if not ids:
        raise PixelwiseError(f"id list {path} is empty; give one image stem per line.")
    return ids


def split_from_lists(ids: Sequence[str], train_ids: Sequence[str], test_ids: Sequence[str] | None = None,
                     val_fraction: float = 0.2, seed: int = 0) -> dict:
    """A split from given id lists (e.g. the official Kvasir-SEG 880/120 lists).

    The validation set is carved from the training ids with ``val_fraction`` and ``seed``; test ids are
    the given ones (or empty). Ids that are not in the folder, or in both lists, are errors.
    """
    known = set(ids)
    test_ids = list(test_ids or [])
    for name, group in (("train", train_ids), ("test", test_ids)):
        missing = [i for i in group if i not in known]
        if missing:
            raise PixelwiseError(f"{len(missing)} {name} ids are not in the data folder (e.g. {missing[:3]}); "
                                 f"fix the id list.")
    both = sorted(set(train_ids) & set(test_ids))
    if both:
        raise PixelwiseError(f"{len(both)} ids are in both the train and test lists (e.g. {both[:3]}); "
                             f"a case may be in one only.")
    inner = random_split(train_ids, (1 - val_fraction, val_fraction, 0.0), seed)
    return {"train": inner["train"], "val": inner["val"], "test": sorted(test_ids), "seed": seed,
            "fractions": None}


def save_split(split: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(split, indent=1))


def load_split(path: str | Path) -> dict:
    """A run's split.json, or one sentence naming a missing or damaged file."""
    from pixelwise.train.files import read_json

    split = read_json(path)
    if not isinstance(split, dict) or not all(isinstance(split.get(k, []), list) for k in ("train", "val", "test")):
        raise PixelwiseError(f"{path} does not hold a split (lists of ids under train, val and test); the run folder "
                             "is damaged: train the run again.")
    return split

"""Self-training for ``segment train --pseudo-labels TEACHER``: the training cases whose labels ``--label-fraction``
(or ``--label-ids``) leaves out get masks predicted by a teacher run, and the model trains on the true masks and
these together.

This is pseudo-labelling (Lee 2013, "Pseudo-Label: the simple and efficient semi-supervised learning method for deep
neural networks", ICML workshop on challenges in representation learning) in the form of Noisy Student (Xie, Luong,
Hovy & Le 2020, "Self-training with Noisy Student improves ImageNet classification", CVPR): the teacher predicts
without noise, here averaged over the 8 symmetries of the square (test-time augmentation), and hard labels are
kept (binary: probability > 0.5; multi-class: the most probable class); the student learns them with its own
augmentation and starts from its own initial weights (or ``--init``).

The teacher is refused unless it is fair: a ``segment`` run of the same task (classes, channels) whose split has
this run's validation and test cases, and whose true training labels are all among this run's labelled cases, so
that no mask this run treats as unknown, and no validation or test mask, reaches the student through it. A teacher
trained with a smaller label fraction of the same seed qualifies (the labelled subsets are nested), and so does a
student of an earlier round (its true labels are its labelled cases).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pixelwise.errors import PixelwiseError
from pixelwise.tasks.segment.config import SegmentationConfig
from pixelwise.train.files import read_json
from pixelwise.train.runs import RECIPE_KEY

TTA = "dihedral"  # the teacher's predictions: averaged over the 8 symmetries of the square
CHUNK = 16  # canvases the teacher predicts at once


def unlabelled_ids(split: dict, config: SegmentationConfig) -> list[str]:
    """The training ids whose masks the teacher gives: those outside ``split["labelled"]`` ([] without
    ``pseudo_labels``)."""
    if not config.pseudo_labels:
        return []
    labelled = set(split.get("labelled", split["train"]))
    return sorted(i for i in split["train"] if i not in labelled)


def check_teacher(config: SegmentationConfig, split: dict) -> None:
    """Refuse, in one sentence naming the run and what differs, a teacher that is not a fair one (module docstring)."""
    run = Path(config.pseudo_labels)
    if not (run / "config.json").is_file() or not (run / "split.json").is_file():
        raise PixelwiseError(f"pseudo_labels {run} is not a run folder (no config.json and split.json); give "
                             "--pseudo-labels a folder made by `pixelwise segment train`.")
    source = read_json(run / "config.json")
    if source.get(RECIPE_KEY) != "segment":
        raise PixelwiseError(f"pseudo_labels {run} was made by `pixelwise {source.get(RECIPE_KEY)}`; the teacher "
                             "must be a `pixelwise segment train` run.")
    if source.get("model") == "custom":
        raise PixelwiseError(f"pseudo_labels {run} holds a custom model, which cannot be rebuilt from its folder; "
                             "use a run of --model unet, vit or fcn.")
    for name in ("num_classes", "channels"):
        if source.get(name) != getattr(config, name):
            raise PixelwiseError(f"pseudo_labels {run} has {name}={source.get(name)} but this run "
                                 f"{getattr(config, name)}; the teacher must segment the same classes and channels.")
    taught = read_json(run / "split.json")
    for part in ("val", "test"):
        if sorted(taught.get(part, [])) != sorted(split[part]):
            raise PixelwiseError(f"pseudo_labels {run} has other {part} cases than this run; train the teacher with "
                                 "the same --data, --split (or id lists) and --seed.")
    labelled = set(split.get("labelled", split["train"]))
    seen = [i for i in taught.get("labelled", taught["train"]) if i not in labelled]
    if seen:
        raise PixelwiseError(f"pseudo_labels {run} was trained on {len(seen)} masks that this run treats as "
                             f"unlabelled (e.g. {seen[0]}); use a teacher trained on this run's labelled cases only "
                             "(the same --seed and a --label-fraction at most this run's).")


def pseudo_masks(config: SegmentationConfig, images: np.ndarray | list) -> np.ndarray | list:
    """The teacher's hard masks of ``images`` (this run's training canvases: (N, S, S, C) or a list of (h, w, C)),
    each at its canvas's size, predicted with :data:`TTA` in chunks of :data:`CHUNK`; an array of (N, S, S) uint8
    for stacked canvases, else a list."""
    from pixelwise.tasks.segment.inference import load_run, predict_arrays

    teacher_config, net = load_run(config.pseudo_labels)
    masks: list[np.ndarray] = []
    for start in range(0, len(images), CHUNK):  # predict_arrays runs without gradients itself
        masks.extend(predict_arrays(net, teacher_config, list(images[start:start + CHUNK]), tta=TTA))
    if isinstance(images, np.ndarray):
        return np.stack(masks) if masks else np.empty(images.shape[:3], np.uint8)
    return masks

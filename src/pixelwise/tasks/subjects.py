"""Any trained run as a differentiable function of its inputs, for the commands that explain, attack and invert
networks (``explain``, ``attack``, ``invert``): what its inputs are, its test cases, its loss and its metric.

- ``segment`` runs: inputs are RGB (or grey) images in [0, 1] at the training size; the run's normalisation is
  folded into the model, so that gradients, attributions and epsilons are in pixel units. Target: the mask;
  loss: the run's training loss; metric: Dice at the training size.
- ``classify`` runs: grey images in [0, 1]; target: the label; loss: cross-entropy; metric: accuracy.
- ``restore`` runs: inputs are the measurements y, the model y -> the restored image (the operator bound per
  case); target: the clean image; loss: MSE; metric: PSNR. Only measurements that are pictures (denoising,
  blur, down-sampling) can be explained from image files.

A run of another command is refused in one sentence naming the commands that work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from pixelwise.data.tensors import unit_tensor
from pixelwise.errors import PixelwiseError
from pixelwise.train.files import read_json
from pixelwise.train.runs import RECIPE_KEY

KINDS = ("segment", "classify", "restore")


class Normalised(nn.Module):
    """``net((x - mean) / std)``: a network that takes [0, 1] pixels. (N, C, H, W) -> the net's output."""

    def __init__(self, net: nn.Module, mean, std):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


class Bound(nn.Module):
    """A restoration network with its operator bound: y (N, ...) -> restored image (N, C, H, W)."""

    def __init__(self, net: nn.Module, op):
        super().__init__()
        self.net, self.op = net, op

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.net((y, self.op))


@dataclass
class Batch:
    ids: list[str]
    x: torch.Tensor  # (N, ...) inputs in the attack's units
    target: torch.Tensor  # masks, labels or clean images
    model: nn.Module  # inputs -> outputs


@dataclass
class Subject:
    kind: str  # "segment", "classify" or "restore"
    run_dir: Path
    config: object
    model: nn.Module | None  # inputs -> outputs (None for restore: bound per case)
    net: nn.Module  # the run's own network, eval mode
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (outputs, targets) -> mean loss
    metric: str  # "dice", "accuracy" or "psnr"
    bounds: tuple[float, float] | None  # the valid input range, or None (measurements)

    def scores(self, outputs: torch.Tensor, target: torch.Tensor) -> list[float]:
        """The metric of each case."""
        if self.kind == "classify":
            return (outputs.argmax(1) == target).float().tolist()
        if self.kind == "restore":
            mse = (outputs.clamp(0, 1) - target).pow(2).flatten(1).mean(1)
            return (10 * torch.log10(1 / mse.clamp(min=1e-12))).tolist()
        return dice_scores(outputs, target, self.config.num_classes, self.config.empty_score)


def dice_scores(logits: torch.Tensor, target: torch.Tensor, num_classes: int | None, empty: float) -> list[float]:
    """Per-image Dice at the network's resolution (foreground mean for label masks; both empty -> ``empty``)."""
    if num_classes is None:
        pairs = [(logits[:, 0] > 0, target.reshape(logits.shape[0], *logits.shape[2:]) > 0.5)]
    else:
        labels = logits.argmax(1)
        pairs = [(labels == k, target == k) for k in range(1, num_classes)]
    values = []
    for pred, truth in pairs:
        inter = (pred & truth).flatten(1).sum(1).float()
        total = pred.flatten(1).sum(1).float() + truth.flatten(1).sum(1).float()
        values.append(torch.where(total > 0, 2 * inter / total.clamp(min=1), torch.full_like(total, empty)))
    return torch.stack(values).mean(0).tolist()


def run_kind(run_dir: str | Path) -> str:
    """The command that wrote a run folder, refused unless it is one that these tools work on."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        what = "is a file, not a folder" if run_dir.exists() else "does not exist"
        raise PixelwiseError(f"run folder {run_dir} {what}; give --run a folder made by `pixelwise segment train`, "
                             "`classify train` or `restore train`.")
    kind = read_json(run_dir / "config.json").get(RECIPE_KEY)
    if kind not in KINDS:
        raise PixelwiseError(f"{run_dir} is a run of `pixelwise {kind}`; these tools work on runs of "
                             f"{', '.join(KINDS)} (`pixelwise segment train`, `classify train`, `restore train`).")
    return kind


def load_subject(run_dir: str | Path, which: str = "best") -> Subject:
    """The run in ``run_dir`` as a :class:`Subject` (see the module docstring)."""
    run_dir = Path(run_dir)
    kind = run_kind(run_dir)
    if kind == "segment":
        from pixelwise.tasks.segment import load_run, loss_for

        config, net = load_run(run_dir, which)
        model = Normalised(net, config.norm_mean, config.norm_std).eval()
        return Subject(kind, run_dir, config, model, net, _segment_loss(loss_for(config), config.num_classes),
                       "dice", (0.0, 1.0))
    if kind == "classify":
        from pixelwise.tasks.classify import load_run

        config, net = load_run(run_dir, which)
        return Subject(kind, run_dir, config, net, net, F.cross_entropy, "accuracy", (0.0, 1.0))
    from pixelwise.tasks.restore.inference import load_run

    config, net, _ = load_run(run_dir, which)
    return Subject(kind, run_dir, config, None, net, F.mse_loss, "psnr", None)


def _segment_loss(loss: nn.Module, num_classes: int | None) -> Callable:
    def value(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return loss(logits, mask.float()[:, None] if num_classes is None else mask.long())

    return value


def case_batches(subject: Subject, batch_size: int = 8, limit: int | None = None, data: str | None = None
                 ) -> Iterator[Batch]:
    """The run's test cases (or every case of ``data``), at most ``limit``, in batches (restore: one by one)."""
    if subject.kind == "segment":
        yield from _segment_batches(subject, batch_size, limit, data)
    elif subject.kind == "classify":
        from pixelwise.tasks.classify import load_cases

        x, labels, index, _ = load_cases(subject.run_dir, subject.config, data)
        n = len(x) if limit is None else min(limit, len(x))
        for s in range(0, n, batch_size):
            e = min(s + batch_size, n)
            yield Batch([str(i) for i in index[s:e]], x[s:e], labels[s:e], subject.model)
    else:
        yield from _restore_batches(subject, limit, data)


def _segment_batches(subject: Subject, batch_size: int, limit: int | None, data: str | None) -> Iterator[Batch]:
    from pixelwise.data.folders import ImageMaskFolder
    from pixelwise.data.splits import load_split

    config = subject.config
    folder = ImageMaskFolder(data or config.data, config.num_classes, config.threshold, config.channels,
                             ignore_index=config.ignore_index)
    index = folder.index(load_split(subject.run_dir / "split.json")["test"]) if data is None else list(
        range(len(folder)))
    index = index[:limit] if limit is not None else index
    if not index:
        raise PixelwiseError("there are no test cases to use; give --data a folder of images/ and masks/.")
    images, masks = folder.load(index, (config.size, config.size), progress=False)
    for s in range(0, len(index), batch_size):
        x = unit_tensor(images[s:s + batch_size])  # (B, C, S, S) in [0, 1]
        yield Batch([folder.pairs[i].stem for i in index[s:s + batch_size]], x,
                    torch.from_numpy(masks[s:s + batch_size]).long(), subject.model)


def _restore_batches(subject: Subject, limit: int | None, data: str | None) -> Iterator[Batch]:
    from pixelwise.tasks.restore.evaluation import evaluation_cases
    from pixelwise.tasks.restore.inference import fixed_operator

    config = subject.config
    cases, _ = evaluation_cases(config, fixed_operator(config), data, config.eval_protocol)
    for name, y, op, x in cases[:limit] if limit is not None else cases:
        yield Batch([name], y.float(), x.float(), Bound(subject.net, op).eval())


def read_inputs(subject: Subject, paths: list[Path]) -> tuple[list[np.ndarray], torch.Tensor, nn.Module]:
    """Image files as the subject's inputs: ``(the images as read, (N, C, H, W) inputs, the model)``; segment and
    classify images are resized to the run's size, restore images are taken as measured pictures."""
    from pixelwise.data.folders import resize_image
    from pixelwise.data.io import read_image

    config = subject.config
    if subject.kind == "segment":
        images = [read_image(p, "RGB" if config.channels == 3 else "L") for p in paths]
        images = [im if im.ndim == 3 else im[..., None] for im in images]
        size = (config.size, config.size)
        x = torch.cat([unit_tensor(resize_image(im, size)[None]) for im in images])
        return images, x, subject.model
    if subject.kind == "classify":
        shape = read_json(subject.run_dir / "split.json")["image_shape"]
        images = [read_image(p, "L") for p in paths]
        x = torch.cat([unit_tensor(resize_image(im[..., None], tuple(shape[1:]))[None]) for im in images])
        return images, x, subject.model
    return _restore_inputs(subject, paths)


def _restore_inputs(subject: Subject, paths: list[Path]) -> tuple[list[np.ndarray], torch.Tensor, nn.Module]:
    from pixelwise.physics.presets import build_operator
    from pixelwise.tasks.restore.data import read_clean
    from pixelwise.tasks.restore.inference import APPLICABLE

    config = subject.config
    if config.operator not in APPLICABLE:
        raise PixelwiseError(f"explain takes measured pictures ({', '.join(APPLICABLE)}); this {config.operator} "
                             "run measures no picture: explain a segment, classify or picture-restoring run.")
    ys = [read_clean(config, p) for p in paths]
    if len({tuple(y.shape) for y in ys}) > 1:
        raise PixelwiseError("the images given to a restore run have different sizes; explain them one at a time.")
    scale = config.measurement.scale if config.operator == "downsample" else 1
    h, w = ys[0].shape[-2:]
    op = build_operator(config.measurement, (h * scale, w * scale), torch.Generator().manual_seed(config.seed))
    images = [(y.permute(1, 2, 0).numpy() * 255).clip(0, 255).astype(np.uint8) for y in ys]
    return images, torch.stack(ys).float(), Bound(subject.net, op).eval()

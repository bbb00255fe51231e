"""``run(config)``: labelled images -> a trained digit classifier (centrally, with DP-SGD, by federated averaging,
or adversarially), evaluated on its test split."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional as F

from pixelwise.data.imagesets import load_image_set, split_indices
from pixelwise.errors import PixelwiseError
from pixelwise.models.gan import DigitClassifier
from pixelwise.tasks.classify.config import ClassifyConfig
from pixelwise.tasks.classify.evaluation import evaluate
from pixelwise.train import fit
from pixelwise.train.protected import client_split, settle, training_plan
from pixelwise.train.runs import RunFolder, RunResult


def _split(n: int, config: ClassifyConfig) -> dict:
    split = split_indices(n, config.split, config.seed)
    if not split["train"] or (config.split[2] > 0 and not split["test"]):
        raise PixelwiseError(f"{n} images are too few for the split {config.split}; add data or raise "
                             "--max-images.")
    return {**split, "seed": config.seed, "fractions": list(config.split)}


def _validator(x: torch.Tensor, y: torch.Tensor) -> Callable:
    def validate(model: torch.nn.Module) -> dict:
        logits = torch.cat([model(x[s:s + 512]) for s in range(0, len(x), 512)])
        return {"val_loss": F.cross_entropy(logits, y).item(),
                "val_accuracy": (logits.argmax(1) == y).float().mean().item()}

    return validate


def run(config: ClassifyConfig, overwrite: bool = False, resume: bool = False, progress: bool = True,
        log: Callable[[str], None] = print) -> RunResult:
    """Train and evaluate; writes only inside ``config.out`` (see :mod:`pixelwise.train.runs` for the rules)."""
    t0 = time.perf_counter()
    folder = RunFolder(config, overwrite=overwrite, resume=resume)
    config = folder.config
    data = load_image_set(config.data, config.size, config.cache_dir, max_images=config.max_images, seed=config.seed)
    if data.labels is None:
        raise PixelwiseError(f"{data.name} has no labels; give labelled data (digits, mnist, an .npz with labels, or "
                             "a folder of class sub-folders).")
    classes = max(int(data.labels.max()) + 1, 2)
    split = {**_split(len(data), config), "image_shape": list(data.shape), "classes": classes}
    train = np.asarray(split["train"])
    x, y = torch.from_numpy(data.images), torch.from_numpy(data.labels)
    clients = client_split(config, len(train), data.labels[train], data.images[train].mean((1, 2, 3)))
    if clients is not None:
        split["clients"] = clients
    settle(config, len(train), clients, resume)
    log(f"{len(data)} images of {data.shape} from {data.name}: {len(train)} train, {len(split['val'])} val, "
        f"{len(split['test'])} test" + (f"; {len(clients)} clients" if clients else ""))
    torch.manual_seed(config.seed)  # the initial weights are part of what the seed reproduces
    model = DigitClassifier(data.shape, classes, config.base, config.norm)
    run_dir = folder.create(split)

    def make_batches(indices, sampler) -> Callable:
        pool = train if indices is None else train[np.asarray(indices, dtype=np.int64)]

        def epoch_batches(epoch: int, generator: torch.Generator):
            for idx in sampler(epoch, generator):
                chosen = torch.from_numpy(pool[np.asarray(idx, dtype=np.int64)])
                yield x[chosen], y[chosen]

        return epoch_batches

    plan = training_plan(config, model, len(train), make_batches, clients)
    val = torch.as_tensor(split["val"], dtype=torch.long)
    validate = _validator(x[val], y[val]) if len(val) else None
    monitor = {"monitor": "val_accuracy", "mode": "max"} if validate is not None else {"monitor": "train_loss"}
    result = fit(model, F.cross_entropy, plan.batches, plan.steps, validate, config.fit_config(progress, **monitor),
                 run_dir, resume, log, backward=plan.backward)
    log(f"trained {len(result.history)} epochs in {result.seconds:.0f}s (stopped by {result.stopped}); "
        f"best epoch {result.best_epoch}")
    metrics = evaluate(run_dir, progress=progress, log=log) if split["test"] else {}
    return RunResult(run_dir, metrics, result.history, time.perf_counter() - t0)

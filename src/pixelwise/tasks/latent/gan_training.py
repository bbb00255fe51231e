"""``latent train --model gan|wgan``: a DCGAN (Radford et al. 2016) or a WGAN-GP (Gulrajani et al. 2017) on
small grey images, trained with :func:`pixelwise.train.fit`, and measured by mode coverage under a digit
classifier (the judge).

With labelled data the run first trains the judge (:func:`pixelwise.tasks.classify.train_classifier`) on the
training images, in ``RUN/classifier/``, then the GAN, whose best epoch is the one with the highest mode-coverage
score of a fixed batch of samples: (entropy of the class histogram / log K) x (share of samples classified with
probability > 0.9). On resume a finished judge is reused and an unfinished one resumed (a kill during the judge
stage is resumable too: ``RunFolder(..., stages=...)``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from pixelwise.data.imagesets import ImageSet
from pixelwise.tasks.classify import ClassifierConfig, mode_coverage, train_classifier
from pixelwise.tasks.latent.adversarial import coverage_score, generate, objective_value, train_batches
from pixelwise.tasks.latent.config import LatentConfig
from pixelwise.tasks.latent.data import load_data, make_split, set_derived
from pixelwise.tasks.latent.inference import JUDGE_FOLDER
from pixelwise.tasks.latent.models import build_model, loop_settings
from pixelwise.train.distributed import is_main
from pixelwise.train.loop import fit
from pixelwise.train.runs import RunFolder, RunResult

VALIDATION_SAMPLES = 256  # generated images scored after every epoch


def run_gan(config: LatentConfig, overwrite: bool = False, resume: bool = False, progress: bool = True,
            log: Callable[[str], None] = print) -> RunResult:
    """Train the judge (labelled data) and the GAN, then evaluate; writes only inside ``config.out``."""
    from pixelwise.tasks.latent.evaluation import evaluate

    t0 = time.perf_counter()
    folder = RunFolder(config, overwrite=overwrite, resume=resume, stages=(JUDGE_FOLDER,))
    config = folder.config
    data = load_data(config)
    split = make_split(data, config)
    set_derived(config, data, resume)
    train = torch.from_numpy(data.images[split["train"]]) * 2 - 1  # (N, C, H, W) in [-1, 1]
    log(f"{len(data)} images of {data.shape} from {data.name}: {len(split['train'])} train")
    torch.manual_seed(config.seed)  # the initial weights are part of what the seed reproduces
    objective = build_model(config)
    settings = loop_settings(config, progress, labelled=config.classes > 0)
    main_started = folder.main_started
    run_dir = folder.create(split)
    judge = _judge(run_dir, data, split, config, resume, log) if config.classes > 0 else None
    batches, steps = train_batches(train, config.latent_dim, config.batch_size)
    validate = _validator(judge, config) if judge is not None else None
    result = fit(objective, objective_value, batches, steps, validate, settings, run_dir, resume and main_started,
                 log)
    log(f"trained {len(result.history)} epochs in {result.seconds:.0f}s (stopped by {result.stopped}); "
        f"best epoch {result.best_epoch}")
    metrics = evaluate(run_dir, images=data, progress=progress, log=log) if is_main() else {}
    return RunResult(run_dir, metrics, result.history, time.perf_counter() - t0)


def _judge(run_dir: Path, data: ImageSet, split: dict, config: LatentConfig, resume: bool,
           log: Callable[[str], None]) -> nn.Module:
    """The digit classifier of ``RUN/classifier`` on the training images: trained, resumed, or (finished) reused."""
    folder = run_dir / JUDGE_FOLDER
    started = resume and (folder / "checkpoints" / "last_state.pt").is_file()
    log("resuming the digit classifier that measures mode coverage" if started
        else "training the digit classifier that measures mode coverage")
    settings = ClassifierConfig(config.classifier_epochs, seed=config.seed, deterministic=config.deterministic)
    judge, accuracy = train_classifier(data.images[split["train"]], data.labels[split["train"]], settings, folder,
                                       log=lambda _: None, resume=started)
    log(f"classifier validation accuracy {accuracy:.3f}")
    return judge


def _validator(judge: nn.Module, config: LatentConfig) -> Callable[[nn.Module], dict]:
    """``validate(objective)``: mode coverage of a fixed batch of samples (seed + 1) under the judge."""

    def validate(objective: nn.Module) -> dict:
        cov = mode_coverage(judge, generate(objective.gan, VALIDATION_SAMPLES, config.seed + 1), config.classes)
        objective.gan.train()
        return {"val_coverage": coverage_score(cov), "val_entropy": cov["entropy"],
                "val_confident": cov["confident_fraction"]}

    return validate

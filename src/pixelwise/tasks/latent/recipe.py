"""``run(config)``: images -> a trained autoencoder (the VQ-VAE then its code prior) or GAN, evaluated."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from pixelwise.tasks.latent.config import LatentConfig, is_gan
from pixelwise.tasks.latent.data import autoencoder_batches, load_data, make_split, set_derived, tensor
from pixelwise.tasks.latent.inference import load_run, perplexity, reconstruct
from pixelwise.tasks.latent.models import build_model, loop_settings, loss_for
from pixelwise.tasks.latent.prior import PRIOR_FOLDER, fit_run_prior
from pixelwise.train.checkpoint import load_state
from pixelwise.train.distributed import is_main
from pixelwise.train.loop import fit
from pixelwise.train.runs import RunFolder, RunResult


def run(config: LatentConfig, overwrite: bool = False, resume: bool = False, progress: bool = True,
        log: Callable[[str], None] = print) -> RunResult:
    """Train and evaluate; writes only inside ``config.out`` (the rules: :mod:`pixelwise.train.runs`).

    Every image is read and the split and model are checked before anything is written. A VQ-VAE run then fits
    its PixelCNN prior in ``RUN/prior`` (:mod:`pixelwise.tasks.latent.prior`); gan and wgan runs go to
    :func:`pixelwise.tasks.latent.gan_training.run_gan`. In ``deterministic`` mode a killed run resumed with
    ``resume=True`` ends with the weights, history and metrics of an uninterrupted one, in every stage."""
    if is_gan(config.model):
        from pixelwise.tasks.latent.gan_training import run_gan

        return run_gan(config, overwrite=overwrite, resume=resume, progress=progress, log=log)
    from pixelwise.tasks.latent.evaluation import evaluate

    t0 = time.perf_counter()
    folder = RunFolder(config, overwrite=overwrite, resume=resume)
    config = folder.config
    data = load_data(config)
    split = make_split(data, config)
    set_derived(config, data, resume)
    train, val = tensor(data, split["train"]), tensor(data, split["val"])
    held_out = f" (class {config.anomaly_class} held out of train/val)" if config.anomaly_class is not None else ""
    log(f"{len(data)} images of {data.shape} from {data.name}: {len(split['train'])} train, {len(split['val'])} "
        f"val, {len(split['test'])} test{held_out}")
    torch.manual_seed(config.seed)  # the initial weights are part of what the seed reproduces
    model = build_model(config)
    settings = loop_settings(config, progress)
    run_dir = folder.create(split)
    steps_before = load_state(run_dir / "checkpoints" / "last_state.pt")["step"] if resume else 0
    batches, steps = autoencoder_batches(train, config)
    result = fit(model, loss_for(config), batches, steps, _validator(val), settings, run_dir, resume, log)
    log(f"trained {len(result.history)} epochs in {result.seconds:.0f}s (stopped by {result.stopped}); "
        f"best epoch {result.best_epoch}")
    if config.model == "vqvae":  # the prior continues only if the VQ-VAE (and so its codes) did not change now
        prior_state = run_dir / PRIOR_FOLDER / "checkpoints" / "last_state.pt"
        resume_prior = resume and result.steps == steps_before and prior_state.is_file()
        _, best = load_run(run_dir, "best")
        fit_run_prior(run_dir, config, best, train, val, resume_prior, progress, log)
    metrics = evaluate(run_dir, images=data, progress=progress, log=log) if is_main() else {}
    return RunResult(run_dir, metrics, result.history, time.perf_counter() - t0)


def _validator(images: torch.Tensor) -> Callable:
    """``validate(model)``: mean MSE and BCE per pixel on the validation images (and the VQ-VAE's perplexity)."""

    def validate(model: torch.nn.Module) -> dict:
        r = reconstruct(model, images)
        metrics = {"val_mse": r["mse"].mean().item(), "val_bce": r["bce"].mean().item()}
        if "indices" in r:
            metrics["val_perplexity"] = perplexity(r["indices"], model.quantizer.num_codes)
        return metrics

    return validate

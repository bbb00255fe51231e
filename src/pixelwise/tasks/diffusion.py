"""DDPM recipe: images -> a time-conditioned U-Net trained with the epsilon objective -> sample grids.

``run(config)`` loads and splits the data, trains with :func:`pixelwise.train.fit` (each batch draws t and
eps from the loop's generator, so runs are reproducible), monitors the epsilon loss on validation images
with fixed noise, then samples with the ancestral loop of :mod:`pixelwise.diffusion` and writes
``plots/samples.png`` and ``metrics.json``. Images are scaled from [0, 1] to [-1, 1] for the diffusion.

With ``conditional=True`` (labelled data only) the net also sees each image's class, replaced by "no label"
with probability ``label_dropout``, so that one net is both the class-conditional and the unconditional model;
samples of a chosen class are then drawn with classifier-free guidance of weight ``guidance`` (Ho and Salimans,
"Classifier-Free Diffusion Guidance", 2022). Without labels to ask for, a conditional run samples unconditionally.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pixelwise.data.imagesets import load_image_set, split_indices
from pixelwise.diffusion import SCHEDULES, NoiseSchedule, sample
from pixelwise.diffusion.ddim import ddim_sample
from pixelwise.diffusion.ddpm import VARIANCES, drop_labels, guided_epsilon, min_snr_weights, noised_batch
from pixelwise.errors import DataError, PixelwiseError
from pixelwise.metrics.latent import nearest_mse
from pixelwise.models.diffusion_unet import TimeUNet
from pixelwise.train import FitConfig, fit, load_weights, prepare_run_dir, read_json, write_json
from pixelwise.train.runs import RunResult, config_from_dict


@dataclass
class DiffusionConfig:
    data: str = "digits"
    out: str = "runs/diffuse"
    T: int = 200  # diffusion steps (Ho et al. use 1000; fewer keep CPU sampling short)
    schedule: str = "cosine"
    base: int = 32
    mults: tuple[int, ...] = (1, 2, 2)
    attention: int = 0  # heads of self-attention at the lowest resolution (0 = none)
    size: int | None = None  # folders only
    max_images: int | None = None
    split: tuple[float, float] = (0.9, 0.1)  # train, val
    epochs: int = 30
    minutes: float | None = None
    lr: float = 1e-3
    batch_size: int = 64
    seed: int = 0
    n_samples: int = 64
    variance: str = "beta"
    clip_x0: float | None = 1.0
    ema: float | None = 0.999  # decay of the weight average that is sampled from (Ho et al. 2020 use 0.9999)
    cache_dir: str | None = None
    compile: bool = False  # train through torch.compile (about 1.2x the steps per second on 2 CPU cores)
    min_snr: float | None = None  # Min-SNR-gamma loss weights (Hang et al. 2023; gamma = 5); None: plain MSE
    conditional: bool = False  # class-conditional (needs labels), with classifier-free guidance at sampling
    label_dropout: float = 0.1  # conditional: probability that a label is replaced by "no label" (Ho & Salimans)
    guidance: float = 0.0  # conditional: guidance weight w of the samples drawn after training (0 = none)
    corrector_steps: int = 0  # Langevin corrector steps after each ancestral step (Song et al. 2021; 0 = none)
    snr: float = 0.1  # the corrector's step-size ratio r

    def __post_init__(self):
        for name in ("T", "base", "epochs", "batch_size", "n_samples"):
            if int(getattr(self, name)) != getattr(self, name) or getattr(self, name) < 1:
                raise PixelwiseError(f"{name}={getattr(self, name)} must be an integer >= 1.")
        _check_corrector(self.corrector_steps, self.snr)
        if self.schedule not in SCHEDULES:
            names = ", ".join(SCHEDULES)
            raise PixelwiseError(f"schedule {self.schedule!r} is not known; use one of {names}.")
        if self.variance not in VARIANCES:
            names = ", ".join(VARIANCES)
            raise PixelwiseError(f"variance {self.variance!r} is not known; use one of {names}.")
        self.mults = tuple(int(m) for m in self.mults)
        if not self.mults or min(self.mults) < 1:
            raise PixelwiseError(f"mults={self.mults} must be positive integers, e.g. 1,2,2.")
        lowest = self.base * self.mults[-1]
        if int(self.attention) != self.attention or self.attention < 0 or (self.attention and lowest % self.attention):
            raise PixelwiseError(f"attention={self.attention} must be 0 (none) or a number of heads that divides "
                                 f"the {lowest} channels of the lowest level (base x the last of mults).")
        self.split = tuple(float(f) for f in self.split)
        if len(self.split) != 2 or min(self.split) <= 0 or abs(sum(self.split) - 1) > 1e-6:
            raise PixelwiseError(f"split={self.split} must be two positive fractions (train, val) summing "
                                 "to 1.")
        if self.min_snr is not None and not self.min_snr > 0:
            raise PixelwiseError(f"min_snr={self.min_snr} must be > 0, e.g. 5 (or None for the plain objective).")
        if self.clip_x0 is not None and not self.clip_x0 > 0:
            raise PixelwiseError(f"clip_x0={self.clip_x0} must be > 0 (or None for no clipping).")
        if self.ema is not None and not 0 <= self.ema < 1:
            raise PixelwiseError(f"ema={self.ema} must be a decay in [0, 1), e.g. 0.999 (or none to sample from "
                                 "the raw weights).")
        if not 0 < self.label_dropout < 1:
            raise PixelwiseError(f"label_dropout={self.label_dropout} must lie strictly between 0 and 1 (0.1 in Ho "
                                 "and Salimans 2022): both the conditional and the unconditional model are learnt.")
        if not self.guidance >= 0:
            raise PixelwiseError(f"guidance={self.guidance} must be >= 0 (0 = the conditional model unguided).")
        if self.guidance and not self.conditional:
            raise PixelwiseError(f"guidance={self.guidance} needs a class-conditional model; train with "
                                 "conditional=True (--conditional) or leave guidance at 0.")
        if self.max_images is not None and self.max_images < 2:
            raise PixelwiseError(f"max_images={self.max_images} must be >= 2.")

    @classmethod
    def from_dict(cls, d: dict) -> DiffusionConfig:
        return config_from_dict(cls, d)



class EpsilonModel(nn.Module):
    """Adapter for :func:`pixelwise.train.fit`: ``forward((x_t, t[, y])) = net(x_t, t[, y])`` (fit passes one
    input)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return self.net(*batch)


def build_model(config: DiffusionConfig, channels: int, classes: int = 0) -> EpsilonModel:
    """The run's net; ``classes`` (K > 0) only for a conditional run."""
    return EpsilonModel(TimeUNet(channels, config.base, config.mults, attention=config.attention,
                                 classes=classes if config.conditional else 0))


def _mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """||eps_theta - eps||^2, mean over elements (Ho et al. 2020, eq. 14)."""
    return (prediction - target).pow(2).mean()


def _weighted_mse(prediction: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """mean_i w_i ||eps_theta,i - eps_i||^2 / D: the per-sample squared error (mean over the D elements of a
    sample) times its weight (e.g. :func:`~pixelwise.diffusion.ddpm.min_snr_weights`), averaged over the batch."""
    eps, weights = target
    return ((prediction - eps).pow(2).flatten(1).mean(1) * weights).mean()


def _batches(images: torch.Tensor, schedule: NoiseSchedule, batch_size: int, min_snr: float | None = None,
             labels: torch.Tensor | None = None, label_dropout: float = 0.0, null_label: int = 0) -> Callable:
    """Training batches ``((x_t, t), eps)``, or ``((x_t, t, y), eps)`` with ``labels`` (each dropped to
    ``null_label`` with probability ``label_dropout``); with ``min_snr`` the target is ``(eps, Min-SNR weights)``."""
    n, bs = len(images), min(batch_size, len(images))

    def epoch_batches(epoch: int, generator: torch.Generator):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - bs + 1, bs):
            chosen = order[start:start + bs]
            x_t, t, eps = noised_batch(schedule, images[chosen], generator)
            inputs = (x_t.float(), t)
            if labels is not None:
                inputs += (drop_labels(labels[chosen], label_dropout, null_label, generator),)
            if min_snr is None:
                yield inputs, eps.float()
            else:
                yield inputs, (eps.float(), min_snr_weights(schedule, t, min_snr).float())

    return epoch_batches


def _validator(images: torch.Tensor, schedule: NoiseSchedule, seed: int,
               labels: torch.Tensor | None = None) -> Callable:
    """The epsilon MSE on validation images with fixed t and noise (and their true labels, when given)."""
    def validate(model: nn.Module) -> dict:
        g = torch.Generator().manual_seed(seed + 1)  # the same t and noise every epoch
        total = 0.0
        for start in range(0, len(images), 256):
            x_t, t, eps = noised_batch(schedule, images[start:start + 256], g)
            inputs = (x_t.float(), t) if labels is None else (x_t.float(), t, labels[start:start + 256])
            total += _mse(model(inputs), eps).item() * len(x_t)
        return {"val_loss": total / len(images)}

    return validate


def load_data(config: DiffusionConfig):
    data = load_image_set(config.data, config.size, config.cache_dir)
    if config.max_images is not None and config.max_images < len(data):
        keep = np.sort(np.random.default_rng(config.seed).permutation(len(data))[: config.max_images])
        data = data.subset(keep)
    return data


def run(config: DiffusionConfig, overwrite: bool = False, resume: bool = False, progress: bool = True,
        log: Callable[[str], None] = print) -> RunResult:
    """Train, then sample ``n_samples`` images; writes only inside ``config.out``."""
    t0 = time.perf_counter()
    out = Path(config.out)
    if resume:
        saved = DiffusionConfig.from_dict(read_json(out / "config.json"))
        saved.minutes, saved.epochs = config.minutes or saved.minutes, max(config.epochs, saved.epochs)
        config = saved
    data = load_data(config)
    classes = _classes(data, config)
    parts = split_indices(len(data), (config.split[0], config.split[1], 0.0), config.seed)
    split = {"train": parts["train"], "val": parts["val"], "shape": list(data.shape), "seed": config.seed,
             "classes": classes}
    scaled = torch.from_numpy(data.images) * 2 - 1  # [0, 1] -> [-1, 1]
    train, val = scaled[split["train"]], scaled[split["val"]]
    labels = torch.from_numpy(data.labels).long() if classes else None
    train_labels, val_labels = (None, None) if labels is None else (labels[split["train"]], labels[split["val"]])
    schedule = NoiseSchedule.named(config.schedule, config.T)
    log(f"{len(data)} images of {data.shape} from {data.name}: {len(train)} train, {len(val)} val; "
        f"{schedule}" + (f"; conditional on {classes} classes" if classes else ""))
    torch.manual_seed(config.seed)
    model = build_model(config, data.shape[0], classes)
    fit_config = FitConfig(epochs=config.epochs, minutes=config.minutes, lr=config.lr, seed=config.seed,
                           progress=progress, monitor="val_loss", mode="min", grad_clip=1.0,
                           ema=config.ema, compile=config.compile)  # checked before anything is written
    run_dir = prepare_run_dir(out, overwrite=overwrite, resume=resume)
    write_json(run_dir / "config.json", _config_dict(config))
    write_json(run_dir / "split.json", split)
    steps = max(1, len(train) // min(config.batch_size, len(train)))
    loss = _mse if config.min_snr is None else _weighted_mse  # validation stays the plain epsilon MSE
    batches = _batches(train, schedule, config.batch_size, config.min_snr, train_labels, config.label_dropout,
                       classes)
    result = fit(model, loss, batches, steps, _validator(val, schedule, config.seed, val_labels), fit_config,
                 run_dir, resume, log)
    log(f"trained {len(result.history)} epochs in {result.seconds:.0f}s (stopped by {result.stopped})")
    metrics = evaluate(run_dir, train_images=data.images[split["train"]], log=log)
    return RunResult(run_dir, metrics, result.history, time.perf_counter() - t0)


def _classes(data, config: DiffusionConfig) -> int:
    """The number of classes K of a conditional run (0 for an unconditional one); labels must be 0..K-1."""
    if not config.conditional:
        return 0
    if data.labels is None:
        raise DataError(f"{config.data} has no labels, and a class-conditional DDPM needs them: use an .npz with "
                        "'labels', mnist or digits, or a folder with one sub-folder per class; or train without "
                        "--conditional.")
    if data.labels.min() < 0:
        raise DataError(f"{config.data} has a negative label ({data.labels.min()}); labels must be 0..K-1.")
    return max(int(data.labels.max()) + 1, len(data.class_names or ()))


def _config_dict(config: DiffusionConfig) -> dict:
    d = asdict(config)
    if config.data not in ("mnist", "mnist-test", "digits"):
        d["data"] = str(Path(config.data).resolve())
    return d


def load_run(run_dir: str | Path) -> tuple[DiffusionConfig, TimeUNet, dict]:
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise PixelwiseError(f"{run_dir} is not a diffusion run folder (no config.json); train one with "
                             "`pixelwise diffuse train`.")
    config = DiffusionConfig.from_dict(read_json(run_dir / "config.json"))
    split = read_json(run_dir / "split.json")
    model = build_model(config, split["shape"][0], split.get("classes", 0))
    best = run_dir / "checkpoints" / "best.safetensors"
    load_weights(model, best if best.is_file() else run_dir / "checkpoints" / "last.safetensors")
    return config, model.net.eval(), split


def generate(run_dir: str | Path, n: int, seed: int = 0, callback: Callable | None = None,
             variance: str | None = None, labels=None, guidance: float | None = None, steps: int | None = None,
             eta: float = 0.0, corrector_steps: int | None = None, snr: float | None = None) -> np.ndarray:
    """``n`` samples (N, C, H, W) in [0, 1] from a run's model with the ancestral sampler (all T steps), or
    with ``steps=K``: the DDIM sampler on K of the T steps, with noise ``eta`` (0: deterministic; Song et al.
    2021; see :mod:`pixelwise.diffusion.ddim`), K network calls instead of T. ``corrector_steps`` M and ``snr``
    (default: the run's) follow each ancestral step with M Langevin steps (predictor-corrector sampling, Song et
    al. 2021; :mod:`pixelwise.diffusion.corrector`), M + 1 times the network calls.

    ``variance`` ("beta" or "posterior") overrides the run's choice of sigma_t^2 for this draw. For a
    conditional run, ``labels`` asks for classes: one int for all samples, a sequence of n ints, or "each"
    (0, 1, ..., K-1, 0, 1, ...); ``guidance`` is the weight w of classifier-free guidance (default: the run's).
    Without labels a conditional run samples from its unconditional model."""
    if n < 1:
        raise PixelwiseError(f"n={n} must be >= 1.")
    if variance is not None and variance not in VARIANCES:
        raise PixelwiseError(f"variance {variance!r} is not known; use one of {', '.join(VARIANCES)}.")
    config, net, split = load_run(run_dir)
    if steps is not None and (not isinstance(steps, int | np.integer) or isinstance(steps, bool)
                              or not 1 <= steps <= config.T):
        raise PixelwiseError(f"steps={steps} must be a whole number in 1..{config.T} (the T of {run_dir}), "
                             "e.g. 50; leave it out for the ancestral sampler on all T steps.")
    if not eta >= 0:
        raise PixelwiseError(f"eta={eta} must be >= 0 (0: deterministic DDIM; 1: as much noise as DDPM).")
    if variance is not None and steps is not None:
        raise PixelwiseError(f"variance={variance!r} is a choice of the ancestral sampler; with steps={steps} "
                             "(DDIM) the noise is set by eta instead: leave out one of the two.")
    if corrector_steps is None:  # the run's choice, which belongs to its ancestral sampler (none with DDIM)
        corrector_steps = config.corrector_steps if steps is None else 0
    snr = config.snr if snr is None else snr
    _check_corrector(corrector_steps, snr)
    if corrector_steps and steps is not None:
        raise PixelwiseError(f"corrector_steps={corrector_steps} corrects the ancestral sampler, not DDIM (steps="
                             f"{steps}); leave out one of the two (from the command line: --corrector-steps 0).")
    if eta and steps is None:
        raise PixelwiseError(f"eta={eta} is the noise of the DDIM sampler; give it a number of steps too "
                             "(steps=K, from the command line --steps K).")
    y = _sample_labels(labels, n, split.get("classes", 0), run_dir)
    w = config.guidance if guidance is None else float(guidance)
    if not w >= 0:
        raise PixelwiseError(f"guidance={w} must be >= 0 (0 = the conditional model unguided).")
    if guidance and y is None:
        raise PixelwiseError(f"guidance={guidance} steers samples towards a class; say which with labels=K "
                             "or labels='each' (from the command line: --label K or --label each).")
    schedule = NoiseSchedule.named(config.schedule, config.T)
    model = net if y is None else _conditional_epsilon(net, y, w)
    generator = torch.Generator().manual_seed(seed)
    if steps is None:
        x = sample(model, schedule, (n, *split["shape"]), generator, variance or config.variance, config.clip_x0,
                   callback, int(corrector_steps), float(snr))
    else:
        x = ddim_sample(model, schedule, (n, *split["shape"]), int(steps), eta, generator, config.clip_x0, callback)
    return ((x.clamp(-1, 1) + 1) / 2).numpy()


def _check_corrector(steps, snr) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 0:
        raise PixelwiseError(f"corrector_steps={steps} must be a whole number >= 0 (0: none; 1 doubles the network "
                             "calls of sampling).")
    if not isinstance(snr, int | float) or not snr > 0:
        raise PixelwiseError(f"snr={snr} must be > 0: the Langevin corrector's step size, e.g. 0.1.")


def _sample_labels(labels, n: int, classes: int, run_dir) -> torch.Tensor | None:
    """The (n,) int64 labels asked for, or None (unconditional)."""
    if labels is None:
        return None
    if not classes:
        raise PixelwiseError(f"{run_dir} is an unconditional DDPM and cannot draw chosen classes; train one with "
                             "--conditional on labelled data, or leave out --label.")
    if isinstance(labels, str) and labels == "each":
        return torch.arange(n) % classes
    array = np.asarray(labels)
    array = np.full(n, array) if array.ndim == 0 else array
    if array.dtype.kind not in "iu" or array.shape != (n,) or array.min() < 0 or array.max() >= classes:
        raise PixelwiseError(f"labels {labels!r} must be 'each', one class or {n} classes, integers in "
                             f"0..{classes - 1} (the classes of {run_dir}).")
    return torch.from_numpy(array.astype(np.int64))


def _conditional_epsilon(net: TimeUNet, y: torch.Tensor, w: float) -> Callable:
    """``model(x_t, t)`` for the sampler: eps_theta(x_t, t, y), guided by weight w (one batch of 2N for the
    conditional and the unconditional estimates)."""
    if w == 0:
        return lambda x, t: net(x, t, y)
    null = torch.full_like(y, net.null_label)

    def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        eps = net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))
        conditional, unconditional = eps.chunk(2)
        return guided_epsilon(conditional, unconditional, w)

    return guided


def grid_rows(images: np.ndarray, classes: int = 0) -> tuple[list[np.ndarray], list[str]]:
    """Rows and row titles for :func:`~pixelwise.report.latent.image_grid`: one row of all samples, or, for
    samples of each of ``classes`` classes in turn, one row per round so that every column is one class."""
    if not classes:
        return [images], [f"{len(images)} samples"]
    rows = [images[start:start + classes] for start in range(0, len(images), classes)]
    return rows, [f"classes 0..{classes - 1}"] + [""] * (len(rows) - 1)


def evaluate(run_dir: str | Path, train_images: np.ndarray | None = None,
             log: Callable[[str], None] = print) -> dict:
    """Sample ``n_samples`` images, write plots/samples.png and metrics.json (sample statistics, and the
    mean distance of each sample to its nearest training image: near 0 would mean memorised copies)."""
    from pixelwise.report.latent import image_grid, write_latent_report

    run_dir = Path(run_dir)
    config, _, split = load_run(run_dir)
    labels = "each" if split.get("classes") else None  # a conditional run: every class in turn
    t0 = time.perf_counter()
    images = generate(run_dir, config.n_samples, config.seed, labels=labels)
    seconds = time.perf_counter() - t0
    metrics: dict = {"n_samples": config.n_samples, "T": config.T, "schedule": config.schedule,
                     "sampling_seconds": round(seconds, 2), "sample_mean": float(images.mean()),
                     "sample_std": float(images.std())}
    if config.corrector_steps:
        metrics.update(corrector_steps=config.corrector_steps, snr=config.snr)
    if labels is not None:
        metrics.update(conditional=True, labels="each class in turn", guidance=config.guidance)
    if train_images is not None:
        metrics["nearest_train_mse"] = float(nearest_mse(images, train_images[:5000]).double().mean())
        metrics["train_mean"] = float(train_images.mean())
    asked = f", classes 0..{split['classes'] - 1} in turn, guidance w = {config.guidance:g}" if labels else ""
    if config.corrector_steps:
        asked += f", {config.corrector_steps} corrector step(s) per step"
    rows, titles = grid_rows(images, split.get("classes", 0))
    figure = image_grid(rows, run_dir / "plots" / "samples.png", titles,
                        f"DDPM samples (T = {config.T}, {config.schedule} schedule, seed {config.seed}{asked})")
    write_json(run_dir / "metrics.json", metrics)
    write_latent_report(run_dir, f"DDPM, T = {config.T}", metrics, [figure])
    log(f"sampled {config.n_samples} images in {seconds:.1f}s; grid {figure}")
    return metrics


__all__ = ["DiffusionConfig", "EpsilonModel", "RunResult", "build_model", "evaluate", "generate", "grid_rows",
           "load_run", "run"]

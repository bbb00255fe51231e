"""Samples from a run folder: the ancestral sampler (Ho et al. 2020, Algorithm 2), predictor-corrector
sampling (Song et al., ICLR 2021), DDIM (Song, Meng and Ermon, ICLR 2021) and classifier-free guidance (Ho and
Salimans 2022), with the maths in :mod:`pixelwise.diffusion`; and the rows of a sample grid."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from pixelwise.diffusion import NoiseSchedule, guided_epsilon, sample
from pixelwise.diffusion.ddim import ddim_sample
from pixelwise.diffusion.ddpm import VARIANCES
from pixelwise.errors import PixelwiseError
from pixelwise.models.diffusion_unet import TimeUNet
from pixelwise.tasks.diffuse.config import DiffusionConfig, check_corrector
from pixelwise.tasks.diffuse.models import build_model
from pixelwise.train.checkpoint import load_weights
from pixelwise.train.devices import resolve_device
from pixelwise.train.runs import checkpoint_path, read_config


def load_run(run_dir: str | Path, which: str = "best") -> tuple[DiffusionConfig, TimeUNet]:
    """The config and the trained net of a run folder (``which``: "best" or "last", both the averaged weights
    when the run kept an average), in eval mode."""
    config = read_config(DiffusionConfig, run_dir)
    model = build_model(config)
    load_weights(model, checkpoint_path(run_dir, which))
    return config, model.net.eval()


def generate(run_dir: str | Path, n: int, seed: int = 0, callback: Callable | None = None,
             variance: str | None = None, labels=None, guidance: float | None = None, steps: int | None = None,
             eta: float = 0.0, corrector_steps: int | None = None, snr: float | None = None, which: str = "best",
             progress: bool = False, device: str = "auto") -> np.ndarray:
    """``n`` samples (N, C, H, W) in [0, 1] from a run's model with the ancestral sampler (all T steps), or
    with ``steps=K``: the DDIM sampler on K of the T steps, with noise ``eta`` (0: deterministic; see
    :mod:`pixelwise.diffusion.ddim`), K network calls instead of T. ``corrector_steps`` M and ``snr`` (default:
    the run's) follow each ancestral step with M Langevin steps (:mod:`pixelwise.diffusion.corrector`), M + 1
    times the network calls.

    ``variance`` ("beta" or "posterior") overrides the run's choice of sigma_t^2 for this draw. For a
    conditional run, ``labels`` asks for classes: one int for all samples, a sequence of n ints, or "each"
    (0, 1, ..., K-1, 0, 1, ...); ``guidance`` is the weight w of classifier-free guidance (default: the run's).
    Without labels a conditional run samples from its unconditional model. ``callback(t, out)`` sees every
    step; ``progress`` shows a bar over the steps; ``which`` picks the checkpoint. ``device``: where the network
    runs (:mod:`pixelwise.train.devices`); the sampler's arithmetic and its noise stay on the CPU, so a seed draws
    the same noise on every device."""
    from tqdm.auto import tqdm

    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise PixelwiseError(f"n={n} must be a whole number >= 1.")
    if variance is not None and variance not in VARIANCES:
        raise PixelwiseError(f"variance {variance!r} is not known; use one of {', '.join(VARIANCES)}.")
    config, net = load_run(run_dir, which)
    corrector_steps, snr = _sampler_settings(config, run_dir, variance, steps, eta, corrector_steps, snr)
    y = _sample_labels(labels, n, config.classes, run_dir)
    w = config.guidance if guidance is None else guidance
    if isinstance(w, bool) or not isinstance(w, int | float) or not (w >= 0 and np.isfinite(w)):
        raise PixelwiseError(f"guidance={w} must be a finite number >= 0 (0 = the conditional model unguided).")
    if guidance and y is None:
        raise PixelwiseError(f"guidance={guidance} steers samples towards a class; say which with labels=K "
                             "or labels='each' (from the command line: --label K or --label each).")
    schedule = NoiseSchedule.named(config.noise_schedule, config.T)
    target = resolve_device(device)
    net, y = net.to(target), y.to(target) if y is not None else None
    guided = net if y is None else _conditional_epsilon(net, y, float(w))
    model = guided if target.type == "cpu" else (lambda x, t: guided(x.to(target), t.to(target)).cpu())
    generator, shape = torch.Generator().manual_seed(seed), (n, *config.image_shape)
    bar = tqdm(total=config.T if steps is None else int(steps), desc="sampling", disable=not progress, leave=False)

    def each_step(t: int, out) -> None:
        bar.update(1)
        if callback is not None:
            callback(t, out)

    with torch.no_grad():
        if steps is None:
            x = sample(model, schedule, shape, generator, variance or config.variance, config.clip_x0, each_step,
                       int(corrector_steps), float(snr))
        else:
            x = ddim_sample(model, schedule, shape, int(steps), eta, generator, config.clip_x0, each_step)
    bar.close()
    return ((x.clamp(-1, 1) + 1) / 2).numpy()


def _sampler_settings(config: DiffusionConfig, run_dir, variance, steps, eta, corrector_steps, snr) -> tuple:
    """Check the sampler's arguments against each other and the run; returns (corrector_steps, snr) with the
    run's defaults filled in (its corrector belongs to its ancestral sampler: none with DDIM)."""
    if steps is not None and (not isinstance(steps, int | np.integer) or isinstance(steps, bool)
                              or not 1 <= steps <= config.T):
        raise PixelwiseError(f"steps={steps} must be a whole number in 1..{config.T} (the T of {run_dir}), "
                             "e.g. 50; leave it out for the ancestral sampler on all T steps.")
    if isinstance(eta, bool) or not isinstance(eta, int | float) or not (eta >= 0 and np.isfinite(eta)):
        raise PixelwiseError(f"eta={eta} must be a finite number >= 0 (0: deterministic DDIM; 1: as much noise as "
                             "DDPM).")
    if variance is not None and steps is not None:
        raise PixelwiseError(f"variance={variance!r} is a choice of the ancestral sampler; with steps={steps} "
                             "(DDIM) the noise is set by eta instead: leave out one of the two.")
    if corrector_steps is None:
        corrector_steps = config.corrector_steps if steps is None else 0
    snr = config.snr if snr is None else snr
    check_corrector(corrector_steps, snr)
    if corrector_steps and steps is not None:
        raise PixelwiseError(f"corrector_steps={corrector_steps} corrects the ancestral sampler, not DDIM (steps="
                             f"{steps}); leave out one of the two (from the command line: --corrector-steps 0).")
    if eta and steps is None:
        raise PixelwiseError(f"eta={eta} is the noise of the DDIM sampler; give it a number of steps too "
                             "(steps=K, from the command line --steps K).")
    return corrector_steps, snr


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
    """``model(x_t, t)`` for the sampler: eps_theta(x_t, t, y), guided by weight w (Ho and Salimans 2022, eq. 6;
    one batch of 2N for the conditional and the unconditional estimates)."""
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

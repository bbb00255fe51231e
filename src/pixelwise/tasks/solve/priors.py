"""The learned priors of ``pixelwise solve``, read from the run folders of other commands through their public
``load_run``: a denoiser (``restore train --task denoise``) for plug-and-play and RED, a latent run's decoder or
generator for CSGM, a DDPM (``diffuse train``) for diffusion posterior sampling. Each is checked against the
image before anything is written: the right kind of run, the image's channels, the image's size."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pixelwise.errors import PixelwiseError
from pixelwise.models.ensemble import dihedral_mean
from pixelwise.physics import Identity
from pixelwise.solvers.pnp import Denoiser, scaled_denoiser
from pixelwise.tasks.solve.config import PRIOR_OF, TRAINED_BY
from pixelwise.train.files import read_json

__all__ = ["PRIOR_OF", "TRAINED_BY", "Prior", "load_denoiser", "load_diffusion", "load_generator", "load_priors"]
RECIPE_OF = {"denoiser": "restore", "generator": "latent", "diffusion": "diffuse"}


@dataclass
class Prior:
    """A loaded learned prior: what the solver calls, and what ``metrics.json`` records about it."""

    kind: str  # denoiser, generator or diffusion
    call: Callable  # the denoiser D(v, sigma), the generator G(z), or the noise predictor eps(x_t, t)
    info: dict = field(default_factory=dict)  # the run, its model and settings
    latent_dim: int = 0  # generator: the size of z
    schedule: object = None  # diffusion: its NoiseSchedule


def _checked_run(path: str, kind: str) -> Path:
    """The run folder ``path`` given for ``kind``, refused in one sentence unless a run of the right command."""
    run, flag, fix = Path(path), f"--{kind}", f"give the folder of a `pixelwise {TRAINED_BY[kind]}` run"
    if not run.is_dir():
        raise PixelwiseError(f"{flag} {run} {'is a file' if run.exists() else 'does not exist'}; {fix}.")
    recipe = read_json(run / "config.json").get("_recipe") if (run / "config.json").is_file() else None
    if recipe != RECIPE_OF[kind]:
        what = f"a `pixelwise {recipe}` run" if recipe else "not a run folder"
        raise PixelwiseError(f"{flag} {run} is {what}; {fix}.")
    return run


def _shape_check(kind: str, run: Path, made: tuple, image: tuple) -> None:
    if tuple(made) != tuple(image):
        raise PixelwiseError(f"--{kind} {run} makes {'x'.join(map(str, made))} images but the image is "
                             f"{'x'.join(map(str, image))} (channels x height x width); give an image of that size "
                             "(--size, --grey) or a run trained on images like it.")


def load_denoiser(path: str, channels: int, ensemble: bool = False) -> Prior:
    """A ``restore`` denoising run as ``D(v, sigma)``: its network at the noise levels it was trained at, scaled
    to others (:func:`pixelwise.solvers.pnp.scaled_denoiser`). ``ensemble``: each call the x8 self-ensemble of
    the network (:func:`pixelwise.models.ensemble.dihedral_mean`; DPIR's "x8"), eight times the time."""
    from pixelwise.tasks.restore import load_run

    run = _checked_run(path, "denoiser")
    config, model, _ = load_run(run)
    if config.operator != "denoise":
        raise PixelwiseError(f"--denoiser {run} is a restore run for {config.operator}, not a denoiser; give the "
                             f"folder of a `pixelwise {TRAINED_BY['denoiser']}` run.")
    if config.channels != channels:
        raise PixelwiseError(f"--denoiser {run} denoises {config.channels}-channel images but the image has "
                             f"{channels}; use --grey for a grey denoiser, or a denoiser trained with --channels "
                             f"{channels}.")
    low, high = config.sigma_range if config.sigma_range is not None else (config.sigma, config.sigma)
    if high <= 0:
        raise PixelwiseError(f"--denoiser {run} was trained without noise (sigma 0); give a denoiser trained at a "
                             "noise level, e.g. --sigma 25.")
    identity = Identity()
    mean = dihedral_mean if ensemble else lambda f, v: f(v)
    if config.noise_map:  # told each level: (y, op, one level per image)
        denoise: Denoiser = scaled_denoiser(
            lambda v, level: mean(lambda u: model((u, identity, torch.full((len(u),), level))), v),
            (low / 255.0, high / 255.0), told=True)
    else:
        denoise = scaled_denoiser(lambda v: mean(lambda u: model((u, identity)), v), (low / 255.0, high / 255.0))
    return Prior("denoiser", denoise, {"run": str(run.resolve()), "model": config.model,
                                       "trained_sigma": [float(low), float(high)], "noise_map": config.noise_map,
                                       "ensemble": ensemble})


def load_generator(path: str, shape: tuple[int, int, int]) -> Prior:
    """A ``latent`` run's decoder (autoencoders) or generator (GANs) as ``G(z)`` with images in [0, 1]."""
    from pixelwise.tasks.latent import is_gan, load_run

    run = _checked_run(path, "generator")
    config, model = load_run(run)
    if config.model == "vqvae":
        raise PixelwiseError(f"--generator {run} is a VQ-VAE, whose codes are discrete and cannot be optimised by "
                             "gradient; give a vae, convae, ae, dae, sparse, cae, gan or wgan run.")
    _shape_check("generator", run, tuple(config.image_shape), shape)
    for p in model.parameters():
        p.requires_grad_(False)  # only the code is optimised
    if is_gan(config.model):
        def generate(z):
            return (model(z) + 1) / 2  # the generator's [-1, 1] to [0, 1]
    else:
        generate = model.decode  # the decoder's sigmoid output, in [0, 1]
    return Prior("generator", generate, {"run": str(run.resolve()), "model": config.model,
                                         "latent_dim": config.latent_dim}, latent_dim=config.latent_dim)


def load_diffusion(path: str, shape: tuple[int, int, int]) -> Prior:
    """A ``diffuse`` run's noise predictor (its unconditional model), noise schedule and sampling clip (DPS clips
    its denoised estimate as the run's own sampler does)."""
    from pixelwise.diffusion import NoiseSchedule
    from pixelwise.tasks.diffuse import load_run

    run = _checked_run(path, "diffusion")
    config, net = load_run(run)
    _shape_check("diffusion", run, tuple(config.image_shape), shape)
    for p in net.parameters():
        p.requires_grad_(False)  # gradients flow to the image only
    return Prior("diffusion", lambda x, t: net(x, t), {"run": str(run.resolve()), "T": config.T,
                                                         "noise_schedule": config.noise_schedule,
                                                         "clip_x0": config.clip_x0},
                 schedule=NoiseSchedule.named(config.noise_schedule, config.T))


def load_priors(runs: dict[str, str | None], shape: tuple[int, int, int], ensemble: bool = False
                ) -> dict[str, Prior]:
    """Each given run of ``runs`` (kind -> folder or None) loaded and checked for images of ``shape`` (C, H, W);
    ``ensemble``: the denoiser's x8 self-ensemble."""
    loaders = {"denoiser": lambda path, shape: load_denoiser(path, shape[0], ensemble), "generator": load_generator,
               "diffusion": load_diffusion}
    return {kind: loaders[kind](path, tuple(shape)) for kind, path in runs.items() if path is not None}

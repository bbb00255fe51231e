"""Samples of a latent run: random codes into the decoder, code maps from the VQ-VAE's prior, GAN samples."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.models.autoencoders import ConvAutoencoder
from pixelwise.models.pixelcnn import PixelCNNPrior
from pixelwise.models.vqvae import VQVAE
from pixelwise.tasks.latent.adversarial import generate
from pixelwise.tasks.latent.config import LatentConfig, is_gan
from pixelwise.tasks.latent.inference import load_run
from pixelwise.tasks.latent.prior import load_run_prior


@torch.no_grad()
def prior_codes(prior: PixelCNNPrior, n: int, h: int, w: int, generator: torch.Generator,
                progress: bool = False) -> torch.Tensor:
    """``prior.sample`` (ancestral, raster order: one network call per code position) with a progress bar over
    the h x w positions."""
    from tqdm.auto import tqdm

    with tqdm(total=h * w, desc="sampling codes", unit="position", disable=not progress, leave=False) as bar:
        return prior.sample(n, h, w, generator=generator, callback=lambda i, idx: bar.update(1))


@torch.no_grad()
def random_decodes(model: nn.Module, config: LatentConfig, n: int, seed: int, prior: PixelCNNPrior | None = None,
                   progress: bool = False) -> torch.Tensor:
    """Decode random codes, (n, C, H, W): z ~ N(0, I) for the AE family (the VAE's prior); for the VQ-VAE, code
    maps sampled from ``prior`` in raster order, or uniform indices without one. Seeded by ``seed``."""
    g = torch.Generator().manual_seed(seed)
    if isinstance(model, VQVAE):
        h, w = model.ae.sizes[2]
        if prior is not None:
            return model.decode_indices(prior_codes(prior, n, h, w, g, progress))
        return model.decode_indices(torch.randint(0, model.quantizer.num_codes, (n, h, w), generator=g))
    if isinstance(model, ConvAutoencoder) and model.bottleneck == "map":
        h, w = model.sizes[2]
        return model.decode(torch.randn(n, config.latent_dim, h, w, generator=g))
    return model.decode(torch.randn(n, config.latent_dim, generator=g))


def sample(run_dir: str | Path, n: int = 64, seed: int = 0, out: str | Path | None = None, which: str = "best",
           progress: bool = True) -> Path:
    """Write ``n`` samples of a run as a PNG grid (default ``RUN/plots/samples_seedS.png``); returns its path.

    Autoencoders: z ~ N(0, I) decoded (the VAE's prior); the VQ-VAE: code maps drawn from the run's PixelCNN
    prior in raster order, decoded; GANs: the generator's images of z ~ N(0, I). The same seed gives the same
    images."""
    from pixelwise.report.latent import image_grid

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise PixelwiseError(f"n={n!r} must be a whole number >= 1, e.g. -n 16.")
    config, model = load_run(run_dir, which)
    path = Path(out) if out is not None else Path(run_dir) / "plots" / f"samples_seed{seed}.png"
    if is_gan(config.model):
        title = f"{config.model.upper()} samples (seed {seed})"
        return image_grid([generate(model, n, seed)], path, [f"{n} samples"], title)
    prior, title = None, f"{config.model}: decoded z ~ N(0, I)"
    if isinstance(model, VQVAE):
        prior = load_run_prior(run_dir, config)
        if prior is None:
            raise PixelwiseError(f"{run_dir} has no code prior (prior/checkpoints/best.safetensors), and uniform "
                                 "codes decode to noise; train the VQ-VAE run again (or --resume it) to fit one.")
        title = "vqvae: code maps sampled from the PixelCNN prior, decoded"
    images = random_decodes(model, config, n, seed, prior, progress)
    return image_grid([images.numpy()], path, [f"{n} samples"], title)

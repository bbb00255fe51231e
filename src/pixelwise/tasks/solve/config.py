"""The settings of ``pixelwise solve`` (and of its output folders).

The module imports no solver: the names of the methods are read inside ``__post_init__``. (The measurement's
preset table, :mod:`pixelwise.physics.presets`, imports torch at module level.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from pixelwise.errors import PixelwiseError
from pixelwise.physics.presets import Measurement
from pixelwise.train.config import one_of, option, whole

# a learned method -> the setting naming its run, and the command that trains such a run (pixelwise.tasks.solve.priors
# holds the same tables next to the loaders; these are here so that the config imports no torch)
PRIOR_OF = {"pnp": "denoiser", "red": "denoiser", "csgm": "generator", "dps": "diffusion"}
TRAINED_BY = {"denoiser": "restore train --task denoise", "generator": "latent train (vae, convae, ae, dae, "
              "sparse, cae, gan or wgan)", "diffusion": "diffuse train"}

# operators whose measurements may be negative (k-space, line integrals of a zero-mean part): no photon counts
SIGNED_MEASUREMENTS = ("mri", "ct")


def height_width(text: str) -> tuple[int, int]:
    """``"256x192"`` -> ``(256, 192)``: rows, then columns."""
    parts = text.lower().split("x")
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not HxW")
    return int(parts[0]), int(parts[1])


@dataclass
class SolveConfig:
    """An image (or a measurement file) -> a simulated measurement -> classical reconstructions, scored against
    the truth (see :mod:`pixelwise.tasks.solve`)."""

    RECIPE: ClassVar[str] = "solve"

    image: str | None = option(None, path=True, help="clean image (the truth); optional with --measured")
    out: str = option("runs/solve", path=True, help="output folder to create")
    method: str = option("tv", help="adjoint (the naive inverse: A^T y, zero-filled, bicubic or FBP), cg, "
                         "tikhonov, tv, pgd, wavelet (l1-wavelet by FISTA); with a learned prior: pnp or red "
                         "(--denoiser), csgm (--generator), dps (--diffusion)")
    compare: bool = option(False, help="run every classical method, and each learned one whose run is given, and "
                           "print a table")
    lam: float | str | None = option(None, flag="--lambda", metavar="LAMBDA", help="regularisation weight >= 0, or "
                                     "auto (a golden-section search on a validation photograph); default: per method "
                                     "and operator")
    iterations: int | None = option(None, help="solver iterations (default: per method, cg 10, tikhonov 50, "
                                    "tv 200, pgd 50, wavelet 100, pnp 24 (deblurring 8), red 30, csgm 300; dps "
                                    "runs all T steps of its DDPM; pnp with --lambda auto: 8 or 24, searched)")
    wavelet: str = option("db4", help="wavelet of the l1-wavelet method: haar or db1 ... db10")
    wavelet_levels: int | None = option(None, help="levels of the wavelet transform (default: up to 4, as many as "
                                        "the image size allows)")
    denoiser: str | None = option(None, path=True, help="a denoiser run (`pixelwise restore train --task denoise`) "
                                  "for --method pnp or red")
    ensemble: bool = option(False, help="pnp, red: the denoiser's x8 self-ensemble, averaged over the flips and "
                            "quarter turns of its input (DPIR's x8; 8 times the time)")
    pnp_algorithm: str | None = option(None, help="plug-and-play loop: hqs (DPIR's schedule), admm or pgd (default: "
                                       "hqs; with --lambda auto the better of hqs and admm on the validation image)")
    generator: str | None = option(None, path=True, help="a latent run (vae, convae, ae, dae, sparse, cae, gan, "
                                   "wgan) whose decoder is the prior of --method csgm")
    restarts: int = option(5, help="csgm: random starting codes (the best fit is kept)")
    diffusion: str | None = option(None, path=True, help="a DDPM run (`pixelwise diffuse train`) for --method dps")
    noise_sigma: float = option(2.0, help="Gaussian noise std in grey levels of 255")
    poisson_peak: float | None = option(None, help="Poisson noise instead: photons at value 1")
    grey: bool = option(False, help="convert the image to grey (default: the file's own channels, so a grey "
                                    "file is solved as one channel)")
    size: int | None = option(None, help="centre-crop the image to SIZE x SIZE")
    seed: int = option(0, help="seed of the noise and of random masks")
    measured: str | None = option(None, path=True, help="measurement file (.npy from a previous run, or an image)")
    image_size: tuple[int, int] | None = option(None, parse=height_width, metavar="HxW",
                                                help="height x width of the image behind --measured (CT, valid "
                                                "blur)")
    validation: str | None = option(None, path=True, help="validation image for --lambda auto, or a folder of "
                                    "them (scored by their mean PSNR; default: the bundled astronaut)")
    mask: str | None = option(None, path=True, help="inpaint: mask image of the image's size, white = kept "
                              "(default: a random mask)")
    measurement: Measurement = option(default_factory=lambda: Measurement(operator="blur"), help="the measurement")

    def __post_init__(self):
        from pixelwise.physics.wavelets import WAVELET_NAMES
        from pixelwise.solvers.methods import METHOD_NAMES
        from pixelwise.solvers.pnp import ALGORITHMS

        if not isinstance(self.measurement, Measurement):
            raise PixelwiseError(f"measurement={self.measurement!r} is not a Measurement; build it with "
                                 "pixelwise.physics.presets.Measurement(operator=...).")
        one_of(self.method, "method", METHOD_NAMES + tuple(PRIOR_OF))
        if self.pnp_algorithm is not None:
            one_of(self.pnp_algorithm, "pnp_algorithm", ALGORITHMS)
        one_of(self.wavelet, "wavelet", WAVELET_NAMES)
        whole(self.restarts, "restarts")
        if self.wavelet_levels is not None:
            whole(self.wavelet_levels, "wavelet_levels")
        self._check_priors()
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise PixelwiseError(f"seed={self.seed!r} (--seed) is not a valid seed; give a whole number seed >= 0, "
                                 "e.g. 0.")
        if self.image is None and self.measured is None:
            raise PixelwiseError("give a clean IMAGE to simulate a measurement from, or --measured FILE.")
        self._check_noise()
        self._check_lambda()
        if self.iterations is not None:
            whole(self.iterations, "iterations")
        if self.size is not None:
            whole(self.size, "size")
        if self.image_size is not None:
            self._check_image_size()
        if self.mask is not None and self.measurement.operator != "inpaint":
            raise PixelwiseError(f"mask={self.mask} (--mask) is the pixel mask of the inpaint operator; the "
                                 f"{self.measurement.operator} operator does not use it: leave it out (for MRI's "
                                 "k-space lines see --mask-kind).")

    def _check_priors(self) -> None:
        """A learned method needs its run; a run no chosen method uses is refused (it would be silently ignored)."""
        needed = PRIOR_OF.get(self.method)
        if needed is not None and not self.compare and getattr(self, needed) is None:
            raise PixelwiseError(f"method {self.method} needs a trained prior: give --{needed} RUN (a folder made by "
                                 f"`pixelwise {TRAINED_BY[needed]}`).")
        for kind in ("denoiser", "generator", "diffusion"):
            if getattr(self, kind) is not None and not self.compare and needed != kind:
                users = " and ".join(m for m, k in PRIOR_OF.items() if k == kind)
                raise PixelwiseError(f"{kind}={getattr(self, kind)} (--{kind}) is the prior of {users}, not of "
                                     f"{self.method}; choose --method {users.split(' and ')[0]}, add --compare, or "
                                     f"leave --{kind} out.")
        if self.ensemble and self.denoiser is None:
            raise PixelwiseError("ensemble (--ensemble) averages a denoiser over flips and turns; give --denoiser RUN "
                                 "with --method pnp or red, or leave out --ensemble.")

    def _check_noise(self) -> None:
        if isinstance(self.noise_sigma, bool) or not (self.noise_sigma >= 0 and math.isfinite(self.noise_sigma)):
            raise PixelwiseError(f"noise_sigma={self.noise_sigma} (--noise-sigma) must be a finite number >= 0 "
                                 "(grey levels out of 255).")
        if self.poisson_peak is None:
            return
        if not (self.poisson_peak > 0 and math.isfinite(self.poisson_peak)):
            raise PixelwiseError(f"poisson_peak={self.poisson_peak} (--poisson-peak) must be a finite number > 0 "
                                 "(photons at value 1), or unset for Gaussian noise.")
        if self.measurement.operator in SIGNED_MEASUREMENTS:
            raise PixelwiseError(f"Poisson noise needs non-negative measurements, which {self.measurement.operator} "
                                 "does not give; use --noise-sigma instead of --poisson-peak.")

    def _check_lambda(self) -> None:
        lam = self.lam
        if isinstance(lam, str) and lam != "auto":
            raise PixelwiseError(f"lam={lam!r} (--lambda) must be a number >= 0 or 'auto'.")
        if isinstance(lam, bool) or (lam is not None and not isinstance(lam, (str, int, float))):
            raise PixelwiseError(f"lam={lam!r} (--lambda) must be a number >= 0 or 'auto'.")
        if isinstance(lam, (int, float)) and not (lam >= 0 and math.isfinite(lam)):
            raise PixelwiseError(f"lam={lam} (--lambda) must be a finite number >= 0 (or 'auto').")

    def _check_image_size(self) -> None:
        size = tuple(self.image_size)
        if len(size) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in size):
            shown = "x".join(map(str, size))
            raise PixelwiseError(f"image_size={shown} (--image-size) must be two whole numbers >= 1, height x "
                                 "width, e.g. 256x256.")
        self.image_size = size

    @property
    def sigma(self) -> float:
        """The Gaussian noise level in measurement units (``noise_sigma / 255``)."""
        return self.noise_sigma / 255.0

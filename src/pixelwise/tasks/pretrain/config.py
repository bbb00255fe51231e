"""The settings of ``pixelwise pretrain train`` (and of its run folders)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from pixelwise.errors import PixelwiseError
from pixelwise.train.config import TrainingConfig, check_vit, one_of, option, whole

METHODS = ("simclr", "ae", "dae", "mae", "genesis")
ENCODERS = ("unet", "vit")
NORMS = ("batch", "instance", "group", "none")
FLIPS = ("none", "horizontal", "all")
NAMED = ("digits", "mnist")  # image sets --data may name instead of a path


def _pair(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


@dataclass
class PretrainConfig(TrainingConfig):
    """Unlabelled images -> a pretrained encoder of the segmentation U-Net or ViT (see :mod:`pixelwise.tasks.pretrain`).

    The encoder settings carry the names of ``pixelwise segment train``'s, so that the same values build an encoder
    whose weights ``segment train --init RUN`` can load."""

    RECIPE: ClassVar[str] = "pretrain"
    DEFAULT_EPOCHS: ClassVar[int] = 50

    data: str = option("", path=True, keywords=NAMED, help="unlabelled images: a folder (its images/ sub-folder if "
                       "it has one; masks and class sub-folders are only read for their images), an .npz, digits or "
                       "mnist")
    out: str = option("runs/pretrain", path=True, help="run folder to create")
    method: str = option("simclr", help="simclr (contrastive), ae, dae (denoising) or mae (masked) autoencoder, or "
                         "genesis (the whole U-Net restores distorted images, Models Genesis; --init then loads its "
                         "decoder too)")
    model: str = option("unet", help="whose encoder: unet or vit (the segmentation models')")
    size: int = option(64, help="image size in pixels (square); a ViT's must be the segmentation run's --size")
    channels: int = option(3, help="3 for RGB images, 1 for grey")
    max_images: int | None = option(None, help="use a random subset of this many images (drawn with the seed)")
    val_fraction: float = option(0.1, help="fraction of the images held out to validate the pretext task")
    batch_size: int = option(32, help="images per training step (SimCLR: 2 views each, the negatives of each other)")
    # the encoder (the names and meaning of `segment train`'s)
    base_channels: int = option(32, help="U-Net: channels of the first level")
    depth: int = option(4, help="U-Net: levels")
    norm: str = option("batch", help="U-Net: normalisation: batch, instance, group or none")
    patch_size: int = option(16, help="ViT: patch size (divides --size)")
    dim: int = option(192, help="ViT: width")
    vit_depth: int = option(6, help="ViT: transformer layers")
    heads: int = option(3, help="ViT: attention heads (divide --dim)")
    # SimCLR
    temperature: float = option(0.5, help="SimCLR: the NT-Xent temperature tau")
    projection_dim: int = option(128, help="SimCLR: output size of the projection head")
    crop_scale: tuple[float, float] = option((0.2, 1.0), parse=_pair, help="SimCLR: range of the crops' area "
                                             "fraction")
    flips: str = option("horizontal", help="SimCLR (and autoencoders): none, horizontal, or all (vertical flips and "
                        "quarter turns too, for images without an up)")
    jitter: float = option(0.5, help="SimCLR: colour-jitter strength s (0 turns it off)")
    grey_p: float = option(0.2, help="SimCLR: probability of a grey view")
    blur_p: float = option(0.5, help="SimCLR: probability of a Gaussian blur")
    # autoencoders
    noise: float = option(0.1, help="dae: standard deviation of the Gaussian noise added to the [0, 1] input")
    mask_ratio: float = option(0.75, help="mae: fraction of the patches hidden")
    mask_patch: int = option(8, help="mae, U-Net: side of the hidden squares in pixels (the ViT hides its own "
                             "patches)")
    decoder_dim: int = option(64, help="mae/ae, ViT: width of the small transformer decoder")
    # set by the recipe: the training images' per-channel mean and std used to normalise inputs
    norm_mean: list[float] = option(derived=True, default_factory=list)
    norm_std: list[float] = option(derived=True, default_factory=list)

    def __post_init__(self):
        super().__post_init__()
        one_of(self.method, "method", METHODS)
        one_of(self.model, "model", ENCODERS)
        one_of(self.norm, "norm", NORMS)
        one_of(self.flips, "flips", FLIPS)
        for name in ("size", "base_channels", "depth", "projection_dim", "mask_patch", "decoder_dim"):
            whole(getattr(self, name), name)
        if self.channels not in (1, 3):
            raise PixelwiseError(f"channels={self.channels} must be 3 (RGB) or 1 (grey).")
        if self.size < 8:
            raise PixelwiseError(f"size={self.size} is too small; use at least 8 pixels (e.g. 64).")
        if self.max_images is not None:
            whole(self.max_images, "max_images", 2)
        if self.base_channels * 2 ** min(self.depth, 64) > 2**16:
            raise PixelwiseError(f"depth={self.depth} with base_channels={self.base_channels} doubles the channels "
                                 "past 65,536 at the deepest level; use a smaller depth (the U-Net paper's is 4).")
        if not 0 <= self.val_fraction < 1:
            raise PixelwiseError(f"val_fraction={self.val_fraction} must lie in [0, 1), e.g. 0.1.")
        if self.method == "simclr" and self.batch_size < 2:
            raise PixelwiseError(f"batch_size={self.batch_size} gives SimCLR no negatives; use at least 2 (e.g. 32).")
        if self.method == "genesis" and self.model != "unet":
            raise PixelwiseError("method=genesis trains the whole U-Net (encoder and decoder); use --model unet, or "
                                 "--method mae for the ViT.")
        self._check_method_settings()
        self._check_vit()

    def _check_method_settings(self) -> None:
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise PixelwiseError(f"temperature={self.temperature} must be a finite number > 0 (SimCLR: 0.1 to 1).")
        self.crop_scale = tuple(float(v) for v in self.crop_scale)
        if len(self.crop_scale) != 2 or not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1:
            raise PixelwiseError(f"crop_scale={self.crop_scale} must be two fractions 0 < low <= high <= 1, e.g. "
                                 "0.2,1.")
        if not 0 <= self.jitter <= 1.25:
            raise PixelwiseError(f"jitter={self.jitter} must lie in [0, 1.25], e.g. 0.5.")
        for name in ("grey_p", "blur_p"):
            if not 0 <= getattr(self, name) <= 1:
                raise PixelwiseError(f"{name}={getattr(self, name)} must be a probability in [0, 1].")
        if not (self.noise >= 0 and math.isfinite(self.noise)):
            raise PixelwiseError(f"noise={self.noise} must be a finite number >= 0, e.g. 0.2.")
        if not 0 < self.mask_ratio < 1:
            raise PixelwiseError(f"mask_ratio={self.mask_ratio} must lie in (0, 1), e.g. 0.75.")

    def _check_vit(self) -> None:
        if self.model != "vit":
            return
        check_vit(self)
        if self.decoder_dim % 2:
            raise PixelwiseError(f"decoder_dim={self.decoder_dim} must be even (the decoder has 2 heads).")

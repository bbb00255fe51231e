"""The settings of ``pixelwise classify train`` (and of its run folders). No torch here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pixelwise.data.imagesets import NAMED_SOURCES
from pixelwise.errors import PixelwiseError
from pixelwise.train.config import TrainingConfig, one_of, option, whole
from pixelwise.train.protection import AdversarialConfig, FederatedConfig, PrivacyConfig, check_combination

NORMS = ("batch", "group", "none")  # pixelwise.models.gan.NORMS (this module imports no torch)


@dataclass
class ClassifyConfig(TrainingConfig):
    """Labelled grey images -> a digit classifier (two stride-2 convolutions and a linear head), evaluated on held-out
    images; optionally trained with DP-SGD, by federated averaging, or adversarially."""

    RECIPE: ClassVar[str] = "classify"
    DEFAULT_EPOCHS: ClassVar[int] = 10

    data: str = option("digits", path=True, keywords=NAMED_SOURCES,
                       help="digits (bundled 8x8), mnist (downloaded once), mnist-test, an .npz with images and "
                            "labels, or a folder of class sub-folders")
    out: str = option("runs/classify", path=True, help="run folder to create")
    size: int | None = option(None, help="folders only: resize images to SIZE x SIZE")
    max_images: int | None = option(None, help="a seeded random subset of this many images (default: all)")
    cache_dir: str | None = option(None, path=True, help="MNIST download cache (default ~/.cache/pixelwise/mnist "
                                   "or $PIXELWISE_CACHE)")
    split: tuple[float, float, float] = option((0.8, 0.1, 0.1), help="train,val,test fractions")
    base: int = option(32, help="channels of the first convolution (the second has twice as many)")
    norm: str = option("batch", help=f"normalisation after the second convolution: {', '.join(NORMS)} (DP-SGD "
                       "needs group or none)")
    batch_size: int = option(64, help="images per training step (DP-SGD: the expected size of a Poisson batch)")
    privacy: PrivacyConfig = option(default_factory=PrivacyConfig, help="differential privacy (DP-SGD)")
    federated: FederatedConfig = option(default_factory=FederatedConfig, help="federated averaging")
    robustness: AdversarialConfig = option(default_factory=AdversarialConfig, help="adversarial training")

    def __post_init__(self):
        super().__post_init__()
        whole(self.base, "base")
        one_of(self.norm, "norm", NORMS)
        if self.size is not None:
            whole(self.size, "size", 4)
        if self.max_images is not None:
            whole(self.max_images, "max_images", 3)
        from pixelwise.data.splits import check_fractions

        self.split = tuple(float(f) for f in self.split)
        check_fractions(self.split)
        if self.privacy.enabled and self.norm == "batch":
            raise PixelwiseError("DP-SGD needs per-example gradients, which batch normalisation mixes; add --norm "
                                 "group (or none).")
        check_combination(self)

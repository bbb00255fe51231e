"""The settings of ``pixelwise segment train`` (and of its run folders)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from pixelwise.errors import PixelwiseError
from pixelwise.train.config import TrainingConfig, check_vit, one_of, option, whole
from pixelwise.train.protection import AdversarialConfig, FederatedConfig, PrivacyConfig, check_combination

PADDINGS = ("same", "valid")
NORMS = ("batch", "instance", "group", "none")
UPSAMPLINGS = ("transpose", "bilinear")
DICE_LOSSES = ("soft", "generalised")
CUSTOM = "custom"  # config.model of a run trained with a model given from Python (``run(config, model=...)``)


def _fractions(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


def check_ignore_index(ignore_index: int | None, num_classes: int | None) -> None:
    """An ignore label needs label masks (``num_classes``) and must be a label no class uses, in 0..255."""
    if ignore_index is None:
        return
    if num_classes is None:
        raise PixelwiseError(f"ignore_index={ignore_index} needs label masks; give --num-classes as well (binary masks "
                             "have no ignore label).")
    if isinstance(ignore_index, bool) or not num_classes <= ignore_index <= 255:
        raise PixelwiseError(f"ignore_index={ignore_index} must be a label in {num_classes}..255 that no class uses, "
                             "e.g. 255.")


@dataclass
class SegmentationConfig(TrainingConfig):
    """Images and masks -> a trained, honestly evaluated segmentation model (see :mod:`pixelwise.tasks.segment`)."""

    RECIPE: ClassVar[str] = "segment"
    DEFAULT_EPOCHS: ClassVar[int] = 20

    data: str = option("", path=True, help="folder with images/ and masks/ (same stems)")
    out: str = option("runs/segment", path=True, help="run folder to create")
    model: str = option("unet", help="unet, vit or fcn")
    size: int = option(256, help="training size in pixels (square); predictions go back to each image's own size")
    resize: str = option("squash", help="how images meet --size: squash (to SxS), fit (longer side S, padded), pad "
                         "(as fit, never enlarged), crop (shorter side S, SxS crops) or none (full resolution, SxS "
                         "crops)")
    patch: int | None = option(None, help="train on random PxP crops of the working images (default: --size)")
    num_classes: int | None = option(None, help="K >= 2 for integer label masks (default: binary masks)")
    channels: int = option(3, help="3 for RGB images, 1 for grey")
    threshold: int = option(127, help="binary masks: foreground is grey > threshold")
    ignore_index: int | None = option(None, help="label masks: this label (e.g. 255, the VOC convention) counts in no "
                                      "loss and no metric (default: none)")
    # U-Net / FCN
    base_channels: int = option(32, help="U-Net / FCN: channels of the first level")
    depth: int = option(4, help="U-Net / FCN: levels (the U-Net paper's is 4)")
    padding: str = option("same", help="U-Net: same, or valid (the paper's, with cropped skips)")
    norm: str = option("batch", help="normalisation: batch, instance, group or none")
    up: str = option("transpose", help="U-Net upsampling: transpose or bilinear")
    dilations: tuple[int, ...] | None = option(None, help="FCN: dilation of each level, e.g. 1,2,4")
    # ViT
    patch_size: int = option(16, help="ViT: patch size (divides --size)")
    dim: int = option(192, help="ViT: width")
    vit_depth: int = option(6, help="ViT: transformer layers")
    heads: int = option(3, help="ViT: attention heads (divide --dim)")
    # training (the loop's settings come from TrainingConfig)
    lambda_dice: float = option(1.0, help="loss = BCE (or CE) + lambda * Dice loss; 0 trains with BCE alone")
    dice_loss: str = option("soft", help="the Dice term: soft, or generalised (class-weighted by 1/area^2, Sudre et "
                            "al. 2017)")
    augment: bool = option(True, help="flips, rotations, crops, brightness and contrast")
    allow_empty_masks: bool = option(False, help="train even when every training mask is empty (refused otherwise: "
                                     "such a model learns to predict nothing)")
    split: tuple[float, float, float] = option((0.6, 0.2, 0.2), parse=_fractions, help="train,val,test fractions")
    train_ids: str | None = option(None, path=True, help="file of training ids (one stem per line) instead of "
                                   "--split")
    test_ids: str | None = option(None, path=True, help="file of test ids (with --train-ids)")
    # evaluation
    empty_score: float = option(1.0, help="overlap score of a case whose truth and prediction are both empty")
    spacing: tuple[float, float] | None = option(None, help="pixel spacing (rows,columns) for surface distances")
    good_iou: float = option(0.8, help="gallery: good cases have IoU >= this")
    partial_iou: float = option(0.2, help="gallery: partial cases have IoU >= this, poor ones less")
    gallery_size: int = option(8, help="cases shown per gallery")
    # transfer and label fractions (tasks/segment/transfer.py)
    init: str | None = option(None, path=True, help="start from the encoder of this run (a pretrain or segment run "
                              "of the same model and encoder sizes)")
    freeze_encoder: bool = option(False, help="with --init: keep the encoder fixed and train the rest")
    label_fraction: float = option(1.0, help="train on this seeded fraction of the training cases' labels (the "
                                   "validation and test cases stay the same)")
    label_ids: str | None = option(None, path=True, help="file of the training ids whose labels are used (one stem "
                                   "per line), instead of --label-fraction")
    pseudo_labels: str | None = option(None, path=True, help="self-training: give the training cases that "
                                       "--label-fraction/--label-ids leave unlabelled the masks this segment run "
                                       "predicts, and train on them beside the true ones")
    # DP-SGD, federated averaging, adversarial training (pixelwise.train.protection)
    privacy: PrivacyConfig = option(default_factory=PrivacyConfig, help="differential privacy (DP-SGD)")
    federated: FederatedConfig = option(default_factory=FederatedConfig, help="federated averaging")
    robustness: AdversarialConfig = option(default_factory=AdversarialConfig, help="adversarial training")
    # set by the recipe: the training set's per-channel mean and std used to normalise inputs
    norm_mean: list[float] = option(derived=True, default_factory=list)
    norm_std: list[float] = option(derived=True, default_factory=list)

    def __post_init__(self):
        super().__post_init__()
        if self.model != CUSTOM:
            from pixelwise.tasks.segment.models import MODELS

            one_of(self.model, "model", tuple(MODELS))
        for name in ("size", "base_channels", "depth", "gallery_size", "channels"):
            whole(getattr(self, name), name)
        if self.channels not in (1, 3):
            raise PixelwiseError(f"channels={self.channels} must be 3 (RGB) or 1 (grey).")
        if self.num_classes is not None and (isinstance(self.num_classes, bool) or not 2 <= self.num_classes <= 256):
            raise PixelwiseError(f"num_classes={self.num_classes} must be between 2 and 256 (or unset for binary "
                                 "masks).")
        if self.model in ("unet", "fcn") and self.base_channels * 2 ** min(self.depth, 64) > 2**16:
            raise PixelwiseError(f"depth={self.depth} with base_channels={self.base_channels} doubles the channels to "
                                 f"{self.base_channels} x 2^{self.depth} at the deepest level, over 65,536; use a "
                                 "smaller depth (the U-Net paper's is 4).")
        if self.size < 8:
            raise PixelwiseError(f"size={self.size} is too small; use at least 8 pixels (e.g. 256).")
        if not (self.lambda_dice >= 0 and math.isfinite(self.lambda_dice)):
            raise PixelwiseError(f"lambda_dice={self.lambda_dice} must be a finite number >= 0 (0: BCE alone).")
        self._check_vit()
        if not 0 <= self.partial_iou <= self.good_iou <= 1:
            raise PixelwiseError(f"gallery thresholds need 0 <= partial_iou ({self.partial_iou}) <= good_iou "
                                 f"({self.good_iou}) <= 1.")
        self._check_resize()
        one_of(self.padding, "padding", PADDINGS)
        one_of(self.dice_loss, "dice_loss", DICE_LOSSES)
        check_ignore_index(self.ignore_index, self.num_classes)
        one_of(self.norm, "norm", NORMS)
        one_of(self.up, "up", UPSAMPLINGS)
        self._check_split()
        check_transfer(self)
        if self.privacy.enabled and self.norm == "batch" and self.model != "vit":
            raise PixelwiseError("DP-SGD needs per-example gradients, which batch normalisation mixes; add --norm "
                                 "group (or instance, or none).")
        check_combination(self)
        if self.dilations is not None:
            self.dilations = tuple(int(d) for d in self.dilations)
            if not self.dilations or min(self.dilations) < 1:
                raise PixelwiseError(f"dilations={self.dilations} must be whole numbers >= 1, e.g. 1,2,4.")
        self.spacing = checked_spacing(self.spacing)

    def _check_resize(self) -> None:
        from pixelwise.data.geometry import RESIZE_MODES, UNIFORM

        one_of(self.resize, "resize", RESIZE_MODES)
        if self.patch is None:
            return
        whole(self.patch, "patch")
        if self.patch < 8:
            raise PixelwiseError(f"patch={self.patch} is too small; use at least 8 pixels.")
        if self.resize in UNIFORM and self.patch > self.size:
            raise PixelwiseError(f"patch={self.patch} is larger than the {self.size}x{self.size} images of "
                                 f"resize={self.resize}; use a patch of at most size={self.size}.")

    @property
    def crop(self) -> int:
        """The side of the training crops: ``patch``, or ``size``."""
        return self.patch if self.patch is not None else self.size

    def _check_vit(self) -> None:
        if self.model != "vit":
            return
        check_vit(self)

    def _check_split(self) -> None:
        check_split(self)

    @property
    def out_channels(self) -> int:
        return 1 if self.num_classes is None else self.num_classes


def check_transfer(config: SegmentationConfig) -> None:
    """The settings of transfer and label fractions, refused in one sentence each (see ``transfer.py``)."""
    if not (0 < config.label_fraction <= 1):
        raise PixelwiseError(f"label_fraction={config.label_fraction} must lie in (0, 1], e.g. 0.1 for 10% of the "
                             "training labels.")
    if config.label_ids and config.label_fraction != 1:
        raise PixelwiseError("label_ids (--label-ids) and label_fraction (--label-fraction) both choose the labelled "
                             "cases; give one of them.")
    if config.freeze_encoder and not config.init:
        raise PixelwiseError("freeze_encoder (--freeze-encoder) keeps the encoder of init (--init RUN) fixed; give "
                             "--init, or drop --freeze-encoder.")
    if config.pseudo_labels and config.label_fraction == 1 and not config.label_ids:
        raise PixelwiseError("pseudo_labels (--pseudo-labels) labels the training cases that --label-fraction or "
                             "--label-ids leave out, and with every label used there are none; add e.g. "
                             "--label-fraction 0.1.")
    if config.init and config.model == "fcn":
        raise PixelwiseError("init (--init) loads a U-Net or ViT encoder; model=fcn has none, use --model unet or vit.")


def checked_spacing(spacing) -> tuple[float, float] | None:
    """A pixel spacing (rows, columns) as two floats > 0, or None (pixels); shared with ``segment baseline``."""
    if spacing is None:
        return None
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != 2 or not min(spacing) > 0:
        shown = ",".join(f"{v:g}" for v in spacing)
        raise PixelwiseError(f"spacing={shown} must be two numbers > 0 (rows, columns), e.g. 0.5,0.5.")
    return spacing


def check_split(config) -> None:
    """The split fractions and id lists of a segmentation or baseline config (shared with ``segment baseline``)."""
    from pixelwise.data.splits import check_fractions

    config.split = tuple(float(f) for f in config.split)
    check_fractions(config.split)
    if config.test_ids and not config.train_ids:
        raise PixelwiseError("test_ids (--test-ids) needs train_ids (--train-ids) as well; give both, or use "
                             "--split.")

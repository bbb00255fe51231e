"""Segmentation recipe: a folder of images and masks -> a trained, honestly evaluated model.

``run(config)`` validates and decodes the data (nothing is written before that passes), writes the run
folder, trains with :func:`pixelwise.train.fit`, then evaluates the best checkpoint on the test split at
each image's original size. ``evaluate`` and ``predict`` work from a run folder alone.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from pixelwise.data.augment import AugmentConfig, augment_batch
from pixelwise.data.folders import ImageMaskFolder, list_images, resize_image, unique_stems
from pixelwise.data.io import read_image, write_image
from pixelwise.data.splits import load_split, random_split, read_id_list, save_split, split_from_lists
from pixelwise.errors import PixelwiseError
from pixelwise.losses import BCEDiceLoss, CEDiceLoss
from pixelwise.metrics import aggregate, multiclass_case, segmentation_case
from pixelwise.models import FCN, SegmentViT, UNet, segmentation_model_class, valid_input_for_output
from pixelwise.models.inference import optimize_for_inference
from pixelwise.models.unet import center_crop
from pixelwise.train import FitConfig, fit, load_weights, prepare_run_dir, read_json, tune_malloc, write_json
from pixelwise.train.runs import RunResult, config_from_dict, write_csv


@dataclass
class SegmentationConfig:
    data: str = ""
    out: str = "runs/segment"
    model: str = "unet"
    size: int = 256  # training size (square); images are resized to it, predictions go back to each image's size
    num_classes: int | None = None  # None: binary masks thresholded at ``threshold``; K >= 2: integer labels
    channels: int = 3
    threshold: int = 127
    # U-Net / FCN
    base_channels: int = 32
    depth: int = 4
    padding: str = "same"
    norm: str = "batch"
    up: str = "transpose"
    dilations: tuple[int, ...] | None = None
    # ViT
    patch_size: int = 16
    dim: int = 192
    vit_depth: int = 6
    heads: int = 3
    # training
    epochs: int = 20
    minutes: float | None = None
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 8
    schedule: str = "cosine"
    patience: int | None = None
    lambda_dice: float = 1.0
    augment: bool = True
    split: tuple[float, float, float] = (0.6, 0.2, 0.2)
    train_ids: str | None = None  # a file of ids; with it, ``test_ids`` (optional) replaces the random split
    test_ids: str | None = None
    seed: int = 0
    deterministic: bool = False
    compile: bool = False  # train through torch.compile (measured 1.2x the steps per second for the U-Net on 2 cores)
    # evaluation
    empty_score: float = 1.0
    spacing: tuple[float, float] | None = None
    good_iou: float = 0.8
    partial_iou: float = 0.2
    gallery_size: int = 8
    # set by the recipe: the training set's per-channel mean and std used to normalise inputs
    norm_mean: list[float] = field(default_factory=list)
    norm_std: list[float] = field(default_factory=list)

    def __post_init__(self):
        try:
            segmentation_model_class(self.model)
        except ValueError as err:
            raise PixelwiseError(f"--model: {err}") from None
        for name in ("size", "batch_size", "epochs", "base_channels", "depth"):
            if getattr(self, name) < 1:
                raise PixelwiseError(f"{name}={getattr(self, name)} must be >= 1.")
        if self.model in ("unet", "fcn") and self.base_channels * 2 ** min(self.depth, 64) > 2**16:
            raise PixelwiseError(f"depth={self.depth} with base_channels={self.base_channels} doubles the channels to "
                                 f"{self.base_channels} x 2^{self.depth} at the deepest level, over 65,536; use a "
                                 "smaller depth (the U-Net paper's is 4).")
        if self.size < 8:
            raise PixelwiseError(f"size={self.size} is too small; use at least 8 pixels (e.g. 256).")
        if not self.lambda_dice >= 0:
            raise PixelwiseError(f"lambda_dice={self.lambda_dice} must be >= 0 (0 trains with BCE alone).")
        if self.model == "vit":
            for name, flag in (("patch_size", "--patch-size"), ("dim", "--dim"), ("vit_depth", "--vit-depth"),
                               ("heads", "--heads")):
                if int(getattr(self, name)) != getattr(self, name) or getattr(self, name) < 1:
                    raise PixelwiseError(f"{name}={getattr(self, name)} ({flag}) must be a whole number >= 1 for "
                                         "the ViT (e.g. patch 16, dim 192, depth 6, heads 3).")
            if self.dim % self.heads:
                raise PixelwiseError(f"dim={self.dim} (--dim) must be divisible by heads={self.heads} (--heads), "
                                     "e.g. --dim 192 --heads 3.")
        if self.model == "vit" and self.size % self.patch_size:
            raise PixelwiseError(f"size={self.size} must be a multiple of patch_size={self.patch_size} for the ViT.")
        if not 0 <= self.partial_iou <= self.good_iou <= 1:
            raise PixelwiseError(f"gallery thresholds need 0 <= partial_iou ({self.partial_iou}) <= good_iou "
                                 f"({self.good_iou}) <= 1.")
        if self.padding not in ("same", "valid"):
            raise PixelwiseError(f"padding={self.padding!r} is not known; use 'same' or 'valid'.")
        self.split = tuple(self.split)
        self.fit_config()  # checks the training hyperparameters now, before any data is read
        if self.dilations is not None:
            self.dilations = tuple(self.dilations)

    def fit_config(self, progress: bool = True, has_validation: bool = True) -> FitConfig:
        """The loop's settings; the best checkpoint is chosen by validation IoU (training loss without a val split)."""
        return FitConfig(epochs=self.epochs, minutes=self.minutes, lr=self.lr, weight_decay=self.weight_decay,
                         schedule=self.schedule, patience=self.patience, seed=self.seed,
                         deterministic=self.deterministic, progress=progress, compile=self.compile,
                         monitor="val_iou" if has_validation else "train_loss",
                         mode="max" if has_validation else "min")

    @property
    def out_channels(self) -> int:
        return 1 if self.num_classes is None else self.num_classes

    @classmethod
    def from_dict(cls, d: dict) -> SegmentationConfig:
        return config_from_dict(cls, d)



# --- model ----------------------------------------------------------------------------------------------
class ValidPadded(nn.Module):
    """Reflect-pad the input so that a valid-padding U-Net's output covers it, then crop to the input size.

    For an S x S input the net sees I x I with I the smallest valid size whose output O >= S; the output
    of a valid U-Net is centred on its input with an offset c = (I - O) / 2, so the input is padded by c on
    the top/left (and I - S - c on the bottom/right) and output pixel j lines up with input pixel j.
    """

    def __init__(self, net: UNet, size: int):
        super().__init__()
        self.net = net
        self.size = size
        self.input_size, self.output_size = valid_input_for_output(size, net.depth)
        self.offset = (self.input_size - self.output_size) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, S, S) -> (N, K, S, S)."""
        h, w = x.shape[-2:]
        if (h, w) != (self.size, self.size):
            raise ValueError(f"this valid-padding model takes {self.size}x{self.size} inputs, got {h}x{w}.")
        c, extra = self.offset, self.input_size - self.size - self.offset
        mode = "reflect" if c < h and extra < h else "replicate"
        y = self.net(F.pad(x, (c, extra, c, extra), mode=mode))
        return y[..., :h, :w]


def build_model(config: SegmentationConfig) -> nn.Module:
    k = config.out_channels
    if config.model == "unet":
        net = UNet(config.channels, k, config.depth, config.base_channels, config.padding, config.norm, config.up)
        return ValidPadded(net, config.size) if config.padding == "valid" else net
    if config.model == "vit":
        return SegmentViT(config.channels, k, config.size, config.patch_size, config.dim, config.vit_depth,
                          config.heads)
    return FCN(config.channels, k, config.base_channels, min(config.depth, 4), config.dilations, norm=config.norm)


def loss_for(config: SegmentationConfig) -> nn.Module:
    if config.num_classes is None:
        return BCEDiceLoss(config.lambda_dice)
    return CEDiceLoss(config.lambda_dice)


# --- data -------------------------------------------------------------------------------------------------
def _make_split(folder: ImageMaskFolder, config: SegmentationConfig) -> dict:
    if config.train_ids:
        test = read_id_list(config.test_ids) if config.test_ids else None
        return split_from_lists(folder.stems, read_id_list(config.train_ids), test, config.split[1] or 0.2, config.seed)
    return random_split(folder.stems, config.split, config.seed)


def to_tensor(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(N, H, W, C) uint8 -> (N, C, H, W) float32 normalised, channels-last in memory."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)  # (N, C, H, W) view over NHWC memory
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    return ((x - m) / s).contiguous(memory_format=torch.channels_last)


def _batches(images: np.ndarray, masks: np.ndarray, config: SegmentationConfig, augment: bool) -> Callable:
    aug = AugmentConfig() if augment else None
    n, bs = len(images), config.batch_size

    def epoch_batches(epoch: int, generator: torch.Generator):
        order = torch.randperm(n, generator=generator).numpy()
        for start in range(0, n - bs + 1 if n >= bs else 1, bs):  # drop a ragged last batch (BatchNorm)
            idx = np.sort(order[start:start + bs])
            x = torch.from_numpy(images[idx]).permute(0, 3, 1, 2).float().div_(255)  # (B, C, S, S)
            y = torch.from_numpy(masks[idx]).long()  # (B, S, S)
            if aug is not None:
                x, y = augment_batch(x, y, aug, generator)
            m = torch.tensor(config.norm_mean).view(1, -1, 1, 1)
            s = torch.tensor(config.norm_std).view(1, -1, 1, 1)
            x = ((x - m) / s).contiguous(memory_format=torch.channels_last)
            yield x, (y.float()[:, None] if config.num_classes is None else y)

    return epoch_batches


def batch_iou(logits: torch.Tensor, target: torch.Tensor, num_classes: int | None,
              empty_score: float = 1.0) -> torch.Tensor:
    """Per-image IoU (foreground mean for multi-class), with the empty-mask policy: both empty -> empty_score."""
    if num_classes is None:
        pred, truth = logits[:, 0] > 0, target.reshape(pred_shape(logits)) > 0.5
        return _iou(pred, truth, empty_score)
    labels = logits.argmax(1)
    return torch.stack([_iou(labels == k, target == k, empty_score) for k in range(1, num_classes)]).mean(0)


def pred_shape(logits: torch.Tensor):
    return (logits.shape[0], *logits.shape[2:])


def _iou(pred: torch.Tensor, truth: torch.Tensor, empty_score: float) -> torch.Tensor:
    inter = (pred & truth).flatten(1).sum(1).float()
    union = (pred | truth).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.full_like(union, empty_score))


def _validator(images: np.ndarray, masks: np.ndarray, config: SegmentationConfig, loss_fn: nn.Module) -> Callable:
    def validate(model: nn.Module) -> dict:
        if len(images) == 0:
            return {}
        losses, ious = [], []
        for start in range(0, len(images), config.batch_size):
            x = to_tensor(images[start:start + config.batch_size], config.norm_mean, config.norm_std)
            y = torch.from_numpy(masks[start:start + config.batch_size]).long()
            logits = model(x)
            target = y.float()[:, None] if config.num_classes is None else y
            losses.append(loss_fn(logits, target).item() * len(x))
            ious.append(batch_iou(logits, y, config.num_classes, config.empty_score))
        return {"val_loss": sum(losses) / len(images), "val_iou": torch.cat(ious).mean().item()}

    return validate


# --- recipe -------------------------------------------------------------------------------------------------
def run(config: SegmentationConfig, overwrite: bool = False, resume: bool = False, progress: bool = True,
        log: Callable[[str], None] = print) -> RunResult:
    """Train and evaluate; writes only inside ``config.out``."""
    t0 = time.perf_counter()
    out = Path(config.out)
    if resume:
        if not (out / "checkpoints" / "last_state.pt").is_file():
            raise PixelwiseError(f"cannot resume: {out} has no checkpoints/last_state.pt; "
                                 f"start a new run without --resume.")
        saved = SegmentationConfig.from_dict(read_json(out / "config.json"))
        saved.minutes, saved.epochs = config.minutes or saved.minutes, max(config.epochs, saved.epochs)
        config = saved
    folder = ImageMaskFolder(config.data, config.num_classes, config.threshold, config.channels)
    split = load_split(out / "split.json") if resume else _make_split(folder, config)
    train_idx, val_idx = folder.index(split["train"]), folder.index(split["val"])
    test_idx = folder.index(split["test"])
    size = (config.size, config.size)
    log(f"{len(folder)} cases in {folder.root}: {len(train_idx)} train, {len(val_idx)} val, {len(test_idx)} test")
    # decode everything once (all files are checked before anything is written)
    tr_img, tr_msk = folder.load(train_idx, size, progress)
    va_img, va_msk = folder.load(val_idx, size, progress)
    folder.load(test_idx, (8, 8), progress=False)  # fully decodes the test files: a broken one fails now
    if len(tr_img) < 1:
        raise PixelwiseError("the training split is empty; add data or change --split.")
    if not resume:
        flat = tr_img.reshape(-1, config.channels).astype(np.float64) / 255
        config.norm_mean = [round(float(v), 6) for v in flat.mean(0)]
        config.norm_std = [round(float(max(v, 1e-3)), 6) for v in flat.std(0)]
    fit_config = config.fit_config(progress, has_validation=len(va_img) > 0)
    torch.manual_seed(config.seed)  # the initial weights are part of what the seed reproduces
    try:
        model = build_model(config).to(memory_format=torch.channels_last)
    except ValueError as err:  # a hyperparameter the model rejects: still nothing written
        raise PixelwiseError(str(err)) from None
    run_dir = prepare_run_dir(out, overwrite=overwrite, resume=resume)
    write_json(run_dir / "config.json", _config_dict(config))
    save_split(split, run_dir / "split.json")

    loss_fn = loss_for(config)
    n_batches = max(1, len(tr_img) // config.batch_size)
    result = fit(model, loss_fn, _batches(tr_img, tr_msk, config, config.augment), n_batches,
                 _validator(va_img, va_msk, config, loss_fn), fit_config, run_dir, resume, log)
    log(f"trained {len(result.history)} epochs in {result.seconds:.0f}s (stopped by {result.stopped}); "
        f"best epoch {result.best_epoch}")
    metrics = evaluate(run_dir, progress=progress, log=log) if test_idx else {}
    return RunResult(run_dir, metrics, result.history, time.perf_counter() - t0)


def _config_dict(config: SegmentationConfig) -> dict:
    d = asdict(config)
    d["data"] = str(Path(config.data).resolve()) if config.data else ""
    return d


def load_run(run_dir: str | Path, which: str = "best") -> tuple[SegmentationConfig, nn.Module]:
    """The config and the trained model of a run folder (``which`` = "best" or "last")."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        what = "is a file, not a folder" if run_dir.exists() else "does not exist"
        raise PixelwiseError(f"run folder {run_dir} {what}; give --run a folder made by `pixelwise segment train`.")
    config = SegmentationConfig.from_dict(read_json(run_dir / "config.json"))
    model = build_model(config)
    path = run_dir / "checkpoints" / f"{which}.safetensors"
    if not path.is_file():
        path = run_dir / "checkpoints" / "last.safetensors"
    load_weights(model, path)
    return config, model.eval().to(memory_format=torch.channels_last)


def inference_model(model: nn.Module, config: SegmentationConfig, batch_size: int = 4) -> nn.Module:
    """A faster equivalent of ``model`` for prediction: traced and frozen TorchScript with batch norm folded
    into the convolutions (``torch.jit.optimize_for_inference``), channels-last. Convolutional models only;
    the ViT (whose attention gains nothing from freezing) and any model that fails to trace stay eager.
    Inputs must then be ``config.size`` squares, which is what :func:`predict_arrays` feeds.
    """
    model = model.eval().to(memory_format=torch.channels_last)
    if config.model == "vit":
        return model
    example = torch.zeros(batch_size, config.channels, config.size, config.size).contiguous(
        memory_format=torch.channels_last)
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python-side size checks: sizes are fixed here
            traced = torch.jit.trace(model, example, check_trace=False)
            return torch.jit.optimize_for_inference(torch.jit.freeze(traced))
    except Exception:  # tracing is an optimisation: fall back to the eager model
        return model


TTA_MODES = ("none", "flips", "dihedral")


def _symmetries(tta: str) -> list[tuple[bool, int]]:
    """(transpose first?, number of quarter turns) for each element of the chosen group of the square."""
    if tta == "none":
        return [(False, 0)]
    if tta == "flips":  # identity, horizontal flip, vertical flip, both (= rotation by 180 degrees)
        return [(False, 0), (True, 1), (True, 3), (False, 2)]
    if tta == "dihedral":  # all 8 symmetries of the square: 4 rotations, each with and without a transpose
        return [(t, k) for t in (False, True) for k in range(4)]
    raise PixelwiseError(f"tta={tta!r} is not one of {', '.join(TTA_MODES)}; use e.g. --tta flips.")


def tta_logits(model: nn.Module, x: torch.Tensor, num_classes: int | None, tta: str = "none") -> torch.Tensor:
    """Test-time augmentation: the class probabilities averaged over symmetries g of the square,
    mean_g g^-1(p(g x)), returned as scores with the logits' meaning (binary: the logit of the mean
    probability, so > 0 means p > 0.5; multi-class: the log of the mean softmax, so argmax is the decision).
    Square inputs (``x`` of shape (N, C, S, S)); ``tta="none"`` is the plain forward pass."""
    group = _symmetries(tta)
    if len(group) == 1:
        return model(x)
    total = None
    for transpose, k in group:
        xg = torch.rot90(x.transpose(-1, -2) if transpose else x, k, (-2, -1))
        lg = torch.rot90(model(xg.contiguous(memory_format=torch.channels_last)), -k, (-2, -1))
        lg = lg.transpose(-1, -2) if transpose else lg
        prob = torch.sigmoid(lg) if num_classes is None else torch.softmax(lg, 1)
        total = prob if total is None else total + prob
    mean = total / len(group)
    return torch.logit(mean, eps=1e-6) if num_classes is None else mean.clamp(min=1e-12).log()


@torch.inference_mode()
def predict_arrays(model: nn.Module, config: SegmentationConfig, images: Sequence[np.ndarray],
                   tta: str = "none") -> list[np.ndarray]:
    """Masks for images of any sizes: each resized to the training size, predicted (averaged over the
    symmetries of ``tta``, see :func:`tta_logits`), and the scores resized back (bilinear) to the image's
    own size; binary -> {0, 1}, multi-class -> labels."""
    size = (config.size, config.size)
    x = to_tensor(np.stack([resize_image(im, size) for im in images]), config.norm_mean, config.norm_std)
    logits = tta_logits(model, x, config.num_classes, tta)  # (N, K, S, S)
    out = []
    for i, im in enumerate(images):
        lg = F.interpolate(logits[i:i + 1].float(), size=im.shape[:2], mode="bilinear", align_corners=False)[0]
        out.append((lg[0] > 0).numpy().astype(np.uint8) if config.num_classes is None
                   else lg.argmax(0).numpy().astype(np.uint8))
    return out


def evaluate(run_dir: str | Path, data: str | None = None, progress: bool = True,
             log: Callable[[str], None] = print, good_iou: float | None = None,
             partial_iou: float | None = None, tta: str = "none") -> dict:
    """Evaluate the best checkpoint at each image's original size; writes metrics.json, per_case.csv,
    plots/ and report.html. Without ``data`` it uses the run's test split; with it, every case in ``data``.
    ``good_iou`` / ``partial_iou`` override the run's gallery thresholds for this evaluation; ``tta`` averages
    the predictions over flips or all eight symmetries of the square (:func:`tta_logits`)."""
    from tqdm.auto import tqdm

    from pixelwise.report.segmentation import write_report

    run_dir = Path(run_dir)
    _symmetries(tta)  # a bad mode fails before anything is read
    tune_malloc()  # large freed blocks are reused by the next batch (pixelwise.train.allocator)
    config, model = load_run(run_dir)
    model = optimize_for_inference(model, shuffle_up=False)  # batch norm folded: the same map, faster
    if good_iou is not None or partial_iou is not None:
        overrides = {"good_iou": good_iou if good_iou is not None else config.good_iou,
                     "partial_iou": partial_iou if partial_iou is not None else config.partial_iou}
        config = SegmentationConfig.from_dict({**asdict(config), **overrides})  # validates the thresholds
    if data is None:
        folder = ImageMaskFolder(config.data, config.num_classes, config.threshold, config.channels)
        indices = folder.index(load_split(run_dir / "split.json")["test"])
        source = "test split"
    else:
        folder = ImageMaskFolder(data, config.num_classes, config.threshold, config.channels)
        indices = list(range(len(folder)))
        source = str(Path(data).resolve())
    if not indices:
        raise PixelwiseError(f"no cases to evaluate in the {source}; give --data or a split with test cases.")
    cases, tiles = [], []
    with ThreadPoolExecutor(max_workers=2) as pool:
        reads = pool.map(folder.read, indices)
        for i, (image, truth) in tqdm(zip(indices, reads), total=len(indices), desc="evaluating", disable=not progress,
                                      leave=False):
            pred = predict_arrays(model, config, [image], tta)[0]
            if config.num_classes is None:
                case = segmentation_case(pred.astype(bool), truth.astype(bool), config.spacing, config.empty_score)
            else:
                case = multiclass_case(pred, truth, config.num_classes, config.spacing, config.empty_score)
            cases.append({"id": folder.pairs[i].stem, **case})
            tiles.append((folder.pairs[i].stem, image, truth, pred, case["iou"]))
    keys = [k for k, v in cases[0].items() if k != "id" and isinstance(v, (int, float)) and not isinstance(v, bool)]
    metrics = aggregate([{k: c[k] for k in [*keys, "category"]} for c in cases], keys, seed=config.seed)
    metrics["source"] = source
    metrics["tta"] = tta
    metrics["groups"] = {
        "good": sum(c["iou"] >= config.good_iou for c in cases),
        "partial": sum(config.partial_iou <= c["iou"] < config.good_iou for c in cases),
        "missed": sum(c["iou"] < config.partial_iou for c in cases),
    }
    write_json(run_dir / "metrics.json", metrics)
    write_csv(run_dir / "per_case.csv", cases)
    write_report(run_dir, config, metrics, tiles)
    m = metrics["metrics"]
    log(f"{source}: {len(cases)} cases, Dice {m['dice']['mean']:.3f} (median {m['dice']['median']:.3f}), "
        f"IoU {m['iou']['mean']:.3f} [{m['iou']['ci_low']:.3f}, {m['iou']['ci_high']:.3f}]; "
        f"report {run_dir / 'report.html'}")
    return metrics


def predict(run_dir: str | Path, inputs: Sequence[str | Path], out: str | Path, batch_size: int = 4,
            progress: bool = True, frozen: bool = False, tta: str = "none", compile: bool = False,
            log: Callable[[str], None] = print) -> list[Path]:
    """Write one mask PNG per input image at the image's own size (binary 0/255, labels 0..K-1).

    Decoding and writing run in background threads, overlapped with the network. The network is the
    trained model with batch norm folded into the convolutions, eager and channels-last, unless:
    ``compile=True``: the same through ``torch.compile`` with frozen weights
    (:class:`~pixelwise.models.inference.CompiledInference`; compiles once, at the first batch);
    ``frozen=True``: :func:`inference_model` (traced, frozen TorchScript).
    Which pays depends on the processor (``benchmarks/predict_throughput.py`` measures all three): on the
    machine of an earlier session compiling was no faster (2.14 against 2.18 s per 4x3x512x512 batch, after
    8 to 35 s of compiling) and TorchScript was slower; on the AMD Zen 5 machine of 2026-12-01 the compiled
    network was 1% to 12% faster than eager in three measurements (after 3 to 7 s of compiling) and
    TorchScript about 30% slower. ``tta`` as in :func:`tta_logits`.
    """
    from tqdm.auto import tqdm

    from pixelwise.models.inference import CompiledInference

    _symmetries(tta)
    if batch_size < 1:
        raise PixelwiseError(f"batch_size={batch_size} must be >= 1.")
    tune_malloc()  # large freed blocks are reused by the next batch (pixelwise.train.allocator)
    config, model = load_run(run_dir)
    paths = unique_stems(list_images(inputs))
    if frozen:
        model = inference_model(model, config, batch_size)
    elif compile:
        model = CompiledInference(model, batch_size, log)
    else:
        model = optimize_for_inference(model, shuffle_up=False)
    out = Path(out)
    mode = "RGB" if config.channels == 3 else "L"

    def read(p: Path) -> np.ndarray:
        im = read_image(p, mode)
        return im if im.ndim == 3 else im[..., None]

    written: list[Path] = []
    with ThreadPoolExecutor(max_workers=2) as readers, ThreadPoolExecutor(max_workers=1) as writer:
        decoded = readers.map(read, paths)
        pending = []
        bar = tqdm(total=len(paths), desc="predicting", disable=not progress, leave=False)
        for start in range(0, len(paths), batch_size):
            chunk = paths[start:start + batch_size]
            images = [next(decoded) for _ in chunk]
            for p, mask in zip(chunk, predict_arrays(model, config, images, tta)):
                target = out / f"{p.stem}.png"
                scaled = mask * 255 if config.num_classes is None else mask
                pending.append(writer.submit(write_image, target, scaled.astype(np.uint8)))
                written.append(target)
            bar.update(len(chunk))
        for f in pending:
            f.result()
        bar.close()
    return written


def model_summary(config: SegmentationConfig) -> str:
    model = build_model(config)
    n = sum(p.numel() for p in model.parameters())
    return f"{config.model} with {n / 1e6:.2f} M parameters"


__all__ = ["FCN", "RunResult", "SegmentViT", "SegmentationConfig", "UNet", "build_model", "center_crop", "evaluate",
           "load_run", "predict", "predict_arrays", "run", "tta_logits"]

"""Prediction at each image's own size, with test-time augmentation, from a run folder (or a given model)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pixelwise.data.decode import common_depth, convert_depth, decode_image, image_size
from pixelwise.data.folders import list_images, refuse_writing_over_inputs, unique_stems
from pixelwise.data.geometry import from_canvas, placement, to_canvas
from pixelwise.data.io import write_image
from pixelwise.errors import PixelwiseError
from pixelwise.models.inference import CompiledInference, optimize_for_inference
from pixelwise.models.tiling import Tiles, sliding_window
from pixelwise.tasks.segment.config import SegmentationConfig
from pixelwise.tasks.segment.data import to_tensor
from pixelwise.tasks.segment.models import build_model
from pixelwise.tasks.segment.tiles import check_sizes, window
from pixelwise.train.allocator import tune_malloc
from pixelwise.train.checkpoint import load_weights
from pixelwise.train.devices import device_of, resolve_device
from pixelwise.train.runs import checkpoint_path, read_config

TTA_MODES = ("none", "flips", "dihedral")


def load_run(run_dir: str | Path, which: str = "best", model: nn.Module | None = None, device: str | None = None
             ) -> tuple[SegmentationConfig, nn.Module]:
    """The config and the trained model of a run folder (``which`` = "best" or "last"), eval mode, channels-last,
    on ``device`` (a name as in :mod:`pixelwise.train.devices`; None: where the model is, the CPU for a new one).
    ``model``: the module to load the weights into (needed for a run trained with a custom model)."""
    config = read_config(SegmentationConfig, run_dir)
    target = resolve_device(device) if device is not None else None
    net = model if model is not None else build_model(config)
    load_weights(net, checkpoint_path(run_dir, which))
    net = net.to(target) if target is not None else net
    return config, net.eval().to(memory_format=torch.channels_last)


def symmetries(tta: str) -> list[tuple[bool, int]]:
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
    group = symmetries(tta)
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
                   tta: str = "none", tiles: Tiles | None = None) -> list[np.ndarray]:
    """Masks for images of any sizes: each placed on its working canvas by the run's ``--resize`` rule
    (:mod:`pixelwise.data.geometry`), predicted whole or, with ``tiles``, window by window with Gaussian
    blending (:func:`~pixelwise.models.tiling.sliding_window`), averaged over the symmetries of ``tta`` (see
    :func:`tta_logits`), and the scores resized back (bilinear) to the image's own size; binary -> {0, 1},
    multi-class -> labels. The network runs where ``model`` is; the images stay on the CPU."""
    places = [placement(*im.shape[:2], config.size, config.resize) for im in images]
    canvases = [to_canvas(im, p)[0] for im, p in zip(images, places)]
    out = []
    for im, p, scores in zip(images, places, _scores(model, config, canvases, tta, tiles or Tiles())):
        lg = from_canvas(scores, p, im.shape[:2])  # (K, H, W)
        out.append((lg[0] > 0).numpy().astype(np.uint8) if config.num_classes is None
                   else lg.argmax(0).numpy().astype(np.uint8))
    return out


KEEP_DECODED_BYTES = 1 << 30  # decoded inputs kept from the check for the prediction pass (then decoded again)


def check_inputs(paths: Sequence[Path], channels: int, progress: bool = False) -> dict[Path, np.ndarray]:
    """Decode every input once, so that a damaged file is refused before anything is written; returns the
    decoded arrays of the first inputs, up to :data:`KEEP_DECODED_BYTES` (the rest are decoded again)."""
    from tqdm.auto import tqdm

    kept: dict[Path, np.ndarray] = {}
    total = 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        arrays = pool.map(lambda p: decode_image(p, channels), paths)
        for p, arr in tqdm(zip(paths, arrays), total=len(paths), desc="checking inputs", disable=not progress,
                           leave=False):
            total += arr.nbytes
            if total <= KEEP_DECODED_BYTES:
                kept[p] = arr
    return kept


def _scores(model: nn.Module, config: SegmentationConfig, canvases: list[np.ndarray], tta: str,
            tiles: Tiles) -> list[torch.Tensor]:
    """The (K, h, w) scores of each canvas, on the CPU: one batch when the canvases share a size, else one by one,
    or window by window."""
    device = device_of(getattr(model, "eager", model))
    k = config.num_classes

    def tensor(arrays) -> torch.Tensor:
        depth = common_depth(a.dtype for a in arrays)  # one batch of files of different depths
        return to_tensor(np.stack([convert_depth(a, depth) for a in arrays]), config.norm_mean, config.norm_std)

    if tiles.tile is None:
        if len({c.shape for c in canvases}) == 1:
            return list(tta_logits(model, tensor(canvases).to(device), k, tta).cpu())
        return [tta_logits(model, tensor([c]).to(device), k, tta)[0].cpu() for c in canvases]
    side, margin, net_of = window(model, config, tiles.tile)
    net = net_of(model)

    def predict_tiles(x: torch.Tensor) -> torch.Tensor:
        return tta_logits(net, x.contiguous(memory_format=torch.channels_last), k, tta)

    return [sliding_window(predict_tiles, tensor([c]), side, tiles.overlap, tiles.batch, margin=margin,
                           device=device)[0] for c in canvases]


def predict(run_dir: str | Path, inputs: Sequence[str | Path], out: str | Path, batch_size: int = 4,
            progress: bool = True, tta: str = "none", compile: bool = False, which: str = "best",
            model: nn.Module | None = None, log: Callable[[str], None] = print, tiles: Tiles | None = None,
            device: str = "auto") -> list[Path]:
    """Write one mask PNG per input image at the image's own size (binary 0/255, labels 0..K-1).

    Every input is decoded and checked before the first mask is written (a damaged file among them is refused
    in one sentence, with nothing written). Decoding and writing run in background threads, overlapped with the
    network. The network is the
    trained model with batch norm folded into the convolutions, eager and channels-last, or with ``compile=True``
    the same through ``torch.compile`` with frozen weights (:class:`~pixelwise.models.inference.CompiledInference`,
    compiled once, at the first batch). Which is faster depends on the processor
    (``benchmarks/predict_throughput.py`` measures both): on the AMD Zen 5 machine of 2026-12-01 the compiled
    network was 1% to 12% faster than eager in three measurements, after 3 to 7 s of compiling. ``tta`` as in
    :func:`tta_logits`; ``model`` and ``device`` as in :func:`load_run`. ``tiles``: sliding-window prediction
    (:class:`~pixelwise.tasks.segment.tiles.Tiles`), whose window is checked against every image (its size from
    the file's header) before any is decoded.
    """
    from tqdm.auto import tqdm

    symmetries(tta)
    if batch_size < 1:
        raise PixelwiseError(f"batch_size={batch_size} must be >= 1.")
    tune_malloc()  # large freed blocks are reused by the next batch (pixelwise.train.allocator)
    tiles = tiles or Tiles()
    config, net = load_run(run_dir, which, model, device)
    paths = unique_stems(list_images(inputs))
    refuse_writing_over_inputs(paths, out, "masks")
    check_sizes(config, net, tiles, ((p.name, image_size(p)) for p in paths))  # from the headers, before decoding
    kept = check_inputs(paths, config.channels, progress)  # every input decodes before the first mask is written
    net = CompiledInference(net, batch_size, log) if compile else optimize_for_inference(net, shuffle_up=False)
    out = Path(out)

    def read(p: Path) -> np.ndarray:
        return kept.pop(p) if p in kept else decode_image(p, config.channels)

    written: list[Path] = []
    with ThreadPoolExecutor(max_workers=2) as readers, ThreadPoolExecutor(max_workers=1) as writer:
        decoded, pending = readers.map(read, paths), []
        bar = tqdm(total=len(paths), desc="predicting", disable=not progress, leave=False)
        for start in range(0, len(paths), batch_size):
            chunk = paths[start:start + batch_size]
            for p, mask in zip(chunk, predict_arrays(net, config, [next(decoded) for _ in chunk], tta, tiles)):
                scaled = mask * 255 if config.num_classes is None else mask
                pending.append(writer.submit(write_image, out / f"{p.stem}.png", scaled.astype(np.uint8)))
                written.append(out / f"{p.stem}.png")
            bar.update(len(chunk))
        for f in pending:
            f.result()
        bar.close()
    return written

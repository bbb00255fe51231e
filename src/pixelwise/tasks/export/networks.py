"""The network of a run as an exported graph's user feeds it: a module, an example input, and what the input's
height and width may be."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.models.inference import optimize_for_inference
from pixelwise.train.files import read_json


class Normalised(nn.Module):
    """``net((x - mean) / std)``: a segmentation network fed images in [0, 1], its run's normalisation inside the
    graph. (N, C, H, W) -> (N, K, H, W) logits."""

    def __init__(self, net: nn.Module, mean, std):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


class NoiseMapped(nn.Module):
    """A network told the noise level (``restore train --noise-map``) fed its input and its noise-level map as one
    tensor: (N, C + 1, H, W) -> (N, C, H, W). The map may vary over the image, as FFDNet's may."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.mapped(x)


@dataclass
class Exportable:
    """A run's network ready to trace: ``module`` (eval mode), an ``example`` input (1, C, H, W), ``multiple``:
    the height and width the graph takes are multiples of it (None: only the example's), and words for the
    graph's metadata."""

    module: nn.Module
    example: torch.Tensor
    multiple: int | None
    input: str
    output: str
    settings: dict = field(default_factory=dict)


def network_of(run_dir: str | Path, which: str = "best") -> Exportable:
    """The :class:`Exportable` of a segmentation or restoration run; runs of other commands, and networks that
    cannot be traced (a custom segmentation model, the unrolled network), are refused in one sentence."""
    run_dir = Path(run_dir)
    recipe = read_json(run_dir / "config.json").get("_recipe") if (run_dir / "config.json").is_file() else None
    if recipe == "segment":
        return _segmentation(run_dir, which)
    if recipe == "restore":
        return _restoration(run_dir, which)
    if recipe is None:
        from pixelwise.tasks.segment.config import SegmentationConfig
        from pixelwise.train.runs import read_config

        read_config(SegmentationConfig, run_dir)  # the one-sentence refusal of a folder that is not a run
    raise PixelwiseError(f"{run_dir} is a `pixelwise {recipe}` run; export takes segmentation and restoration runs "
                         "(`pixelwise segment train`, `pixelwise restore train`).")


def _segmentation(run_dir: Path, which: str) -> Exportable:
    from pixelwise.tasks.segment.config import CUSTOM, SegmentationConfig
    from pixelwise.tasks.segment.inference import load_run
    from pixelwise.train.runs import read_config

    config = read_config(SegmentationConfig, run_dir)
    if config.model == CUSTOM:
        raise PixelwiseError(f"{run_dir} trained a model given from Python, which pixelwise cannot rebuild to trace; "
                             "export it yourself with torch.onnx.export.")
    _, net = load_run(run_dir, which, device="cpu")
    depth = config.depth if config.model == "unet" else min(config.depth, 4)
    fixed = config.model == "vit" or (config.model == "unet" and config.padding == "valid")
    multiple = None if fixed else 2 ** depth  # the U-Net's own padding to a multiple is traced as a constant
    side = config.size if fixed else -(-config.size // multiple) * multiple
    module = Normalised(optimize_for_inference(net, shuffle_up=False), config.norm_mean, config.norm_std).eval()
    classes = config.num_classes
    return Exportable(module, torch.rand(1, config.channels, side, side), multiple,
                      f"{'RGB' if config.channels == 3 else 'grey'} image in [0, 1], (N, {config.channels}, H, W), "
                      f"the run's normalisation inside; the run saw images by --resize {config.resize} at size "
                      f"{config.size}",
                      "logits (N, 1, H, W): foreground where > 0" if classes is None else
                      f"logits (N, {classes}, H, W): the class is the argmax",
                      _settings(config, ("model", "size", "resize", "channels", "num_classes", "norm_mean",
                                         "norm_std")))


def _restoration(run_dir: Path, which: str) -> Exportable:
    from pixelwise.physics.presets import NAIVE_NAMES
    from pixelwise.tasks.restore.inference import load_run

    config, model, _ = load_run(run_dir, which, device="cpu")
    if model.input == "operator":
        raise PixelwiseError(f"{run_dir} holds the unrolled network, which applies the operator A (FFTs, projections) "
                             "inside and cannot be traced to ONNX; export a network of another --model.")
    if model.input == "measurement":
        fed = "the measured (low-resolution) image"
    elif config.operator == "denoise":
        fed = "the noisy image"
    else:
        fed = f"the {NAIVE_NAMES[config.operator]} image (the naive reconstruction of a {config.operator} measurement)"
    multiple = 2 ** (config.depth or 3) if config.model == "unet" else 1
    side = -(-config.train_size // multiple) * multiple
    scale = getattr(model.net, "scale", 1) if model.input == "measurement" else 1
    example = torch.rand(1, config.channels, side, side)
    if model.noise_level is not None:  # told the level: as FFDNet takes it: a map, one more channel
        return Exportable(NoiseMapped(model.net).eval(), torch.cat([example, torch.full_like(example[:, :1],
                          config.sigma / 255)], dim=1), multiple,
                          f"{fed} in [0, 1] with its noise level (sigma / 255) as a last channel, (N, "
                          f"{config.channels + 1}, H, W)", f"the restored image (N, {config.channels}, H, W)",
                          _settings(config, ("model", "operator", "channels", "sigma", "sigma_range", "noise_map")))
    return Exportable(model.net.eval(), example, multiple,
                      f"{fed} in [0, 1], (N, {config.channels}, H, W)",
                      f"the restored image (N, {config.channels}, {scale}H, {scale}W)" if scale > 1 else
                      f"the restored image (N, {config.channels}, H, W)",
                      _settings(config, ("model", "operator", "channels", "sigma")))


def _settings(config, names: tuple[str, ...]) -> dict:
    return {name: getattr(config, name) for name in names}

"""``run(config)``: attribution maps of images under a run's network, its filters and activation maximisation.

Every image, target and method is checked before the output folder is written. Per image and method the raw
attribution (C, H, W) goes to ``maps/STEM_METHOD.npy`` (at the network's input size, in [0, 1] pixel units), and
an overlay of all methods beside the image and its prediction to ``plots/STEM.png``. Occlusion replaces a patch
by the baseline: the training set's mean colour for segmentation runs (what the network sees as zero after its
normalisation), the image's own mean otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pixelwise.attribution import METHODS, first_layer_filters, maximise_activation, to_map
from pixelwise.data.folders import list_images, unique_stems
from pixelwise.errors import PixelwiseError
from pixelwise.tasks.explain import figures
from pixelwise.tasks.explain.config import ExplainConfig
from pixelwise.tasks.explain.targets import heads_for
from pixelwise.tasks.subjects import Subject, load_subject, read_inputs
from pixelwise.train.files import write_json
from pixelwise.train.runs import RunFolder


def _patch(config: ExplainConfig, x: torch.Tensor) -> int:
    """Occlusion's square side (default an eighth of the input's smaller side), refused if larger than the input."""
    side = min(x.shape[-2:])
    patch = config.patch or max(2, side // 8)
    if patch > side:
        raise PixelwiseError(f"patch={patch} (--patch) is larger than the {side}-pixel input; use at most {side}.")
    return patch


def _options(config: ExplainConfig, subject: Subject, x: torch.Tensor, generator: torch.Generator) -> dict:
    patch = _patch(config, x)
    baseline = (torch.tensor(subject.config.norm_mean).view(-1, 1, 1) if subject.kind == "segment"
                else x.mean((0, 2, 3)).view(-1, 1, 1))
    return {"smoothgrad": {"samples": config.samples, "stdev": config.noise, "generator": generator},
            "occlusion": {"patch": patch, "stride": config.stride or max(1, patch // 2), "baseline": baseline}}


def _layer(model: nn.Module, name: str | None) -> tuple[str, nn.Module]:
    layers = dict(model.named_modules())
    if name is None:
        convs = [n for n, m in layers.items() if isinstance(m, nn.Conv2d)]
        if not convs:
            raise PixelwiseError("the network has no convolution to maximise; name a layer with --layer.")
        name = convs[-1]
    if name not in layers or name == "":
        shown = [n for n, m in layers.items() if isinstance(m, (nn.Conv2d, nn.ReLU, nn.LeakyReLU))][:12]
        raise PixelwiseError(f"layer {name!r} is not in the network; name one of its modules, e.g. "
                             f"{', '.join(shown)}.")
    return name, layers[name]


def _explain_image(config, subject, model, x, target, stem, dest, generator, log) -> dict:
    options = _options(config, subject, x, generator)
    maps, seconds = {}, {}
    for method in config.per_image:
        t = time.perf_counter()
        try:
            attribution = METHODS[method](model, x, target.head, **options.get(method, {}))
        except ValueError as err:  # e.g. guided backpropagation without ReLU layers
            raise PixelwiseError(f"{method} cannot explain this run: {err}") from None
        seconds[method] = round(time.perf_counter() - t, 3)
        np.save(dest / "maps" / f"{stem}_{method}.npy", attribution[0].numpy().astype(np.float32))
        maps[method] = to_map(attribution)[0].numpy()
    with torch.no_grad():
        output = model(x)
        score = float(target.head(output)[0])
    figures.overlay_figure(dest / "plots" / f"{stem}.png", subject.kind, x[0], output[0], target.region, maps,
                           f"{stem}: {target.description}")
    log(f"{stem}: {target.description}, score {score:.4g}")
    return {"id": stem, "target": target.description, "score": score, "seconds": seconds}


def _network_views(config: ExplainConfig, subject: Subject, model: nn.Module, shape, dest: Path) -> dict:
    out = {}
    if "filters" in config.methods:
        f = first_layer_filters(subject.net)
        np.save(dest / "maps" / "filters.npy", f.numpy())
        figures.filters_figure(dest / "plots" / "filters.png", f)
        out["filters"] = list(f.shape)
    if "maximise" in config.methods:
        name, layer = _layer(subject.net, config.layer)
        image, trace = maximise_activation(model, layer, config.unit, tuple(shape), steps=config.steps,
                                           tv_weight=config.tv_weight, jitter=config.jitter,
                                           bounds=subject.bounds or (0.0, 1.0),
                                           generator=torch.Generator().manual_seed(config.seed))
        np.save(dest / "maps" / "maximise.npy", image[0].numpy())
        figures.maximise_figure(dest / "plots" / "maximise.png", image, trace,
                                f"activation maximisation of {name}, channel {config.unit}")
        out["maximise"] = {"layer": name, "unit": config.unit, "activation_start": trace[0],
                           "activation_end": trace[-1], "steps": config.steps}
    return out


def _inputs(config: ExplainConfig, subject: Subject):
    if not config.images:
        if config.per_image:
            raise PixelwiseError(f"{', '.join(config.per_image)} explain images; give image files or folders (or "
                                 "only --method filters,maximise).")
        return [], [], None, None
    paths = unique_stems(list_images(list(config.images)))
    images, x, model = read_inputs(subject, paths)
    return paths, images, x, model


def run(config: ExplainConfig, overwrite: bool = False, progress: bool = True,
        log: Callable[[str], None] = print) -> dict:
    """Explain; writes config.json, maps/, plots/, metrics.json and report.html into the new folder ``config.out``."""
    from tqdm.auto import tqdm

    if not str(config.out).strip():
        raise PixelwiseError("`pixelwise explain` needs --out, a folder to create.")
    folder = RunFolder(config, overwrite=overwrite)
    subject = load_subject(config.run, config.which)
    paths, images, x, model = _inputs(config, subject)
    targets = heads_for(subject, config, images, x, model) if paths else []
    if model is None:  # filters and maximisation only: the network on inputs of the run's size
        model = _network(subject)
    shape = _input_shape(subject) if x is None else x.shape[1:]
    if x is not None and len(x):
        _patch(config, x)  # refused before the folder is made
    dest = folder.create()
    (dest / "maps").mkdir(exist_ok=True)
    generator = torch.Generator().manual_seed(config.seed)
    rows = [_explain_image(config, subject, model, x[i:i + 1], target, p.stem, dest, generator, log)
            for i, (p, target) in enumerate(tqdm(list(zip(paths, targets)), desc="explaining", disable=not progress,
                                                 leave=False))]
    metrics = {"run": str(Path(config.run).resolve()), "kind": subject.kind, "methods": list(config.methods),
               "images": rows, **_network_views(config, subject, model, shape, dest)}
    write_json(dest / "metrics.json", metrics)
    _report(dest, config, metrics)
    log(f"wrote {len(rows)} explanations to {dest}")
    return metrics


def _network(subject: Subject) -> nn.Module:
    if subject.model is not None:
        return subject.model
    from pixelwise.tasks.restore.inference import fixed_operator
    from pixelwise.tasks.subjects import Bound

    return Bound(subject.net, fixed_operator(subject.config)).eval()


def _input_shape(subject: Subject) -> tuple[int, int, int]:
    from pixelwise.train.files import read_json

    c = subject.config
    if subject.kind == "segment":
        return (c.channels, c.size, c.size)
    if subject.kind == "classify":
        return tuple(read_json(subject.run_dir / "split.json")["image_shape"])
    return (c.channels, c.train_size, c.train_size)


def _report(dest: Path, config: ExplainConfig, metrics: dict) -> None:
    from pixelwise.report.pages import table, write_page

    rows = [[r["id"], r["target"], r["score"], *(r["seconds"].get(m, "") for m in config.per_image)]
            for r in metrics["images"]]
    text = [f"Attributions of the {metrics['kind']} run {metrics['run']} (checkpoint {config.which}). Each overlay "
            "shows the image, the prediction with the explained region outlined, and |attribution| (the largest "
            "over the colour channels) of each method; the raw maps are in maps/ as .npy (C, H, W) at the network's "
            "input size, in [0, 1] pixel units."]
    figs = [dest / "plots" / f"{r['id']}.png" for r in metrics["images"]]
    figs += [dest / "plots" / n for n in ("filters.png", "maximise.png") if (dest / "plots" / n).is_file()]
    tables = [table(["image", "explained", "score", *(f"{m} s" for m in config.per_image)], rows)] if rows else []
    write_page(dest, f"Explanations of {Path(config.run).name}", text, tables, figs, metrics)

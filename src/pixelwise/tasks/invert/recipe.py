"""``run(config)``: a batch of the run's training images, the gradient a client would share at the run's weights
(the network in eval mode; DP-SGD's with ``--dp-clip``/``--dp-noise`` or the run's own DP settings), the inversion,
and PSNR/SSIM of each recovered image against its true image (paired by the best assignment).

``reference_psnr`` is the PSNR of a constant image at the batch's mean intensity: what an attacker who knows only
the data's average brightness gets for free, the floor a recovery has to beat to leak anything."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from pixelwise.data.tensors import unit_tensor
from pixelwise.errors import PixelwiseError
from pixelwise.metrics import summarise
from pixelwise.privacy.inversion import invert_gradient, match_recovered, shared_gradient
from pixelwise.tasks.invert.config import InvertConfig
from pixelwise.tasks.subjects import Subject, load_subject
from pixelwise.train.files import read_json, write_csv, write_json
from pixelwise.train.runs import config_dict, evaluation_dir


def _training_batch(subject: Subject, config: InvertConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """``config.batch`` training cases drawn with the seed: (images in [0, 1], labels or masks)."""
    split = read_json(subject.run_dir / "split.json")
    train = list(split["train"])
    if config.batch > len(train):
        raise PixelwiseError(f"batch={config.batch} is more than the run's {len(train)} training cases; use a smaller "
                             "--batch.")
    chosen = sorted(np.random.default_rng(config.seed).choice(len(train), config.batch, replace=False).tolist())
    if subject.kind == "classify":
        from pixelwise.data.imagesets import load_image_set

        c = subject.config
        data = load_image_set(c.data, c.size, c.cache_dir, max_images=c.max_images, seed=c.seed)
        index = [train[i] for i in chosen]
        return torch.from_numpy(data.images[index]), torch.from_numpy(data.labels[index])
    from pixelwise.data.folders import ImageMaskFolder

    c = subject.config
    folder = ImageMaskFolder(c.data, c.num_classes, c.threshold, c.channels, ignore_index=c.ignore_index)
    images, masks = folder.load(folder.index([train[i] for i in chosen]), (c.size, c.size), progress=False)
    y = torch.from_numpy(masks).long()
    return unit_tensor(images), y


def _dp_settings(subject: Subject, config: InvertConfig) -> tuple[float | None, float]:
    if config.dp_clip is not None:
        return config.dp_clip, config.dp_noise
    privacy = getattr(subject.config, "privacy", None)
    if privacy is not None and privacy.enabled:
        return privacy.dp_clip, privacy.dp_sigma
    return None, 0.0


def run(config: InvertConfig, progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Invert, score, and write metrics.json, per_case.csv, plots/ and report.html to ``config.out`` (default
    ``RUN/evaluations/invert-bB``, with ``-dp`` for a private gradient); returns the metrics."""
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    subject = load_subject(config.run, config.which)
    if subject.kind not in ("classify", "segment"):
        raise PixelwiseError(f"invert attacks runs trained on labels or masks (classify, segment); {config.run} is a "
                             f"{subject.kind} run.")
    x, y = _training_batch(subject, config)
    clip, noise = _dp_settings(subject, config)
    model = subject.model.eval()
    for p in model.parameters():
        p.requires_grad_(True)
    generator = torch.Generator().manual_seed(config.seed)
    try:
        target = shared_gradient(model, subject.loss, x, y, clip, noise, generator)
    except ValueError as err:  # batch normalisation with per-example gradients
        raise PixelwiseError(f"the DP-SGD gradient of this run cannot be formed: {err}") from None
    dest = evaluation_dir(config.run, f"invert-b{config.batch}" + ("-dp" if clip is not None else ""), config.out)
    trace: list[float] = []
    bar = tqdm(total=config.iterations, desc="inverting", disable=not progress, leave=False)
    recovered = invert_gradient(model, subject.loss, target, y, tuple(x.shape), config.iterations, config.lr,
                                config.tv_weight, config.distance, (0.0, 1.0), generator,
                                lambda i, v: (trace.append(v), bar.update(1)))
    bar.close()
    order, psnrs = match_recovered(recovered, x)
    recovered = recovered[order]
    rows = [{"image": i, "psnr": p, **_ssim(recovered[i], x[i])} for i, p in enumerate(psnrs)]
    reference = [10 * float(torch.log10(1 / (xi - xi.mean()).pow(2).mean().clamp(min=1e-12))) for xi in x]
    metrics = {"run": str(Path(config.run).resolve()), "kind": subject.kind, "batch": config.batch,
               "distance": config.distance, "iterations": config.iterations, "tv_weight": config.tv_weight,
               "dp": {"clip": clip, "noise_multiplier": noise} if clip is not None else None,
               "psnr": summarise(psnrs, seed=config.seed), "reference_psnr": summarise(reference, seed=config.seed),
               "ssim": summarise([r["ssim"] for r in rows], seed=config.seed) if "ssim" in rows[0] else None,
               "final_objective": trace[-1], "seconds": time.perf_counter() - t0, "per_image": rows}
    _write(dest, config, metrics, x, recovered, trace)
    log(f"recovered {config.batch} image(s){' from a DP-SGD gradient' if clip is not None else ''}: PSNR "
        f"{metrics['psnr']['mean']:.2f} dB (a constant image: {metrics['reference_psnr']['mean']:.2f} dB); report "
        f"{dest / 'report.html'}")
    return metrics


def _ssim(a: torch.Tensor, b: torch.Tensor) -> dict:
    from pixelwise.metrics import ssim

    return {"ssim": ssim(a, b, 1.0)} if min(a.shape[-2:]) >= 11 else {}


def _write(dest: Path, config: InvertConfig, metrics: dict, truth, recovered, trace: list[float]) -> None:
    from pixelwise.report.latent import image_grid
    from pixelwise.report.pages import write_page
    from pixelwise.report.plots import plt, save_figure

    write_json(dest / "config.json", config_dict(config))
    write_json(dest / "metrics.json", metrics)
    write_csv(dest / "per_case.csv", metrics["per_image"])
    grey = (lambda t: t.mean(1, keepdim=True).numpy())  # noqa: E731
    grid = image_grid([grey(truth), grey(recovered)], dest / "plots" / "recovered.png", ["true", "recovered"],
                      f"gradient inversion, batch {config.batch}")
    fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
    ax.plot(trace)
    ax.set_xlabel("iteration")
    ax.set_ylabel("gradient distance + TV")
    ax.grid(alpha=0.3)
    curve = save_figure(fig, dest / "plots" / "objective.png")
    dp = metrics["dp"]
    text = [f"The gradient of {config.batch} training image(s) of {metrics['run']} at its {config.which} weights"
            + (f", privatised by DP-SGD (clip {dp['clip']:g}, noise multiplier {dp['noise_multiplier']:.3g})"
               if dp else "") + f", inverted by {config.iterations} steps of the {config.distance} gradient "
            f"distance with a TV prior of weight {config.tv_weight:g} (labels known). Mean PSNR "
            f"{metrics['psnr']['mean']:.2f} dB against {metrics['reference_psnr']['mean']:.2f} dB for a constant "
            "image at each true image's mean."]
    write_page(dest, f"Gradient inversion of {Path(config.run).name}", text, [], [grid, curve], metrics)

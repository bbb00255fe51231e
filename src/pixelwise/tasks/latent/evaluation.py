"""Evaluation of a latent run: per-image errors with their aggregate, the baselines, random decodes, the
VQ-VAE's prior, anomaly detection, figures and a report (GAN runs: :mod:`pixelwise.tasks.latent.gan_evaluation`).

Per test image: MSE and BCE per pixel of the reconstruction, the MSE of PCA with as many components as the code
has numbers (fitted on the training images; the linear baseline), the VAE's KL in nats, the dae's error before
and after denoising corrupted inputs, and under the VQ-VAE's prior the bits per code of its code map. Each gets
:func:`pixelwise.metrics.summarise` (mean, median, std, a seeded bootstrap interval, n) under
``metrics.json["metrics"]``, as do the distances of 64 random decodes ("random vectors into the decoder") to
their nearest training image. With a held-out class the per-image MSE is the anomaly score: ROC-AUC and the
rates at a threshold set on validation images (a false positive rate of ``false_positive_rate``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pixelwise.data.imagesets import NAMED_SOURCES, ImageSet
from pixelwise.errors import PixelwiseError
from pixelwise.metrics import aggregate, summarise
from pixelwise.metrics.latent import detection_rates, nearest_mse, pca, pca_reconstruct, roc_auc, threshold_from_normals
from pixelwise.models.corruption import corrupt
from pixelwise.models.pixelcnn import PixelCNNPrior
from pixelwise.models.vqvae import VQVAE
from pixelwise.report.latent import write_latent_report
from pixelwise.tasks.latent import figures
from pixelwise.tasks.latent.config import LatentConfig, is_gan
from pixelwise.tasks.latent.data import load_data, tensor
from pixelwise.tasks.latent.inference import load_run, perplexity, reconstruct
from pixelwise.tasks.latent.prior import code_maps, load_run_prior, nll_per_map, unigram_nll
from pixelwise.tasks.latent.sampling import random_decodes
from pixelwise.train.files import read_json, write_csv, write_json
from pixelwise.train.runs import evaluation_dir

N_RANDOM = 64  # random codes decoded and compared with the training images
NEAREST_POOL = 5000  # training images searched for the nearest one


@dataclass
class Scored:
    """The images an evaluation scores, and the run's own images it compares them with."""

    data: ImageSet  # the run's own images
    split: dict
    train: torch.Tensor  # (N, C, H, W) the run's training images
    test: torch.Tensor  # (M, C, H, W) the images scored
    index: list[int]  # their indices in their source
    labels: np.ndarray | None
    source: str
    own: bool  # the run's test split


def evaluate(run_dir: str | Path, data: str | None = None, *, which: str = "best", name: str | None = None,
             out: str | Path | None = None, images: ImageSet | None = None, progress: bool = True,
             log: Callable[[str], None] = print) -> dict:
    """Score a checkpoint (``which``) of a latent run; write metrics.json, per_case.csv, plots/ and report.html.

    Without ``data`` and with the best checkpoint the run's test split is scored and the results are the run's
    own. Another source (``data``: "mnist-test", an .npz, a folder; scored whole) or the last checkpoint goes to
    ``out``, or to ``RUN/evaluations/NAME`` (``name`` defaults to the source's name), and never replaces them.
    ``images``: the run's own image set, already loaded (the recipe passes it)."""
    run_dir = Path(run_dir)
    config, model = load_run(run_dir, which)
    if is_gan(config.model) and data is not None:
        raise PixelwiseError(f"{run_dir} is a {config.model} run, evaluated by its samples; --data does not apply "
                             "(leave it out).")
    own = data is None and which == "best"
    dest = run_dir if own and out is None else evaluation_dir(run_dir, name or _name(data, which), out)
    if is_gan(config.model):
        from pixelwise.tasks.latent.gan_evaluation import evaluate_gan

        return evaluate_gan(run_dir, dest, config, model, which, images, log)
    scored = _scored(run_dir, config, data, images)
    prior = load_run_prior(run_dir, config) if isinstance(model, VQVAE) else None  # fitted on the best's codes
    r = reconstruct(model, scored.test)
    metrics, cases = _per_image(config, model, prior, scored, r)
    metrics.update(model=config.model, latent_dim=config.latent_dim, source=scored.source, checkpoint=which)
    decodes, uniform = _random_decodes(metrics, config, model, scored, prior, progress)
    if config.anomaly_class is not None and scored.labels is not None and scored.own:
        metrics["anomaly"] = _anomaly(config, model, scored, r["mse"].numpy())
    if scored.labels is not None:
        mse = r["mse"].numpy()
        metrics["per_class_mse"] = {str(c): float(mse[scored.labels == c].mean()) for c in np.unique(scored.labels)}
    shown = _figures(dest / "plots", config, model, scored, r, metrics, decodes, uniform)
    write_json(dest / "metrics.json", metrics)
    write_csv(dest / "per_case.csv", cases)
    report = write_latent_report(dest, f"{config.model} autoencoder, d = {config.latent_dim}", metrics, shown)
    log(_summary_line(metrics, report))
    return metrics


def _name(data: str | None, which: str) -> str:
    """The evaluation folder's default name: the source's name (or "test"), then the checkpoint if not best."""
    parts = [Path(str(data)).name if data is not None else "test"] + ([which] if which != "best" else [])
    return "-".join(parts)


def _scored(run_dir: Path, config: LatentConfig, data: str | None, images: ImageSet | None) -> Scored:
    own_data = images if images is not None else load_data(config)
    split = read_json(run_dir / "split.json")
    train = tensor(own_data, split["train"])
    if data is None:
        source, index = own_data, [int(i) for i in split["test"]]
    else:
        source = load_data(config, data)
        index = list(range(len(source)))
        if list(source.shape) != list(config.image_shape):
            raise PixelwiseError(f"{data} holds images of {source.shape}, but the run was trained on "
                                 f"{tuple(config.image_shape)}; evaluate on images of the training size.")
    labels = source.labels[index] if source.labels is not None else None
    name = "test split" if data is None else data if data in NAMED_SOURCES else str(Path(data).resolve())
    return Scored(own_data, split, train, tensor(source, index), index, labels, name, data is None)


def _per_image(config: LatentConfig, model: nn.Module, prior: PixelCNNPrior | None, s: Scored, r: dict
               ) -> tuple[dict, list]:
    """The per-image errors (the rows of per_case.csv) and their aggregate, with the blocks that describe them."""
    columns = {"mse": r["mse"].numpy(), "bce": r["bce"].numpy()}
    blocks: dict = {}
    if "kl" in r:
        columns["kl"] = r["kl"].numpy()
    k = min(int(r["z"].shape[1]), len(s.train), s.train[0].numel())  # as many numbers as the code has
    mean, comps, _ = pca(s.train.flatten(1).numpy(), k)
    flat = s.test.flatten(1).numpy()
    columns["pca_mse"] = ((pca_reconstruct(flat, mean, comps) - flat) ** 2).mean(1)
    blocks["pca"] = {"components": k, "fitted_on": "the training images"}
    if config.model == "dae":  # the denoising task itself: corrupted test images in, clean ones as the target
        noisy = corrupt(s.test, config.corruption, config.noise, torch.Generator().manual_seed(config.seed))
        columns["noisy_mse"] = (noisy - s.test).pow(2).flatten(1).mean(1).numpy()
        columns["denoised_mse"] = (reconstruct(model, noisy)["x_hat"] - s.test).pow(2).flatten(1).mean(1).numpy()
        blocks["denoising"] = {"corruption": config.corruption, "level": config.noise}
    if "indices" in r:
        blocks["codes"] = {"num_codes": model.quantizer.num_codes,
                           "perplexity": perplexity(r["indices"], model.quantizer.num_codes),
                           "restarted_in_training": int(model.quantizer.restarts)}
        if prior is not None:
            bits, blocks["prior"] = _prior_scores(prior, config, model, s, r)
            columns["prior_bits_per_code"] = bits
    cases = [{"index": i, "label": int(s.labels[j]) if s.labels is not None else "",
              **{key: float(values[j]) for key, values in columns.items()}} for j, i in enumerate(s.index)]
    metrics = aggregate(cases, list(columns), seed=config.seed)
    return {**metrics, **blocks}, cases


def _prior_scores(prior: PixelCNNPrior, config: LatentConfig, model: VQVAE, s: Scored, r: dict
                  ) -> tuple[np.ndarray, dict]:
    """Bits per code of each test code map under the prior, and the two baselines (uniform and unigram codes)."""
    test_codes = r["indices"].view(len(s.test), *model.ae.sizes[2])  # (N, h, w)
    bits = nll_per_map(prior, test_codes).double().numpy() / np.log(2)
    k = config.num_codes
    return bits, {"model": "gated PixelCNN", "layers": config.prior_layers, "channels": config.prior_channels,
                  "uniform_bits_per_code": float(np.log2(k)),
                  "unigram_bits_per_code": unigram_nll(code_maps(model, s.train), test_codes, k) / np.log(2)}


def _random_decodes(metrics: dict, config: LatentConfig, model: nn.Module, s: Scored, prior: PixelCNNPrior | None,
                    progress: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Decode N_RANDOM random codes; their (and as many test images') MSE to the nearest training image."""
    decodes = random_decodes(model, config, N_RANDOM, config.seed, prior, progress)
    pool = s.train[:NEAREST_POOL]
    summaries = {"random_decode_nearest_train_mse": nearest_mse(decodes, pool).numpy(),
                 "test_nearest_train_mse": nearest_mse(s.test[:N_RANDOM], pool).numpy()}
    uniform = None
    if prior is not None:  # the same decoder on uniform codes: what the prior adds
        uniform = random_decodes(model, config, N_RANDOM, config.seed)
        summaries["uniform_decode_nearest_train_mse"] = nearest_mse(uniform, pool).numpy()
    for key, values in summaries.items():
        metrics["metrics"][key] = summarise(values, seed=config.seed)
    codes = "N(0, I)" if not isinstance(model, VQVAE) else "PixelCNN prior" if prior is not None else "uniform"
    metrics["random_decodes"] = {"n": N_RANDOM, "codes": codes, "nearest_among": len(pool)}
    return decodes, uniform


def _anomaly(config: LatentConfig, model: nn.Module, s: Scored, test_mse: np.ndarray) -> dict:
    """Scores = per-image MSE; the threshold is the (1 - fpr) quantile of the validation (normal) scores."""
    val_scores = reconstruct(model, tensor(s.data, s.split["val"]))["mse"].numpy()
    threshold = threshold_from_normals(val_scores, config.false_positive_rate)
    positive = s.labels == config.anomaly_class
    return {"class": config.anomaly_class, "score": "per-image MSE", "roc_auc": roc_auc(test_mse, positive),
            "target_fpr": config.false_positive_rate, **detection_rates(test_mse, positive, threshold)}


def _figures(plots: Path, config: LatentConfig, model: nn.Module, s: Scored, r: dict, metrics: dict,
             decodes: torch.Tensor, uniform: torch.Tensor | None) -> list[Path]:
    m = metrics["metrics"]
    pick = figures.spread(len(s.test), config.grid_size)
    title = (f"{config.model}, d = {config.latent_dim}: test MSE {m['mse']['mean']:.4f} "
             f"(PCA-{metrics['pca']['components']}: {m['pca_mse']['mean']:.4f})")
    shown = [figures.reconstructions(plots, s.test, r["x_hat"], pick, title),
             figures.random_decodes_figure(plots, decodes, uniform)]
    if not isinstance(model, VQVAE):
        shown.append(figures.code_space(plots, r["z"], s.labels))
    if config.model == "vae" and len(s.test) >= 2:
        shown.append(figures.interpolation(plots, model, r["z"], pick))
    if "anomaly" in metrics:
        shown.append(figures.anomaly_maps(plots, s.test, r["x_hat"], r["mse"].numpy()))
    return shown


def _summary_line(metrics: dict, report: Path) -> str:
    m = metrics["metrics"]
    line = (f"{metrics['source']}: {metrics['n_cases']} images, MSE per pixel {m['mse']['mean']:.4f} "
            f"[{m['mse']['ci_low']:.4f}, {m['mse']['ci_high']:.4f}] (PCA-{metrics['pca']['components']} "
            f"{m['pca_mse']['mean']:.4f})")
    if "prior" in metrics:
        p = metrics["prior"]
        line += (f", prior {m['prior_bits_per_code']['mean']:.2f} bits per code (unigram "
                 f"{p['unigram_bits_per_code']:.2f}, uniform {p['uniform_bits_per_code']:.2f})")
    if "anomaly" in metrics:
        line += f", anomaly ROC-AUC {metrics['anomaly']['roc_auc']:.3f}"
    return line + f"; report {report}"

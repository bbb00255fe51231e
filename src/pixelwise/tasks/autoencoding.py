"""Autoencoding recipe: images -> an autoencoder of the family -> honest test reconstruction errors, grids,
latent plots, samples and (when a class is held out) anomaly detection.

``run(config)`` loads and splits the data (nothing is written before that passes), trains with
:func:`pixelwise.train.fit`, then ``evaluate`` scores the best checkpoint on the test split: per-image
MSE/BCE, PCA with the same number of components fitted on the training images as a baseline, the
"random vectors into the decoder" check, and ROC-AUC of reconstruction-error anomaly scores with a
threshold chosen on validation data. ``evaluate`` and ``sample`` work from a run folder alone.

Models (name -> builder, one explicit table): ae (MLP), convae (conv, vector bottleneck), vae (conv VAE,
Kingma and Welling 2014), dae (conv AE trained on corrupted inputs, Vincent et al. 2008), sparse (MLP
with an L1 or KL-rho code penalty), cae (MLP with the contractive penalty, Rifai et al. 2011), vqvae (van
den Oord et al. 2017).

The VQ-VAE has a second stage, as in the paper: after it is trained, a gated PixelCNN prior
(:mod:`pixelwise.tasks.code_prior`) is fitted on the code maps of the training images (of the best VQ-VAE
checkpoint) and saved in ``prior/`` of the run folder; ``sample`` draws code maps from it in raster order
and decodes them. ``minutes`` is the budget of the whole run: the VQ-VAE gets (1 - prior_share) of it and
the prior the rest; without ``minutes`` the prior trains for ``prior_epochs`` epochs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pixelwise.data.imagesets import ImageSet, load_image_set, split_indices
from pixelwise.errors import PixelwiseError
from pixelwise.losses.latent import AutoencoderLoss, kl_normal
from pixelwise.metrics.latent import (
    detection_rates,
    nearest_mse,
    pca,
    pca_reconstruct,
    roc_auc,
    threshold_from_normals,
)
from pixelwise.models.autoencoders import ConvAutoencoder, MLPAutoencoder
from pixelwise.models.corruption import CORRUPTIONS, corrupt
from pixelwise.models.pixelcnn import PixelCNNPrior
from pixelwise.models.vqvae import VQVAE
from pixelwise.tasks.code_prior import PriorConfig, load_prior, nll_per_code, train_prior, unigram_nll
from pixelwise.train import FitConfig, fit, load_weights, prepare_run_dir, read_json, write_json
from pixelwise.train.checkpoint import load_state
from pixelwise.train.runs import RunResult, config_from_dict, write_csv


@dataclass
class LatentConfig:
    data: str = "digits"  # "mnist", "mnist-test", "digits", an .npz file or a folder of images
    out: str = "runs/latent"
    model: str = "convae"
    latent_dim: int = 16  # d (the code size; channels per position for vqvae)
    size: int | None = None  # folders only: resize images to size x size
    max_images: int | None = None  # use a seeded random subset of this many images
    base: int = 32  # conv channels
    hidden: int = 256  # MLP hidden width
    recon: str | None = None  # "mse" or "bce"; default bce for the VAE, mse otherwise
    beta: float = 1.0  # VAE KL weight
    corruption: str = "gaussian"  # dae: gaussian, masking or salt_pepper
    noise: float = 0.3  # dae: sigma (gaussian) or probability p
    sparsity: str = "kl"  # sparse: "l1" or "kl"
    sparsity_weight: float = 0.1
    rho: float = 0.05
    contractive: float = 0.1  # cae: lambda
    num_codes: int = 64  # vqvae: K
    commitment: float = 0.25  # vqvae: beta of the commitment loss
    prior_share: float = 0.2  # vqvae: the share of ``minutes`` spent fitting the PixelCNN prior afterwards
    prior_epochs: int = 30  # vqvae: prior epochs (the upper bound when ``minutes`` is set)
    prior_channels: int = 64
    prior_layers: int = 6
    prior_lr: float = 1e-3
    anomaly_class: int | None = None  # hold this label out of training; it is the anomaly at test time
    false_positive_rate: float = 0.05  # anomaly threshold: this rate on validation normals
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    epochs: int = 30
    minutes: float | None = None
    lr: float = 1e-3
    batch_size: int = 128
    schedule: str = "cosine"
    seed: int = 0
    cache_dir: str | None = None  # MNIST download cache
    grid_size: int = 16

    def __post_init__(self):
        if self.model not in MODEL_BUILDERS:
            names = ", ".join(MODEL_BUILDERS)
            raise PixelwiseError(f"model {self.model!r} is not known; use one of {names}.")
        for name in ("latent_dim", "base", "hidden", "epochs", "batch_size", "num_codes", "grid_size",
                     "prior_epochs", "prior_channels", "prior_layers"):
            if int(getattr(self, name)) != getattr(self, name) or getattr(self, name) < 1:
                raise PixelwiseError(f"{name}={getattr(self, name)} must be an integer >= 1.")
        if self.model == "vqvae" and self.num_codes < 2:
            raise PixelwiseError(f"num_codes={self.num_codes} must be >= 2 for a codebook.")
        if not 0 < self.prior_share < 1:
            raise PixelwiseError(f"prior_share={self.prior_share} must lie in (0, 1), e.g. 0.2 (a fifth of "
                                 "--minutes for the VQ-VAE's prior).")
        if not self.prior_lr > 0:
            raise PixelwiseError(f"prior_lr={self.prior_lr} must be > 0, e.g. 1e-3.")
        if self.recon not in (None, "mse", "bce"):
            raise PixelwiseError(f"recon={self.recon!r} must be 'mse' or 'bce'.")
        if self.corruption not in CORRUPTIONS:
            names = ", ".join(CORRUPTIONS)
            raise PixelwiseError(f"corruption {self.corruption!r} is not known; use one of {names}.")
        if self.sparsity not in ("l1", "kl"):
            raise PixelwiseError(f"sparsity={self.sparsity!r} must be 'l1' or 'kl'.")
        if not 0 < self.rho < 1:
            raise PixelwiseError(f"rho={self.rho} must lie in (0, 1), e.g. 0.05.")
        for name in ("beta", "noise", "sparsity_weight", "contractive", "commitment"):
            if not getattr(self, name) >= 0:
                raise PixelwiseError(f"{name}={getattr(self, name)} must be >= 0.")
        if self.corruption != "gaussian" and self.noise > 1:
            raise PixelwiseError(f"noise={self.noise} is a probability for {self.corruption}; use 0..1.")
        if not 0 < self.false_positive_rate < 1:
            raise PixelwiseError(f"false_positive_rate={self.false_positive_rate} must lie in (0, 1).")
        if self.max_images is not None and self.max_images < 3:
            raise PixelwiseError(f"max_images={self.max_images} must be >= 3 (train, val and test need one "
                                 "each).")
        self.split = tuple(float(f) for f in self.split)
        bad = len(self.split) != 3 or min(self.split) < 0 or abs(sum(self.split) - 1) > 1e-6
        if bad or self.split[1] == 0:
            raise PixelwiseError(f"split={self.split} must be three fractions summing to 1 with a non-zero "
                                 "validation part, e.g. 0.8,0.1,0.1.")

    @property
    def recon_kind(self) -> str:
        return self.recon or ("bce" if self.model == "vae" else "mse")

    @classmethod
    def from_dict(cls, d: dict) -> LatentConfig:
        return config_from_dict(cls, d)



# --- models and objectives: one explicit table -------------------------------------------------------------
def _mlp(c: LatentConfig, shape, **kw) -> nn.Module:
    return MLPAutoencoder(shape, c.latent_dim, hidden=(c.hidden,), **kw)


MODEL_BUILDERS: dict[str, Callable[[LatentConfig, tuple], nn.Module]] = {
    "ae": lambda c, s: _mlp(c, s),
    "convae": lambda c, s: ConvAutoencoder(s, c.latent_dim, c.base),
    "vae": lambda c, s: ConvAutoencoder(s, c.latent_dim, c.base, variational=True),
    "dae": lambda c, s: ConvAutoencoder(s, c.latent_dim, c.base),
    "sparse": lambda c, s: _mlp(c, s, code_activation="sigmoid" if c.sparsity == "kl" else "relu"),
    "cae": lambda c, s: _mlp(c, s, code_activation="sigmoid"),
    "vqvae": lambda c, s: VQVAE(s, code_dim=c.latent_dim, num_codes=c.num_codes, base=c.base),
}


def build_model(config: LatentConfig, shape: tuple[int, int, int]) -> nn.Module:
    return MODEL_BUILDERS[config.model](config, tuple(shape))


def loss_for(config: LatentConfig) -> AutoencoderLoss:
    vae = config.model == "vae"
    return AutoencoderLoss(
        recon=config.recon_kind, reduction="image" if vae else "pixel", beta=config.beta,
        sparsity=config.sparsity if config.model == "sparse" else None,
        sparsity_weight=config.sparsity_weight if config.model == "sparse" else 0.0, rho=config.rho,
        contractive=config.contractive if config.model == "cae" else 0.0, commitment_beta=config.commitment)


# --- data ---------------------------------------------------------------------------------------------------
def load_data(config: LatentConfig) -> ImageSet:
    data = load_image_set(config.data, config.size, config.cache_dir)
    if config.max_images is not None and config.max_images < len(data):
        keep = np.sort(np.random.default_rng(config.seed).permutation(len(data))[: config.max_images])
        data = data.subset(keep)
    h, w = data.images.shape[-2:]
    if config.model not in ("ae", "sparse", "cae") and min(h, w) < 4:
        raise PixelwiseError(f"images of {h}x{w} are too small for the conv models; use --size 8 or more.")
    return data


def make_split(data: ImageSet, config: LatentConfig) -> dict:
    """Random train/val/test; with ``anomaly_class`` its images leave train and val (test keeps them)."""
    split = split_indices(len(data), config.split, config.seed)
    if config.anomaly_class is not None:
        if data.labels is None:
            raise PixelwiseError(f"--anomaly-class {config.anomaly_class} needs labelled data; {data.name} "
                                 "has none.")
        if not np.any(data.labels == config.anomaly_class):
            raise PixelwiseError(f"no image has label {config.anomaly_class}; choose one of "
                                 f"{sorted(set(data.labels.tolist()))}.")
        for part in ("train", "val"):
            split[part] = [i for i in split[part] if data.labels[i] != config.anomaly_class]
        if not any(data.labels[i] == config.anomaly_class for i in split["test"]):
            raise PixelwiseError("the test split holds no anomalous image; enlarge the test fraction.")
    if not split["train"] or not split["val"] or not split["test"]:
        raise PixelwiseError(f"{len(data)} images are too few for the split {config.split}; add data.")
    split["seed"], split["fractions"], split["shape"] = config.seed, list(config.split), list(data.shape)
    return split


def _batches(images: torch.Tensor, config: LatentConfig) -> Callable:
    n, bs = len(images), min(config.batch_size, len(images))

    def epoch_batches(epoch: int, generator: torch.Generator):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - bs + 1, bs):  # a ragged last batch is dropped
            x = images[order[start:start + bs]]  # (B, C, H, W)
            inp = corrupt(x, config.corruption, config.noise, generator) if config.model == "dae" else x
            if config.model == "cae":
                inp = inp.clone().requires_grad_(True)  # the contractive penalty differentiates z w.r.t. x
            yield inp, x

    return epoch_batches


@torch.no_grad()
def reconstruct(model: nn.Module, images: torch.Tensor, batch_size: int = 512) -> dict[str, torch.Tensor]:
    """x_hat, codes and per-image errors for (N, C, H, W) images (model in eval mode)."""
    out: dict[str, list] = {"x_hat": [], "z": [], "mse": [], "bce": [], "kl": [], "indices": []}
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        o = model(x)
        out["x_hat"].append(o.x_hat)
        out["z"].append((o.mu if o.mu is not None else o.z).flatten(1))
        out["mse"].append((o.x_hat - x).pow(2).flatten(1).mean(1))
        p = o.x_hat.clamp(1e-6, 1 - 1e-6)
        out["bce"].append(-(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).mean(1))
        if o.mu is not None:
            out["kl"].append(kl_normal(o.mu, o.logvar))
        if o.indices is not None:
            out["indices"].append(o.indices.flatten(1))
    return {k: torch.cat(v) for k, v in out.items() if v}


@torch.no_grad()
def code_maps(model: VQVAE, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """The VQ-VAE's code indices of (N, C, H, W) images, (N, h, w) int64 (model in eval mode: no restarts)."""
    return torch.cat([model.quantizer(model.encode(images[start:start + batch_size])).indices
                      for start in range(0, len(images), batch_size)])


def prior_config(config: LatentConfig, minutes: float | None = None) -> PriorConfig:
    """The settings of the VQ-VAE's code prior in a run with ``config``."""
    return PriorConfig(channels=config.prior_channels, layers=config.prior_layers, epochs=config.prior_epochs,
                       minutes=minutes, lr=config.prior_lr, batch_size=config.batch_size, seed=config.seed)


def _validator(images: torch.Tensor) -> Callable:
    def validate(model: nn.Module) -> dict:
        r = reconstruct(model, images)
        metrics = {"val_mse": r["mse"].mean().item(), "val_bce": r["bce"].mean().item()}
        if "indices" in r:
            metrics["val_perplexity"] = _perplexity(r["indices"], model.quantizer.num_codes)
        return metrics

    return validate


def _perplexity(indices: torch.Tensor, k: int) -> float:
    p = torch.bincount(indices.flatten(), minlength=k).float()
    p = p / p.sum()
    return float(torch.exp(-(p * p.clamp_min(1e-12).log()).sum()))


def _tensor(data: ImageSet, idx) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(data.images[idx]))


# --- recipe -------------------------------------------------------------------------------------------------
def run(config: LatentConfig, overwrite: bool = False, resume: bool = False, progress: bool = True,
        log: Callable[[str], None] = print) -> RunResult:
    """Train and evaluate; writes only inside ``config.out``."""
    t0 = time.perf_counter()
    out = Path(config.out)
    if resume:
        saved = LatentConfig.from_dict(read_json(out / "config.json"))
        saved.minutes, saved.epochs = config.minutes or saved.minutes, max(config.epochs, saved.epochs)
        config = saved
    data = load_data(config)
    split = read_json(out / "split.json") if resume else make_split(data, config)
    train, val = _tensor(data, split["train"]), _tensor(data, split["val"])
    log(f"{len(data)} images of {data.shape} from {data.name}: {len(split['train'])} train, "
        f"{len(split['val'])} val, {len(split['test'])} test"
        + (f" (class {config.anomaly_class} held out of train/val)" if config.anomaly_class is not None
           else ""))
    torch.manual_seed(config.seed)  # the initial weights come from the seed too (fit seeds only the loop)
    model = build_model(config, data.shape)
    vqvae = config.model == "vqvae"
    minutes = config.minutes * (1 - config.prior_share) if vqvae and config.minutes else config.minutes
    fit_config = FitConfig(epochs=config.epochs, minutes=minutes, lr=config.lr,  # checked before any writing
                           schedule=config.schedule, seed=config.seed, progress=progress,
                           monitor="val_mse", mode="min")
    run_dir = prepare_run_dir(out, overwrite=overwrite, resume=resume)
    write_json(run_dir / "config.json", _config_dict(config))
    write_json(run_dir / "split.json", split)
    steps = max(1, len(train) // min(config.batch_size, len(train)))
    steps_before = load_state(run_dir / "checkpoints" / "last_state.pt")["step"] if resume else 0
    result = fit(model, loss_for(config), _batches(train, config), steps, _validator(val), fit_config,
                 run_dir, resume, log)
    log(f"trained {len(result.history)} epochs in {result.seconds:.0f}s (stopped by {result.stopped}); "
        f"best epoch {result.best_epoch}")
    if vqvae:  # the prior continues only if the VQ-VAE (and so its codes) did not change on resume
        resume_prior = resume and result.steps == steps_before and (
            run_dir / "prior" / "checkpoints" / "last_state.pt").is_file()
        _fit_prior(run_dir, config, train, val, resume_prior, progress, log)
    metrics = evaluate(run_dir, data=data, log=log)
    return RunResult(run_dir, metrics, result.history, time.perf_counter() - t0)


def _fit_prior(run_dir: Path, config: LatentConfig, train: torch.Tensor, val: torch.Tensor, resume: bool,
               progress: bool, log: Callable[[str], None]) -> None:
    """Fit the PixelCNN prior on the code maps of the best VQ-VAE checkpoint (the one sampled later)."""
    _, model, _ = load_run(run_dir)
    train_codes, val_codes = code_maps(model, train), code_maps(model, val)
    minutes = config.minutes * config.prior_share if config.minutes else None
    h, w = train_codes.shape[1:]
    log(f"fitting the PixelCNN prior on {len(train_codes)} code maps of {h}x{w}"
        + (f" in {minutes:.2f} min" if minutes else f" for {config.prior_epochs} epochs"))
    _, result = train_prior(train_codes, val_codes, config.num_codes, prior_config(config, minutes),
                            run_dir / "prior", resume, progress, log=lambda _: None)
    log(f"prior: {len(result.history)} epochs in {result.seconds:.0f}s, validation "
        f"{result.best_value / np.log(2):.3f} bits per code (uniform codes: {np.log2(config.num_codes):.3f})")


def _config_dict(config: LatentConfig) -> dict:
    d = asdict(config)
    if config.data not in ("mnist", "mnist-test", "digits"):
        d["data"] = str(Path(config.data).resolve())
    return d


def load_run(run_dir: str | Path, which: str = "best") -> tuple[LatentConfig, nn.Module, dict]:
    """The config, the trained model (eval mode) and the split of a run folder."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise PixelwiseError(f"{run_dir} is not a latent run folder (no config.json); train one with "
                             "`pixelwise latent train`.")
    config = LatentConfig.from_dict(read_json(run_dir / "config.json"))
    split = read_json(run_dir / "split.json")
    shape = tuple(split["shape"]) if "shape" in split else None
    if shape is None:
        raise PixelwiseError(f"{run_dir / 'split.json'} has no image shape; the run is incomplete, train "
                             "again.")
    model = build_model(config, shape)
    path = run_dir / "checkpoints" / f"{which}.safetensors"
    load_weights(model, path if path.is_file() else run_dir / "checkpoints" / "last.safetensors")
    return config, model.eval(), split


def _codes_2d(z: np.ndarray) -> tuple[np.ndarray, str]:
    if z.shape[1] == 2:
        return z, "z_1, z_2"
    if z.shape[1] == 1:
        return np.concatenate([z, np.zeros_like(z)], 1), "z_1"
    if len(z) < 2:  # one test image has no principal components
        return z[:, :2], "z_1, z_2"
    mean, comps, _ = pca(z, 2)
    return (z - mean) @ comps.T, "first two principal components of z"


@torch.no_grad()
def random_decodes(model: nn.Module, config: LatentConfig, n: int, seed: int,
                   prior: PixelCNNPrior | None = None) -> torch.Tensor:
    """Decode random codes: z ~ N(0, I) for the AE family (the VAE's prior); for the VQ-VAE, code maps
    sampled from ``prior`` in raster order, or uniform indices without one."""
    g = torch.Generator().manual_seed(seed)
    if isinstance(model, VQVAE):
        h, w = model.ae.sizes[2]
        if prior is not None:
            return model.decode_indices(prior.sample(n, h, w, generator=g))
        idx = torch.randint(0, model.quantizer.num_codes, (n, h, w), generator=g)
        return model.decode_indices(idx)
    if isinstance(model, ConvAutoencoder) and model.bottleneck == "map":
        h, w = model.sizes[2]
        return model.decode(torch.randn(n, config.latent_dim, h, w, generator=g))
    return model.decode(torch.randn(n, config.latent_dim, generator=g))


def evaluate(run_dir: str | Path, data: ImageSet | str | None = None,
             log: Callable[[str], None] = print) -> dict:
    """Score the best checkpoint on the run's test split (or on every image of another ``data`` source);
    writes metrics.json, per_case.csv, plots/ and report.html."""
    from pixelwise.report.latent import image_grid, latent_scatter, write_latent_report

    run_dir = Path(run_dir)
    config, model, split = load_run(run_dir)
    own = data is None or isinstance(data, ImageSet)
    dataset = data if isinstance(data, ImageSet) else load_data(config) if data is None else load_image_set(
        data, config.size, config.cache_dir)
    if tuple(dataset.shape) != tuple(split["shape"]):
        raise PixelwiseError(f"{dataset.name} images are {dataset.shape} but the model was trained on "
                             f"{tuple(split['shape'])}; evaluate on data of the training size.")
    test_idx = split["test"] if own else list(range(len(dataset)))
    source = "test split" if own else dataset.name
    train, test = _tensor(dataset if own else load_data(config), split["train"]), _tensor(dataset, test_idx)
    labels = dataset.labels[test_idx] if dataset.labels is not None else None
    r = reconstruct(model, test)
    mse = r["mse"].numpy()
    metrics: dict = {"model": config.model, "latent_dim": config.latent_dim, "source": source,
                     "n_test": len(test_idx), "test_mse": float(mse.mean()),
                     "test_bce": float(r["bce"].mean())}
    # the PCA baseline with as many components as the code has numbers (capped by the data)
    k = min(int(r["z"].shape[1]), min(train.shape[0], train[0].numel()))
    mean, comps, _ = pca(train.flatten(1).numpy(), k)
    pca_rec = pca_reconstruct(test.flatten(1).numpy(), mean, comps)
    metrics["pca"] = {"components": k, "test_mse": float(((pca_rec - test.flatten(1).numpy()) ** 2).mean())}
    if "kl" in r:
        metrics["test_kl"] = float(r["kl"].mean())
    if config.model == "dae":  # the denoising task itself: corrupted test images in, clean ones as the target
        noisy = corrupt(test, config.corruption, config.noise, torch.Generator().manual_seed(config.seed))
        denoised = reconstruct(model, noisy)["x_hat"]
        metrics["denoising"] = {"corruption": config.corruption, "level": config.noise,
                                "input_mse": float((noisy - test).pow(2).mean()),
                                "output_mse": float((denoised - test).pow(2).mean())}
    prior = _load_run_prior(run_dir, config) if isinstance(model, VQVAE) else None
    if "indices" in r:
        k = model.quantizer.num_codes
        metrics["test_perplexity"] = _perplexity(r["indices"], k)
        metrics["codes_restarted_in_training"] = int(model.quantizer.restarts)
        if prior is not None:  # nats and bits per code of the test code maps, with the two baselines
            test_codes = r["indices"].view(len(test), *model.ae.sizes[2])  # (N, h, w)
            nll = nll_per_code(prior, test_codes)
            metrics["prior"] = {
                "model": "gated PixelCNN", "layers": config.prior_layers, "channels": config.prior_channels,
                "test_nats_per_code": nll, "test_bits_per_code": nll / np.log(2),
                "uniform_bits_per_code": float(np.log2(k)),
                "unigram_bits_per_code": unigram_nll(code_maps(model, train), test_codes, k) / np.log(2)}
    # random vectors into the decoder: how close are the decoded samples to real training images?
    n_rand = 64
    rand = random_decodes(model, config, n_rand, config.seed, prior)
    near = nearest_mse(rand, train[:5000]).numpy()
    own_near = nearest_mse(test[:n_rand], train[:5000]).numpy()
    metrics["random_decodes"] = {"n": n_rand, "nearest_train_mse": float(near.mean()),
                                 "test_images_nearest_train_mse": float(own_near.mean())}
    if isinstance(model, VQVAE):
        metrics["random_decodes"]["codes"] = "PixelCNN prior" if prior is not None else "uniform"
    if prior is not None:
        uniform = random_decodes(model, config, n_rand, config.seed)
        metrics["random_decodes"]["uniform_codes_nearest_train_mse"] = float(
            nearest_mse(uniform, train[:5000]).mean())
    cases = [{"index": int(i), "label": int(labels[j]) if labels is not None else "", "mse": float(mse[j]),
              "bce": float(r["bce"][j])} for j, i in enumerate(test_idx)]
    if labels is not None:
        classes = sorted(set(labels.tolist()))
        metrics["per_class_mse"] = {str(c): float(mse[labels == c].mean()) for c in classes}
    figures = []
    plots = run_dir / "plots"
    # evenly spaced over the test split, so that a label-sorted source shows every class
    n_grid = min(config.grid_size, len(test))
    pick = torch.from_numpy(np.linspace(0, len(test) - 1, n_grid).round().astype(int))
    figures.append(image_grid([test[pick].numpy(), r["x_hat"][pick].numpy()], plots / "reconstructions.png",
                              ["originals", "reconstructions"], f"{config.model}, d = {config.latent_dim}: "
                              f"test MSE {metrics['test_mse']:.4f} (PCA-{k}: "
                              f"{metrics['pca']['test_mse']:.4f})"))
    if prior is not None:
        figures.append(image_grid([rand[:16].numpy(), uniform[:16].numpy()], plots / "random_decodes.png",
                                  ["codes from the PixelCNN prior", "uniform random codes"],
                                  "VQ-VAE samples: code maps from the prior vs uniform codes, decoded"))
    else:
        figures.append(image_grid([rand[:32].numpy()], plots / "random_decodes.png", ["decoded random codes"],
                                  "random vectors into the decoder (N(0, I); uniform indices for the VQ-VAE)"))
    if r["z"].shape[1] >= 1 and not isinstance(model, VQVAE):
        z2, axes = _codes_2d(r["z"].numpy().astype(np.float64))
        figures.append(latent_scatter(z2, labels, plots / "latent.png", f"test codes ({axes})"))
    if config.model == "vae" and len(test) >= 2:
        z = r["z"][[int(pick[0]), int(pick[-1])]]
        steps = torch.linspace(0, 1, 10)[:, None]
        with torch.no_grad():
            line = model.decode(z[0] * (1 - steps) + z[1] * steps)
        figures.append(image_grid([line.numpy()], plots / "interpolation.png", ["mu_a -> mu_b"],
                                  "latent interpolation between two test images"))
    if config.anomaly_class is not None and labels is not None and own:
        metrics["anomaly"] = _anomaly(config, model, dataset, split, mse, labels)
        worst = np.argsort(-mse)[: min(8, len(mse))]
        err_maps = (test[worst] - r["x_hat"][worst]).pow(2).numpy()
        figures.append(image_grid([test[worst].numpy(), r["x_hat"][worst].numpy(), err_maps],
                                  plots / "anomaly_maps.png", ["highest scores", "reconstructions",
                                                               "per-pixel squared error"],
                                  "per-pixel anomaly maps", cmap="magma", vmax=None))
    write_json(run_dir / "metrics.json", metrics)
    write_csv(run_dir / "per_case.csv", cases)
    write_latent_report(run_dir, f"{config.model} autoencoder, d = {config.latent_dim}", metrics, figures)
    msg = (f"{source}: {len(test_idx)} images, MSE per pixel {metrics['test_mse']:.4f} "
           f"(PCA-{k} {metrics['pca']['test_mse']:.4f})")
    if "prior" in metrics:
        p = metrics["prior"]
        msg += (f", prior {p['test_bits_per_code']:.2f} bits per code (unigram {p['unigram_bits_per_code']:.2f}, "
                f"uniform {p['uniform_bits_per_code']:.2f})")
    if "anomaly" in metrics:
        msg += f", anomaly ROC-AUC {metrics['anomaly']['roc_auc']:.3f}"
    log(msg + f"; report {run_dir / 'report.html'}")
    return metrics


def _anomaly(config: LatentConfig, model: nn.Module, data: ImageSet, split: dict, test_mse: np.ndarray,
             labels: np.ndarray) -> dict:
    """Scores = per-image MSE; the threshold is the (1 - fpr) quantile of the validation (normal) scores."""
    val_scores = reconstruct(model, _tensor(data, split["val"]))["mse"].numpy()
    threshold = threshold_from_normals(val_scores, config.false_positive_rate)
    positive = labels == config.anomaly_class
    return {"class": config.anomaly_class, "score": "per-image MSE", "roc_auc": roc_auc(test_mse, positive),
            "target_fpr": config.false_positive_rate, **detection_rates(test_mse, positive, threshold)}


def _load_run_prior(run_dir: Path, config: LatentConfig) -> PixelCNNPrior | None:
    return load_prior(Path(run_dir) / "prior", config.num_codes, prior_config(config))


def sample(run_dir: str | Path, n: int = 64, seed: int = 0, out: str | Path | None = None) -> Path:
    """Decode ``n`` random codes into a PNG grid; returns its path. z ~ N(0, I) (the VAE's prior) for the AE
    family; for the VQ-VAE, code maps drawn from the run's PixelCNN prior in raster order (seeded)."""
    from pixelwise.report.latent import image_grid

    if n < 1:
        raise PixelwiseError(f"n={n} must be >= 1.")
    config, model, _ = load_run(run_dir)
    prior, title = None, f"{config.model}: decoded z ~ N(0, I)"
    if isinstance(model, VQVAE):
        prior = _load_run_prior(run_dir, config)
        if prior is None:
            raise PixelwiseError(f"{run_dir} has no code prior (prior/checkpoints/best.safetensors), and uniform "
                                 "codes decode to noise; train the VQ-VAE again to fit one.")
        title = "vqvae: code maps sampled from the PixelCNN prior, decoded"
    images = random_decodes(model, config, n, seed, prior)
    path = Path(out) if out is not None else Path(run_dir) / "plots" / f"samples_seed{seed}.png"
    return image_grid([images.numpy()], path, [f"{n} samples"], title)


__all__ = ["MODEL_BUILDERS", "LatentConfig", "RunResult", "build_model", "code_maps", "evaluate", "load_run",
           "loss_for", "prior_config", "random_decodes", "run", "sample"]

"""DDPM recipe (``pixelwise diffuse``): images -> a time-conditioned U-Net trained with the epsilon objective
(Ho, Jain and Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020) -> samples and their metrics.

``run(config)`` reads and splits the data and builds the net (nothing is written before that passes), writes the
run folder, trains with :func:`pixelwise.train.fit` (each batch draws t, the noise and the hidden labels from the
loop's generator, so that runs and resumed runs are reproducible; validation is the epsilon MSE on held-out images
with fixed noise), then samples with the ancestral loop of :mod:`pixelwise.diffusion` and scores the samples.

With ``conditional=True`` (labelled data only) the net also sees each image's class, hidden with probability
``label_dropout``, so that one net is both the class-conditional and the unconditional model; samples of a chosen
class are drawn with classifier-free guidance of weight ``guidance`` (Ho and Salimans, "Classifier-Free Diffusion
Guidance", 2022). Without labels to ask for, a conditional run samples unconditionally.

Files: ``config`` (the settings), ``models`` (the net and the losses), ``data`` (images, split, batches,
validation), ``recipe`` (``run``), ``sampling`` (loading a run, ``generate``, grid rows), ``evaluation`` (the
samples' measures, metrics.json, report). Names load on first use, so that the command line reads the config
without torch.
"""

from pixelwise.lazy import lazy_exports

_EXPORTS = {
    "DiffusionConfig": "config", "EpsilonModel": "models", "build_model": "models", "epsilon_mse": "models",
    "weighted_epsilon_mse": "models", "loss_for": "models", "run": "recipe", "load_run": "sampling",
    "generate": "sampling", "grid_rows": "sampling", "evaluate": "evaluation", "sample_cases": "evaluation",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)

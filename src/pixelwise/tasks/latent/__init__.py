"""Latent models recipe (``pixelwise latent``): images -> an autoencoder of the family or a GAN -> honest test
errors, baselines, grids, code plots, samples and (when a class is held out) anomaly detection.

``run(config)`` loads and splits the data (nothing is written before that passes), trains with
:func:`pixelwise.train.fit`, then ``evaluate`` scores the best checkpoint on the test split: per-image MSE/BCE with
their bootstrap aggregate, PCA with the same number of components fitted on the training images as a baseline,
the "random vectors into the decoder" check, and ROC-AUC of reconstruction-error anomaly scores with a threshold
chosen on validation data. ``evaluate`` and ``sample`` work from a run folder alone.

The VQ-VAE has a second stage, as in the paper (van den Oord et al. 2017): a gated PixelCNN prior fitted on the
code maps of the training images in ``RUN/prior`` (``prior``); ``sample`` draws code maps from it in raster order
and decodes them. ``minutes`` is the budget of the whole run: the VQ-VAE gets (1 - prior_share) of it and the
prior the rest; without ``minutes`` the prior trains for ``prior_epochs`` epochs. GANs (``gan_training``) train a
digit classifier first, in ``RUN/classifier``, that judges their samples.

Files: ``config`` (the settings), ``models`` (the name -> model table, objectives, loop settings), ``adversarial``
(the GAN objective), ``data`` (images, split, batches), ``recipe`` (``run``), ``prior`` (the VQ-VAE's prior),
``gan_training`` (the GAN run and its judge), ``stages`` (resuming a run killed in its first stage), ``inference``
(loading a run), ``evaluation``, ``gan_evaluation`` and ``figures`` (scores and report), ``sampling`` (samples).
Names load on first use, so that the command line reads the config without torch.
"""

from pixelwise.lazy import lazy_exports

_EXPORTS = {
    "LatentConfig": "config", "GAN_MODELS": "config", "is_gan": "config",
    "MODELS": "models", "build_model": "models", "loss_for": "models", "loop_settings": "models",
    "AdversarialObjective": "adversarial", "train_batches": "adversarial", "generate": "adversarial",
    "coverage_score": "adversarial", "objective_value": "adversarial",
    "load_data": "data", "make_split": "data",
    "run": "recipe", "run_gan": "gan_training",
    "PriorConfig": "prior", "build_prior": "prior", "code_maps": "prior", "load_prior": "prior",
    "nll_per_code": "prior", "nll_per_map": "prior", "prior_config": "prior", "train_prior": "prior",
    "unigram_nll": "prior",
    "load_run": "inference", "load_judge": "inference", "perplexity": "inference", "reconstruct": "inference",
    "evaluate": "evaluation", "evaluate_gan": "gan_evaluation",
    "random_decodes": "sampling", "sample": "sampling",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)

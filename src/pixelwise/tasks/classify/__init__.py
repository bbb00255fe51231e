"""Digit classification (``pixelwise classify``): labelled grey images -> a trained, evaluated classifier, which
can be trained with DP-SGD, by federated averaging, or adversarially; and the digit judge of the latent models.

Files: ``config`` (the settings of ``classify train``), ``recipe`` (``run``), ``evaluation`` (``load_run``,
``evaluate``: accuracy, per-class accuracy, confusion matrix, report), ``judge`` (the classifier that judges
generated digits for the GANs and diffusion models: ``train_classifier``, ``mode_coverage``, outlier exposure).
Names load on first use, so that the command line reads the config without torch.
"""

from pixelwise.lazy import lazy_exports

_JUDGE = ("NON_DIGIT_KINDS", "ClassifierConfig", "class_probabilities", "classifier_split", "jitter",
          "mode_coverage", "non_digits", "outlier_exposure_loss", "scribbles", "train_classifier")
_EXPORTS = {**{name: "judge" for name in _JUDGE}, "ClassifyConfig": "config", "run": "recipe",
            "evaluate": "evaluation", "load_run": "evaluation", "load_cases": "evaluation"}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)

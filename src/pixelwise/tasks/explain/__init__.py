"""Explanations of a trained run (``pixelwise explain``): attribution maps of chosen images (vanilla gradient,
SmoothGrad, gradient x input, guided backpropagation, occlusion) of a class, or of the mean logit of a region
(the predicted polyp, a box, a mask file), the first layer's filters and activation maximisation; overlays beside
each image and its prediction, the raw maps as .npy, and a report page.

Files: ``config`` (the settings), ``targets`` (what is explained in each image), ``recipe`` (``run``),
``figures`` (overlays, filters). Names load on first use."""

from pixelwise.lazy import lazy_exports

_EXPORTS = {"ExplainConfig": "config", "run": "recipe", "EXTRA_METHODS": "config", "heads_for": "targets"}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)

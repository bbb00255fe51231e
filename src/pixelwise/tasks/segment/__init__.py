"""Segmentation recipe (``pixelwise segment``): a folder of images and masks -> a trained, honestly evaluated model.

``run(config)`` validates and decodes the data (nothing is written before that passes), writes the run folder,
trains with :func:`pixelwise.train.fit`, then evaluates the best checkpoint on the test split at each image's
original size. ``evaluate`` and ``predict`` work from a run folder alone (or with the model a run was trained
with, for a model given from Python).

Files: ``config`` (the settings), ``models`` (the name -> model table, losses), ``data`` (split, batches,
validation), ``recipe`` (``run``), ``inference`` (loading a run, test-time augmentation, masks at each image's
size), ``evaluation`` (metrics, galleries, report), ``scoring`` (the per-case metrics, aggregates, size breakdown
and report that ``eval`` and ``baseline`` share), ``baseline_config`` / ``baseline`` / ``classical`` / ``atlas``
(``segment baseline``: classical methods and multi-atlas segmentation scored the same way), ``transfer``
(``--init``, ``--freeze-encoder``, label fractions). Names load on first use, so that the command line reads the
config without torch.
"""

from pixelwise.lazy import lazy_exports

_EXPORTS = {
    "SegmentationConfig": "config", "MODELS": "models", "ValidPadded": "models", "build_model": "models",
    "loss_for": "models", "run": "recipe", "evaluate": "evaluation", "TIERS": "evaluation", "load_run": "inference",
    "predict": "inference", "predict_arrays": "inference", "tta_logits": "inference", "TTA_MODES": "inference",
    "BaselineConfig": "baseline_config", "run_baseline": "baseline", "score_case": "scoring",
    "segment_image": "classical", "atlas_segment": "atlas",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)

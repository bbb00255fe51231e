"""Adversarial attacks on a trained run (``pixelwise attack``): FGSM or PGD at several radii on its test cases, the
robustness curve (the run's metric against epsilon, the clean metric at 0), examples and a report.

Files: ``config`` (the settings), ``recipe`` (``run``). Names load on first use."""

from pixelwise.lazy import lazy_exports

_EXPORTS = {"AttackConfig": "config", "run": "recipe"}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)

"""Adversarial examples: L-infinity FGSM and PGD on any differentiable network (:mod:`pixelwise.attacks.linf`)."""

from pixelwise.attacks.linf import fgsm, pgd, project_linf

__all__ = ["fgsm", "pgd", "project_linf"]

"""``pixelwise attack --run RUN --method fgsm|pgd --epsilon ...``: adversarial examples and a robustness curve."""

from __future__ import annotations

import argparse

from pixelwise.cli.options import add_run_analysis, run_analysis


def add_parser(subparsers) -> None:
    from pixelwise.tasks.attack.config import AttackConfig

    add_run_analysis(subparsers, "attack", AttackConfig, "FGSM and PGD adversarial examples and the robustness curve "
                     "of a run", "Attack a segment, classify or restore run with L-infinity FGSM or PGD at each "
                     "--epsilon on its test split (or --data), and write the robustness curve (the run's metric "
                     "against epsilon, the clean metric at 0), examples, metrics.json, per_case.csv and report.html "
                     "to RUN/evaluations/attack-METHOD (or --out).", "attack", cmd_attack)


def cmd_attack(args: argparse.Namespace) -> int:
    from pixelwise.tasks.attack import AttackConfig, run

    return run_analysis(args, AttackConfig, run, "attack")

"""``pixelwise attack --run RUN --method fgsm|pgd --epsilon ...``: adversarial examples and a robustness curve."""

from __future__ import annotations

import argparse

from pixelwise.cli.options import add_config_options, add_quiet, config_from_args, logger, settings_of


def add_parser(subparsers) -> None:
    from pixelwise.tasks.attack.config import AttackConfig

    p = subparsers.add_parser("attack", help="FGSM and PGD adversarial examples and the robustness curve of a run",
                              description="Attack a segment, classify or restore run with L-infinity FGSM or PGD "
                              "at each --epsilon on its test split (or --data), and write the robustness curve "
                              "(the run's metric against epsilon, the clean metric at 0), examples, metrics.json, "
                              "per_case.csv and report.html to RUN/evaluations/attack-METHOD (or --out).")
    add_config_options(p, AttackConfig, required=("run",))
    p.add_argument("--config", default=None, metavar="FILE", help="settings from a TOML file or an earlier attack's "
                   "config.json; options given here win")
    add_quiet(p)
    p.set_defaults(func=cmd_attack, _settings=settings_of(AttackConfig))


def cmd_attack(args: argparse.Namespace) -> int:
    from pixelwise.cli.options import check_required
    from pixelwise.cli.types import check_output
    from pixelwise.tasks.attack import AttackConfig, run

    config = config_from_args(AttackConfig, args)
    check_required(config, ("run",), "attack")
    if config.out is not None:
        check_output(config.out, folder=True)
    run(config, progress=not args.quiet, log=logger(args.quiet))
    return 0

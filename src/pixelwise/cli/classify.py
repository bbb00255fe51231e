"""``pixelwise classify train | eval``: a digit classifier, trained centrally, with DP-SGD, by federated averaging
or adversarially."""

from __future__ import annotations

import argparse

from pixelwise.cli.options import add_config_options, add_eval_options, add_run_flags, evaluation_out, run_training


def add_parser(subparsers) -> None:
    from pixelwise.tasks.classify.config import ClassifyConfig

    p = subparsers.add_parser("classify", help="train and evaluate digit classifiers (also with DP-SGD or FedAvg)",
                              description="Classification of labelled grey images (digits).")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))
    t = sub.add_parser("train", help="train a classifier and evaluate it on a held-out test split",
                       description="Train a digit classifier and evaluate it on the test split; --dp-clip with "
                       "--dp-noise or --dp-epsilon trains it with DP-SGD, --clients K by federated averaging, "
                       "--adversarial on adversarial examples. Every setting can also come from --config (TOML, or a "
                       "run's config.json); options given here win.")
    add_config_options(t, ClassifyConfig)
    add_run_flags(t, ClassifyConfig)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate a run (its test split, or every image of --data)",
                       description="Score a run's checkpoint. The run's test split with the best checkpoint rewrites "
                       "the run's results; other data or the last checkpoint go to RUN/evaluations/NAME (or --out).")
    add_eval_options(e, "other labelled images of the same shape (e.g. mnist-test, an .npz, a folder)")
    e.set_defaults(func=cmd_eval)


def cmd_train(args: argparse.Namespace) -> int:
    from pixelwise.tasks.classify import ClassifyConfig, run

    return run_training(ClassifyConfig, run, args)


def cmd_eval(args: argparse.Namespace) -> int:
    from pixelwise.tasks.classify import evaluate

    evaluate(args.run, args.data, which=args.which, name=args.name, out=evaluation_out(args),
             progress=not args.quiet)
    return 0

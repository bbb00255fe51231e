"""``pixelwise invert --run RUN``: recover training images from one shared gradient."""

from __future__ import annotations

import argparse

from pixelwise.cli.options import add_run_analysis, run_analysis


def add_parser(subparsers) -> None:
    from pixelwise.tasks.invert.config import InvertConfig

    add_run_analysis(subparsers, "invert", InvertConfig, "recover training images from one shared gradient "
                     "(gradient inversion)", "Gradient inversion (Zhu et al. 2019; Geiping et al. 2020) against a "
                     "segment or classify run: recover a --batch of its training images from the gradient a "
                     "federated client would share (plain, or DP-SGD's), report PSNR/SSIM, and write figures and "
                     "report.html to RUN/evaluations/invert-bB (or --out).", "inversion", cmd_invert)


def cmd_invert(args: argparse.Namespace) -> int:
    from pixelwise.tasks.invert import InvertConfig, run

    return run_analysis(args, InvertConfig, run, "invert")

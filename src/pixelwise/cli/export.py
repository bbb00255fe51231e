"""``pixelwise export``: a trained network as an ONNX graph."""

from __future__ import annotations

import argparse

from pixelwise.cli.options import add_quiet, add_which


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("export", help="write a segmentation or restoration network as an ONNX graph",
                              description="Trace a run's network to ONNX (torch.onnx.export, opset 17 unless "
                              "--opset), with a free batch axis, free height and width where the network allows, "
                              "and its run's normalisation inside; the graph is checked in onnxruntime before it is "
                              "written. Needs the [onnx] extra.")
    p.add_argument("--run", required=True, help="run folder of `pixelwise segment train` or `pixelwise restore train`")
    p.add_argument("--format", default="onnx", choices=("onnx",), help="file format (default onnx)")
    p.add_argument("--out", default=None, help="the file to write (default RUN/exports/WHICH.onnx)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset version (default 17)")
    add_which(p)
    add_quiet(p)
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from pixelwise.tasks.export import OPSET, export_run

    export_run(args.run, args.out, args.format, args.which, args.opset if args.opset is not None else OPSET,
               log=print)
    return 0

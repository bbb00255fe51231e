"""``pixelwise arch rf | shape | summary | conv-matrix | erf``: reason about a network before training it.

A network is either a pixelwise model name (unet, vit, fcn; constructor options with ``--set key=value``)
or a chain in the layer language, e.g. ``"conv k=5 s=2; conv k=3; conv k=5 d=2"`` (kinds conv, pool,
tconv; keys k, s, p, d, op; ``k=3x5`` for 2D).

Importing this module loads neither torch nor the maths (``pixelwise arch --help`` stays fast): each
command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from pixelwise.cli.types import check_output, seed
from pixelwise.errors import PixelwiseError

if TYPE_CHECKING:
    import torch

DEFAULT_INPUT = "1,3,256,256"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("arch", help="receptive fields, output sizes, summaries, convolution matrices",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))

    def network_args(q, default_input: str | None):
        q.add_argument("network", metavar="MODEL_OR_LAYERS",
                       help='unet, vit or fcn, or a layer chain such as "conv k=5 s=2; conv k=3"')
        q.add_argument("--input", default=default_input,
                       help=f"input shape N,C,H,W for a model (default {DEFAULT_INPUT}); a size such as 572 "
                            "or 64,48 for a chain")
        q.add_argument("--set", dest="options", action="append", default=[], metavar="KEY=VALUE",
                       help="model constructor option, e.g. --set depth=2 --set padding=valid (repeatable)")

    r = sub.add_parser("rf", help="receptive field, jump and centre offset of every layer")
    network_args(r, None)
    r.add_argument("--pixel", default=None, help="output pixel i,j for the exact support (default: centre)")
    r.set_defaults(func=cmd_rf)

    s = sub.add_parser("shape", help="output shape of every layer, and the input sizes that fit")
    network_args(s, None)
    s.add_argument("--valid-sizes", type=int, default=None, metavar="MAX",
                   help="also list the input sizes up to MAX that the network accepts")
    s.add_argument("--exact", action="store_true",
                   help="chains: only sizes where no strided layer drops pixels")
    s.set_defaults(func=cmd_shape)

    m = sub.add_parser("summary", help="table of layers: shape, parameters, multiply-adds, receptive field")
    m.add_argument("model", help="unet, vit or fcn")
    m.add_argument("--input", default=DEFAULT_INPUT, help=f"input shape N,C,H,W (default {DEFAULT_INPUT})")
    m.add_argument("--set", dest="options", action="append", default=[], metavar="KEY=VALUE",
                   help="model constructor option (repeatable)")
    m.set_defaults(func=cmd_summary)

    c = sub.add_parser("conv-matrix", help="the matrix M of a single-channel 2D convolution (small sizes)")
    c.add_argument("--kernel", required=True, help='kernel rows separated by ";", e.g. "1,2,3;2,3,4;3,4,5"')
    c.add_argument("--input", required=True, help="input size H,W of the convolution, e.g. 4,4")
    c.add_argument("--stride", type=int, default=1)
    c.add_argument("--padding", type=int, default=0)
    c.add_argument("--dilation", type=int, default=1)
    c.add_argument("--apply", default=None, metavar="MATRIX", help="also print conv(x) = M vec(x) for this x")
    c.add_argument("--apply-transpose", default=None, metavar="MATRIX",
                   help="also print the transposed convolution M^T vec(y) of this y (the output size)")
    c.set_defaults(func=cmd_conv_matrix)

    e = sub.add_parser("erf", help="plot the effective receptive field of a model as a PNG")
    e.add_argument("model", help="unet, vit or fcn")
    e.add_argument("--out", required=True, help="PNG file to write")
    e.add_argument("--input", default="1,3,64,64", help="input shape N,C,H,W (default 1,3,64,64)")
    e.add_argument("--set", dest="options", action="append", default=[], metavar="KEY=VALUE")
    e.add_argument("--weights", default=None, help="safetensors weights (default: the random initialisation)")
    e.add_argument("--samples", type=int, default=8, help="random inputs to average over (default 8)")
    e.add_argument("--seed", type=seed, default=0)
    e.set_defaults(func=cmd_erf)
    for q in (r, s, m, c, e):  # every command takes --quiet; these print their results and show no progress
        q.add_argument("--quiet", action="store_true", help="accepted as by every command (arch shows no progress)")


# ---------------------------------------------------------------------------------------------------
# Parsing helpers: every error names the bad token
# ---------------------------------------------------------------------------------------------------

def _ints(text: str, what: str) -> tuple[int, ...]:
    tokens = [t for t in text.replace("x", ",").split(",")]
    try:
        values = tuple(int(t) for t in tokens)
    except ValueError:
        bad = next(t for t in tokens if not t.strip().lstrip("-").isdigit())
        raise PixelwiseError(f"bad token {bad!r} in {what} {text!r}: use integers separated by "
                             "commas.") from None
    if any(v < 1 for v in values):
        raise PixelwiseError(f"{what} {text!r} must hold positive integers.")
    return values


def _matrix(text: str, what: str) -> torch.Tensor:
    import torch

    rows = []
    for row in text.split(";"):
        tokens = [t.strip() for t in row.split(",")]
        try:
            rows.append([float(t) for t in tokens])
        except ValueError:
            bad = next(t for t in tokens if not _is_number(t))
            raise PixelwiseError(f"bad token {bad!r} in {what} {text!r}: write numbers, commas between "
                                 'columns and ";" between rows.') from None
    if len({len(r) for r in rows}) != 1:
        raise PixelwiseError(f"{what} {text!r} has rows of different lengths {[len(r) for r in rows]}.")
    return torch.tensor(rows, dtype=torch.float64)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if "," in text:
        return tuple(_value(t) for t in text.split(",") if t)
    return text


def _options(items: list[str]) -> dict:
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise PixelwiseError(f"bad option {item!r}: write --set key=value, e.g. --set depth=2.")
        options[key] = _value(value)
    return options


def _is_model(name: str) -> bool:
    from pixelwise.models import SEGMENTATION_MODELS

    return name in SEGMENTATION_MODELS


def _model(name: str, input_shape: tuple[int, ...], options: dict):
    from pixelwise.models import SEGMENTATION_MODELS, segmentation_model_class

    try:
        cls = segmentation_model_class(name)
    except ValueError as err:
        raise PixelwiseError(str(err)) from None
    kwargs = {"in_channels": input_shape[1], **options}
    if cls is SEGMENTATION_MODELS["vit"] and "image_size" not in options:
        patch = options.get("patch_size", 16)
        kwargs["image_size"] = max(patch, input_shape[2] - input_shape[2] % patch)
    try:
        return cls(**kwargs)
    except TypeError as err:
        if "keyword argument" in str(err):
            raise PixelwiseError(f"{name} does not take these options ({err}); check the --set names.") from None
        given = ", ".join(f"{k}={v!r}" for k, v in options.items())
        raise PixelwiseError(f"{name} cannot be built with --set {given} ({err}); give numbers where numbers are "
                             "expected, e.g. --set depth=2.") from None
    except ValueError as err:
        raise PixelwiseError(str(err)) from None


def _input_shape(text: str) -> tuple[int, ...]:
    shape = _ints(text, "--input")
    if len(shape) < 3:
        raise PixelwiseError(f"--input {text!r} must be N,C,H,W (or N,C,L for 1D), e.g. {DEFAULT_INPUT}.")
    return shape


def _fmt(x) -> str:
    from pixelwise.arch.layers import format_fraction

    return format_fraction(x)


def _axes(values) -> str:
    values = [_fmt(v) for v in values]
    return values[0] if len(set(values)) == 1 else "x".join(values)


def _table(rows: list[tuple]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------------

def cmd_rf(args: argparse.Namespace) -> int:
    from pixelwise.arch import chain_output_sizes, chain_receptive_fields, parse_layers

    if _is_model(args.network):
        return _rf_model(args)
    layers = parse_layers(args.network)
    rows = chain_receptive_fields(layers)
    sizes = chain_output_sizes(layers, _ints(args.input, "--input")) if args.input else None
    table = [("#", "layer", "RF", "jump", "centre", "left") + (("output",) if sizes else ())]
    for row in rows:
        table.append((row.index + 1, row.layer.describe(), _axes(a.size for a in row.rf),
                      _axes(a.jump for a in row.rf), _axes(a.centre for a in row.rf),
                      _axes(a.left for a in row.rf)) + ((_axes(sizes[row.index]),) if sizes else ()))
    print(_table(table))
    last = rows[-1].rf
    print(f"\nreceptive field: {_axes(a.size for a in last)} input pixels, jump "
          f"{_axes(a.jump for a in last)}; output o sees input pixels from left + o*jump "
          "to left + o*jump + RF - 1 (Araujo et al. 2019).")
    if any(layer.kind == "tconv" for layer in layers):
        print("after a tconv the RF is the hull over the output phases (an upper bound per pixel).")
    return 0


def _rf_model(args: argparse.Namespace) -> int:
    from pixelwise.arch import Global, Spatial, exact_extent, format_state, pixel_support, trace
    from pixelwise.arch.support import support_period

    shape = _input_shape(args.input or DEFAULT_INPUT)
    model = _model(args.network, shape, _options(args.options))
    graph = trace(model, shape)
    table = [("layer", "kind", "output shape", "receptive field")]
    for node in graph.nodes[1:]:
        if node.kind in ("conv", "tconv", "pool", "merge", "attention", "interpolate", "unknown", "global"):
            table.append((node.name, node.kind, "x".join(map(str, node.out_shape)), format_state(node.state)))
    print(_table(table))
    state = graph.output_state
    print(f"\noutput receptive field: {format_state(state)}")
    if isinstance(state, Global):
        print("every output pixel depends on every input pixel: a global receptive field.")
    if graph.unknown:
        print("no receptive-field rule for: " + ", ".join(n.name for n in graph.unknown))
        return 0
    out = graph.nodes[graph.output].out_shape[2:]
    pixel = _ints(args.pixel, "--pixel") if args.pixel else tuple(s // 2 for s in out)
    support = pixel_support(graph, pixel)
    box = exact_extent(support)
    sizes = "x".join(str(b - a + 1) for a, b in box)
    print(f"exact support of output pixel {tuple(pixel)}: {int(support.sum())} input pixels in a {sizes} box "
          f"{' x '.join(f'[{a}, {b}]' for a, b in box)} (clipped to the input)")
    if isinstance(state, Spatial):
        print("centre of its analytic receptive field: " + ", ".join(
            _fmt(a.left + p * a.jump + (a.size - 1) / 2) for a, p in zip(state.axes, pixel)))
        period = support_period(graph)
        if period > 1:  # upsampling: the exact size depends on the pixel's phase
            extents = set()
            for k in range(period):
                shifted = tuple(min(p + k, s - 1) for p, s in zip(pixel, out))
                extents.add(tuple(b - a + 1 for a, b in exact_extent(pixel_support(graph, shifted))))
            lo, hi = min(extents), max(extents)
            print(f"exact extent over {period} consecutive output pixels: {'x'.join(map(str, lo))} to "
                  f"{'x'.join(map(str, hi))} (the analytic value is the hull over these phases)")
    return 0


def cmd_shape(args: argparse.Namespace) -> int:
    from pixelwise.arch import chain_output_sizes, chain_valid_input_sizes, parse_layers, plan_shapes

    if args.valid_sizes is not None and args.valid_sizes < 1:
        raise PixelwiseError(f"--valid-sizes {args.valid_sizes} must be >= 1.")
    if _is_model(args.network):
        shape = _input_shape(args.input or DEFAULT_INPUT)
        options = _options(args.options)
        if args.valid_sizes:
            _print_valid_model_sizes(args.network, shape, options, args.valid_sizes)
        model = _model(args.network, shape, options)
        plan = plan_shapes(model, shape)
        print(_table([("layer", "kind", "output shape")]
                     + [(name, kind, "x".join(map(str, s))) for name, kind, s in plan]))
        print(f"\n{'x'.join(map(str, shape))} -> {'x'.join(map(str, plan[-1][2]))}")
        return 0
    layers = parse_layers(args.network)
    if args.input:
        sizes = chain_output_sizes(layers, _ints(args.input, "--input"))
        rows = [(i + 1, layer.describe(), _axes(s)) for i, (layer, s) in enumerate(zip(layers, sizes))]
        print(_table([("#", "layer", "output size"), *rows]))
    if args.valid_sizes:
        valid = chain_valid_input_sizes(layers, args.valid_sizes, exact=args.exact)
        kind = "exact " if args.exact else ""
        print(f"{kind}valid input sizes up to {args.valid_sizes}: " + (", ".join(map(str, valid)) or "none"))
    if not args.input and not args.valid_sizes:
        raise PixelwiseError("give --input SIZE (e.g. 572) or --valid-sizes MAX for a layer chain.")
    return 0


def _print_valid_model_sizes(name: str, shape, options: dict, max_size: int) -> None:
    from pixelwise.arch import accepted_input_sizes
    from pixelwise.models import valid_input_sizes, valid_output_size

    if name == "unet" and options.get("padding") == "valid":
        depth = options.get("depth", 4)
        sizes = valid_input_sizes(depth, max_size)
        pairs = ", ".join(f"{s}->{valid_output_size(s, depth)}" for s in sizes)
    else:
        model = _model(name, shape, options)
        found = accepted_input_sizes(model, range(1, max_size + 1), shape[1], ndim=len(shape) - 2)
        pairs = ", ".join(f"{s}->{out[2]}" for s, out in found.items())
    print(f"accepted square input sizes up to {max_size} (input->output): {pairs or 'none'}\n")


def cmd_summary(args: argparse.Namespace) -> int:
    from pixelwise.arch import format_summary, summarize

    shape = _input_shape(args.input)
    model = _model(args.model, shape, _options(args.options))
    print(format_summary(summarize(model, shape)))
    return 0


def cmd_conv_matrix(args: argparse.Namespace) -> int:
    import torch
    from torch import nn

    from pixelwise.arch import conv_matrix

    kernel = _matrix(args.kernel, "--kernel")
    size = _ints(args.input, "--input")
    if len(size) != 2:
        raise PixelwiseError(f"--input {args.input!r} must be the input size H,W, e.g. 4,4.")
    conv = nn.Conv2d(1, 1, tuple(kernel.shape), stride=args.stride, padding=args.padding,
                     dilation=args.dilation, bias=False).double()
    with torch.no_grad():
        conv.weight.copy_(kernel[None, None])
    m = conv_matrix(conv, size)
    out_size = conv(torch.zeros(1, 1, *size, dtype=torch.float64)).shape[-2:]
    print(f"M: {m.shape[0]} x {m.shape[1]} (output {out_size[0]}x{out_size[1]} by input {size[0]}x{size[1]}, "
          "row-major vec)")
    print(_format_matrix(m))
    if args.apply:
        x = _matrix(args.apply, "--apply")
        if tuple(x.shape) != size:
            raise PixelwiseError(f"--apply has shape {tuple(x.shape)} but --input is {size}.")
        print("\nconv(x) = M vec(x):")
        print(_format_matrix((m @ x.reshape(-1)).reshape(out_size)))
    if args.apply_transpose:
        y = _matrix(args.apply_transpose, "--apply-transpose")
        if tuple(y.shape) != tuple(out_size):
            raise PixelwiseError(f"--apply-transpose has shape {tuple(y.shape)} but the output is "
                                 f"{tuple(out_size)}.")
        print("\ntransposed convolution M^T vec(y):")
        print(_format_matrix((m.T @ y.reshape(-1)).reshape(size)))
    return 0


def _format_matrix(m: torch.Tensor) -> str:
    cells = [[f"{v:g}" for v in row.tolist()] for row in m]
    width = max(len(c) for row in cells for c in row)
    return "\n".join(" ".join(c.rjust(width) for c in row) for row in cells)


def cmd_erf(args: argparse.Namespace) -> int:
    import torch

    from pixelwise.report.arch import plot_effective_receptive_field

    shape = _input_shape(args.input)
    if len(shape) != 4:
        raise PixelwiseError(f"--input {args.input!r} must be N,C,H,W for the 2D plot.")
    if args.samples < 1:
        raise PixelwiseError(f"--samples {args.samples} must be >= 1.")
    check_output(args.out, folder=False)
    model = _model(args.model, shape, _options(args.options))
    if args.weights:
        from pixelwise.train.checkpoint import load_weights

        load_weights(model, args.weights)
    generator = torch.Generator().manual_seed(args.seed)
    path = plot_effective_receptive_field(model, shape, args.out, n_samples=args.samples, generator=generator)
    print(f"wrote {path}")
    return 0

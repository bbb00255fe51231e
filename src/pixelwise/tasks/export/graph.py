"""``export_run``: a run's network as an ONNX graph (``torch.onnx.export``, opset :data:`OPSET`), run in
onnxruntime against the network before it is written.

The graph's batch axis is always free. Its height and width are free where the network allows (convolutional
networks: any size a multiple of 2^depth, the sizes at which the U-Net pads nothing, since the exporter traces
its padding as constants); a ViT (learned positions for one grid) and a valid-padding U-Net (a size planner in
Python) take the run's size only. A free size is checked in onnxruntime at a second, non-square size; where the
graph disagrees there, it is exported again with its size fixed and says so.

Needs the ``[onnx]`` extra (onnx, onnxruntime): ``pip install 'pixelwise[onnx]'``.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from pixelwise.errors import PixelwiseError
from pixelwise.tasks.export.networks import Exportable, network_of
from pixelwise.train.files import atomic_write

OPSET = 17  # onnxruntime 1.14 and later run every operator the networks here need at this opset
FORMATS = ("onnx",)
TOLERANCE = 1e-4  # the largest difference between onnxruntime and torch accepted, relative to the output's scale


def export_run(run_dir: str | Path, out: str | Path | None = None, format: str = "onnx", which: str = "best",
               opset: int = OPSET, log: Callable[[str], None] = print) -> Path:
    """Write the network of a segmentation or restoration run (``which`` checkpoint) to ``out`` (default
    ``RUN/exports/WHICH.onnx``) and return the path. The graph is traced and checked in a temporary folder;
    nothing is written unless it agrees with the network in onnxruntime."""
    if format not in FORMATS:
        raise PixelwiseError(f"format={format!r} is not known; use one of {', '.join(FORMATS)}.")
    if not 7 <= opset <= 21:
        raise PixelwiseError(f"opset={opset} is out of the range exported here, 7 to 21; e.g. {OPSET}.")
    onnx, ort = _modules()
    net = network_of(run_dir, which)
    out = Path(out) if out is not None else Path(run_dir) / "exports" / f"{which}.onnx"
    _check_out(out)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "graph.onnx"
        multiple, error = _trace_and_check(net, path, opset, ort)
        model = onnx.load(str(path))
        _describe(onnx, model, net, multiple, opset, which, run_dir)
        onnx.save(model, str(path))
        atomic_write(out, lambda target: shutil.copyfile(path, target))
    sizes = ("any height and width" if multiple == 1 else f"height and width multiples of {multiple}"
             if multiple else f"{net.example.shape[-2]}x{net.example.shape[-1]} only")
    log(f"exported {Path(run_dir).name}'s {which} network to {out} (ONNX opset {opset}; input {net.input}; "
        f"{sizes}; onnxruntime agrees with torch to {error:.1e})")
    return out


def _modules():
    try:
        import onnx
        import onnxruntime
    except ImportError as err:
        raise PixelwiseError(f"export to ONNX needs the onnx and onnxruntime packages ({err.name} is missing); "
                             "install them with pip install 'pixelwise[onnx]'.") from None
    return onnx, onnxruntime


def _check_out(out: Path) -> None:
    if out.is_dir():
        raise PixelwiseError(f"--out {out} is a folder; give a file name such as {out / 'model.onnx'}.")
    if out.suffix.lower() != ".onnx":
        raise PixelwiseError(f"--out {out} does not end in .onnx; give a file name such as {out.with_suffix('.onnx')}.")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise PixelwiseError(f"--out {out} cannot be created: {parent} is a file; choose another --out.")


def _trace_and_check(net: Exportable, path: Path, opset: int, ort) -> tuple[int | None, float]:
    """Export with free height and width where the network allows, check at the example's size and at another;
    fall back to the example's size where the free one disagrees. Returns (multiple or None, the error)."""
    multiple = net.multiple
    _trace(net, path, opset, free=multiple is not None)
    error = _difference(net, path, ort, net.example)
    if multiple is not None:
        h, w = net.example.shape[-2:]
        other = torch.rand(2, net.example.shape[1], h + multiple * max(1, 8 // multiple), w + 2 * multiple)
        try:
            error = max(error, _difference(net, path, ort, other))
        except PixelwiseError:
            multiple = None
            _trace(net, path, opset, free=False)
            error = _difference(net, path, ort, net.example)
    return multiple, error


def _trace(net: Exportable, path: Path, opset: int, free: bool) -> None:
    axes = {0: "batch", 2: "height", 3: "width"} if free else {0: "batch"}
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # the transformer's fused kernel has no ONNX form
    try:
        with warnings.catch_warnings(), torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # the tracer's notes on Python numbers in the graph
            torch.onnx.export(net.module, (net.example,), str(path), dynamo=False, input_names=["image"],
                              output_names=["output"], dynamic_axes={"image": axes, "output": axes},
                              opset_version=opset)
    except Exception as err:  # noqa: BLE001 (the tracer and the ONNX converter raise many kinds)
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise PixelwiseError(f"the network cannot be traced to ONNX ({type(err).__name__}: {reason}); export it "
                             "with torch.onnx.export yourself, or train another --model.") from None
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)


def _difference(net: Exportable, path: Path, ort, x: torch.Tensor) -> float:
    """The largest difference between onnxruntime and torch on ``x``, relative to the output's largest value;
    a disagreement beyond :data:`TOLERANCE` (or a failure to run) is a PixelwiseError."""
    options = ort.SessionOptions()
    options.log_severity_level = 4  # a failure is reported here, in one sentence, not in onnxruntime's log
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = net.module(x).float().numpy()
    try:
        got = session.run(None, {"image": x.numpy()})[0]
    except Exception as err:  # noqa: BLE001 (onnxruntime's own error types)
        raise PixelwiseError(f"onnxruntime cannot run the graph at {tuple(x.shape)} ({str(err)[:160]}).") from None
    if got.shape != expected.shape:
        raise PixelwiseError(f"the graph answers {got.shape} at {tuple(x.shape)}, the network {expected.shape}.")
    error = float(np.abs(got - expected).max() / max(1.0, float(np.abs(expected).max())))
    if not error <= TOLERANCE:
        raise PixelwiseError(f"the graph disagrees with the network by {error:.1e} at {tuple(x.shape)}.")
    return error


def _describe(onnx, model, net: Exportable, multiple: int | None, opset: int, which: str, run_dir) -> None:
    """The graph's metadata: what to feed it, what it answers, its sizes, and the run's settings."""
    from pixelwise import __version__

    sizes = "any" if multiple == 1 else f"multiples of {multiple}" if multiple else \
        f"{net.example.shape[-2]}x{net.example.shape[-1]}"
    props = {"input": net.input, "output": net.output, "height_width": sizes, "opset": str(opset),
             "checkpoint": which, "run": str(Path(run_dir).resolve()), "producer": f"pixelwise {__version__}",
             "settings": json.dumps(net.settings, default=str)}
    onnx.helper.set_model_props(model, props)
    model.producer_name, model.doc_string = "pixelwise", f"{net.input} -> {net.output}"

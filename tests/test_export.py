"""``pixelwise export``: the ONNX graph of a run, run in onnxruntime (the oracle), answers what the network answers
to 1e-4, at the run's size and at other sizes and batches where the graph says they are free; networks that
cannot be traced and runs of other commands are refused in one sentence, nothing written."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pixelwise.cli import main
from pixelwise.physics.presets import Measurement
from pixelwise.tasks.restore import RestorationConfig
from pixelwise.tasks.restore.models import build_model as build_restorer
from pixelwise.tasks.segment import SegmentationConfig, build_model
from pixelwise.tasks.segment.data import normalise
from pixelwise.train.checkpoint import save_weights
from pixelwise.train.files import write_json
from pixelwise.train.runs import config_dict

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.usefixtures("one_thread")


def _perturbed(net: torch.nn.Module) -> torch.nn.Module:
    """Every weight and batch-norm statistic moved off its initial value, so that folding and tracing matter."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if t.is_floating_point():
                t.add_(torch.rand(t.shape, generator=g) * 0.1 + (0.5 if name.endswith("running_var") else 0.0))
    return net


def segment_run(root, **kw):
    config = SegmentationConfig(**{"data": str(root), "out": str(root / "run"), "size": 20, "base_channels": 4,
                                   "depth": 2, "norm_mean": [0.4, 0.5, 0.6], "norm_std": [0.2, 0.25, 0.3], **kw})
    torch.manual_seed(1)
    net = _perturbed(build_model(config))
    write_json(root / "run" / "config.json", config_dict(config))
    save_weights(net, root / "run" / "checkpoints" / "best.safetensors")
    return root / "run", config, net.eval()


def restore_run(root, **kw):
    config = RestorationConfig(**{"out": str(root / "run"), "measurement": Measurement("denoise"), "model": "dncnn",
                                  "depth": 3, "width": 4, **kw})
    torch.manual_seed(1)
    net = _perturbed(build_restorer(config))
    write_json(root / "run" / "config.json", config_dict(config))
    save_weights(net, root / "run" / "checkpoints" / "best.safetensors")
    return root / "run", config, net.eval()


def run_graph(path, x: torch.Tensor) -> np.ndarray:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x.numpy()})[0]


@pytest.mark.parametrize("kw, sizes, free", [
    ({}, [(1, 20, 20), (3, 28, 44)], "multiples of 4"),  # the U-Net's sizes are free (multiples of 2^depth)
    ({"num_classes": 3, "up": "bilinear", "norm": "instance"}, [(2, 24, 36)], "multiples of 4"),
    ({"model": "fcn"}, [(1, 20, 20), (2, 36, 28)], "multiples of 4"),
    ({"model": "vit", "patch_size": 4, "dim": 8, "heads": 2, "vit_depth": 1}, [(3, 20, 20)], "20x20"),
    ({"padding": "valid"}, [(2, 20, 20)], "20x20"),
])
def test_segmentation_graphs_answer_as_the_network(tmp_path, kw, sizes, free, capsys):
    run, config, net = segment_run(tmp_path, **kw)
    out = tmp_path / "graph.onnx"
    assert main(["export", "--run", str(run), "--out", str(out)]) == 0
    assert "ONNX opset 17" in capsys.readouterr().out
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props["height_width"] == free and props["opset"] == "17"
    assert json.loads(props["settings"])["resize"] == "squash"
    for n, h, w in sizes:  # a raw image in [0, 1]: the run's normalisation is inside the graph
        x = torch.rand(n, config.channels, h, w, generator=torch.Generator().manual_seed(h))
        with torch.no_grad():
            expected = net(normalise(x, config.norm_mean, config.norm_std)).numpy()
        np.testing.assert_allclose(run_graph(out, x), expected, atol=1e-4, rtol=1e-4)


def test_a_restoration_graph_takes_any_size(tmp_path, capsys):
    run, config, net = restore_run(tmp_path)
    assert main(["export", "--run", str(run), "--opset", "18"]) == 0
    assert "any height and width" in capsys.readouterr().out
    out = run / "exports" / "best.onnx"
    for shape in ((1, 1, 40, 40), (2, 1, 23, 57)):
        x = torch.rand(shape)
        with torch.no_grad():
            expected = net.net(x).numpy()
        np.testing.assert_allclose(run_graph(out, x), expected, atol=1e-4, rtol=1e-4)
    assert onnx.load(str(out)).opset_import[0].version == 18


@pytest.mark.parametrize("make, argv, words", [
    ("unrolled", [], "cannot be traced to ONNX"),
    ("latent", [], "export takes segmentation and restoration runs"),
    ("segment", ["--out", "OUT/graph.txt"], "does not end in .onnx"),
    ("segment", ["--out", "OUT"], "is a folder"),
    ("segment", ["--opset", "3"], "opset=3 is out of the range"),
    ("nothing", [], "is not a run folder"),
])
def test_what_cannot_be_exported_is_one_sentence_and_nothing_written(tmp_path, make, argv, words, capsys):
    if make == "unrolled":
        run, _, _ = restore_run(tmp_path, measurement=Measurement("mri"), model="unrolled", size=16)
    elif make == "latent":
        from pixelwise.tasks.latent import LatentConfig

        run = tmp_path / "run"
        write_json(run / "config.json", config_dict(LatentConfig()))
    elif make == "segment":
        run, _, _ = segment_run(tmp_path)
    else:
        run = tmp_path / "run"
        run.mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(["export", "--run", str(run), *[a.replace("OUT", str(tmp_path)) for a in argv]]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before

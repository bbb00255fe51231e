"""Devices and precision: the choice of ``auto`` and the refusals of absent devices (with torch's view of the
machine monkeypatched), batches moved whole, and training on the device named by ``PIXELWISE_TEST_DEVICE``
(default cpu; e.g. ``PIXELWISE_TEST_DEVICE=cuda`` on a GPU machine), skipped cleanly where it is absent: the model
comes back where it was, validators get the device they ask for, checkpoints hold CPU tensors and a run trained
there resumes on the CPU."""

from __future__ import annotations

import json
import os

import pytest
import torch
from torch.nn import functional as F

from pixelwise.errors import PixelwiseError
from pixelwise.train import FitConfig, fit
from pixelwise.train.checkpoint import load_state, read_weights
from pixelwise.train.devices import autocast, check_precision, resolve_device, to_device

pytestmark = pytest.mark.usefixtures("one_thread")


def machine(monkeypatch, cuda: int = 0, mps: bool = False, current: int = 0) -> None:
    """Torch's view of a machine with ``cuda`` GPUs and (or) Apple's MPS."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: current)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: f"GPU {i}")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize("cuda, mps, name, local_rank, expected", [
    (0, False, "auto", None, "cpu"),
    (0, True, "auto", None, "mps"),  # no CUDA: MPS before the CPU
    (2, True, "auto", None, "cuda:0"),  # CUDA first
    (2, False, "cuda", None, "cuda:0"),
    (2, False, "cuda:1", None, "cuda:1"),
    (2, False, "cuda", 1, "cuda:1"),  # a torchrun process takes its LOCAL_RANK's GPU
    (2, False, "auto", 1, "cuda:1"),
    (2, False, "cpu", None, "cpu"),
    (0, True, "mps", None, "mps"),
])
def test_devices_are_chosen_by_name_and_availability(monkeypatch, cuda, mps, name, local_rank, expected):
    machine(monkeypatch, cuda, mps)
    assert str(resolve_device(name, local_rank)) == expected


@pytest.mark.parametrize("cuda, mps, name, words", [
    (0, False, "cuda", "device=cuda is not available: torch"),
    (0, True, "cuda:0", "Devices seen: cpu, mps."),
    (2, False, "cuda:2", "has 2 CUDA GPU(s), cuda:0 to cuda:1"),
    (1, False, "mps", "device=mps is not available"),
    (0, False, "gpu", "is not a device name"),
    (0, False, "cuda:x", "is not a device name"),
    (0, False, "CPU", "is not a device name"),
])
def test_an_absent_or_misspelt_device_is_one_sentence(monkeypatch, cuda, mps, name, words):
    machine(monkeypatch, cuda, mps)
    with pytest.raises(PixelwiseError) as caught:
        resolve_device(name)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_a_torchrun_process_without_a_gpu_of_its_own_is_refused(monkeypatch):
    machine(monkeypatch, cuda=2)
    with pytest.raises(PixelwiseError, match="process 3 on this node is not there"):
        resolve_device("cuda", local_rank=3)


def test_precisions_that_the_device_cannot_train_in_are_refused():
    cpu = torch.device("cpu")
    check_precision(cpu, "32")
    check_precision(cpu, "bf16")
    check_precision(torch.device("cuda", 0), "16-mixed")
    with pytest.raises(PixelwiseError, match="16-mixed needs a CUDA device"):
        check_precision(cpu, "16-mixed")
    with pytest.raises(PixelwiseError, match="precision='fp16' is not known"):
        FitConfig(precision="fp16")
    assert isinstance(autocast(cpu, "bf16"), torch.autocast)


def test_batches_move_whole_and_other_objects_pass():
    operator = object()
    batch = ((torch.ones(2), operator), {"w": [torch.zeros(1)]}, None)
    moved = to_device(batch, torch.device("cpu"))
    assert moved[0][1] is operator and moved[2] is None and torch.equal(moved[1]["w"][0], torch.zeros(1))


def _device():
    name = os.environ.get("PIXELWISE_TEST_DEVICE", "cpu").strip() or "cpu"
    try:
        return resolve_device(name)
    except PixelwiseError as err:
        pytest.skip(f"PIXELWISE_TEST_DEVICE={name} is not here ({err})")


def _problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 2, 5, 7, generator=g)
    return x, x[:, :1] * 2 - x[:, 1:]


@pytest.mark.parametrize("precision", ["32", "bf16", "16-mixed"])
def test_training_on_the_test_device_comes_back_and_resumes_on_the_cpu(tmp_path, precision):
    device = _device()
    if precision == "16-mixed" and device.type != "cuda":
        pytest.skip("16-mixed trains on CUDA only")
    x, y = _problem()
    seen = []

    def batches(epoch, generator):
        for i in torch.randperm(32, generator=generator).view(4, 8):
            yield x[i], y[i]

    def on_device(model):  # moves its inputs itself: gets the model where it trains
        seen.append(next(model.parameters()).device.type)
        return {"val_loss": F.mse_loss(model(x.to(seen[-1])), y.to(seen[-1])).item()}

    on_device.device_aware = True

    def on_cpu(model):  # does not: gets a CPU copy
        seen.append(next(model.parameters()).device.type)
        return {"val_loss": F.mse_loss(model(x), y).item()}

    torch.manual_seed(0)
    model = torch.nn.Conv2d(2, 1, 3, padding=1)
    before = on_cpu(model)["val_loss"]
    settings = dict(lr=0.1, schedule="constant", progress=False, device=str(device), precision=precision)
    fit(model, F.mse_loss, batches, 4, on_device, FitConfig(epochs=2, **settings), tmp_path, log=lambda _: None)
    assert next(model.parameters()).device.type == "cpu"  # back where it was
    assert seen[1:] == [device.type] * 2
    state = load_state(tmp_path / "checkpoints" / "last_state.pt")
    tensors = [*state["model"].values(), *read_weights(tmp_path / "checkpoints" / "last.safetensors").values()]
    tensors += [t for s in state["optimizer"]["state"].values() for t in s.values() if torch.is_tensor(t)]
    assert {t.device.type for t in tensors} == {"cpu"}
    seen.clear()
    cpu = FitConfig(epochs=3, lr=0.1, schedule="constant", progress=False, device="cpu")
    resumed = fit(model, F.mse_loss, batches, 4, on_cpu, cpu, tmp_path, resume=True, log=lambda _: None)
    assert resumed.steps == 12 and seen == ["cpu"]
    assert resumed.history[-1]["val_loss"] < before / 2  # it learned, on the device and then on the CPU


def test_info_reports_what_this_machine_gives(capsys):
    from pixelwise.cli import main

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for section in ("pixelwise:", "packages:", "torch build:", "threads:", "devices:", "several processes:",
                    "memory:", "environment:"):
        assert f"\n{section}" in f"\n{out}", section
    assert f"intra-op (torch.get_num_threads): {torch.get_num_threads()}" in out
    assert main(["info", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["packages"]["torch"] == torch.__version__
    assert f"BLAS_INFO={facts['torch build']['BLAS']}" in torch.__config__.show()
    assert facts["devices"]["auto picks"] == str(resolve_device("auto"))

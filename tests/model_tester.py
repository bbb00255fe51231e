"""One tester for every pixelwise model family: forward shape and finiteness, gradients to every parameter,
determinism in eval mode, and a save/load round trip that cannot pass vacuously.

A model's case is a few lines: a factory, the inputs (a shape of random floats, or a function of a generator
for integer codes, timesteps, labels), the expected output shape, and where models return a structure, how to
read the output and which loss reaches every parameter. Before saving, every parameter and floating buffer is
perturbed, so a freshly built model must answer differently (checked) until the weights are loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from pixelwise.train import load_weights, save_weights


@dataclass
class ModelCase:
    name: str
    make: Callable[[], torch.nn.Module]
    inputs: Sequence[int] | Callable[[torch.Generator], tuple]  # a shape, or generator -> input tuple
    output_shape: tuple[int, ...]
    output: Callable = field(default=lambda y: y)  # model output -> the tensor whose shape is checked
    loss: Callable | None = None  # model output -> scalar reaching every parameter (default: output squared)
    frozen: tuple[str, ...] = ()  # parameters that need no gradient from this loss (named by prefix)


def _inputs(case: ModelCase, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    if callable(case.inputs):
        return tuple(case.inputs(g))
    return (torch.randn(*case.inputs, generator=g),)


def perturb(model: torch.nn.Module, seed: int = 7, scale: float = 0.05) -> torch.nn.Module:
    """Add seeded noise to every floating tensor of the state dict (zero-initialised layers included; buffers a
    model rebuilds itself, such as causal masks, are not in the state dict and stay as they are)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in model.state_dict(keep_vars=True).values():
            if t.is_floating_point():
                t.add_(scale * torch.randn(t.shape, generator=g, dtype=t.dtype))
    return model


def check_model(case: ModelCase, tmp_path) -> None:
    torch.manual_seed(0)
    model = perturb(case.make())
    x = _inputs(case, 0)
    # forward shape and finiteness, in training mode
    model.train()
    y = model(*x)
    out = case.output(y)
    assert tuple(out.shape) == tuple(case.output_shape), f"output {tuple(out.shape)}, expected {case.output_shape}"
    assert torch.isfinite(out).all()
    # backward reaches every parameter
    loss = case.loss(y) if case.loss is not None else out.float().pow(2).mean()
    loss.backward()
    missing = [n for n, p in model.named_parameters()
               if p.requires_grad and p.grad is None and not n.startswith(case.frozen or ("\0",))]
    assert not missing, f"parameters without gradient: {missing[:5]}"
    # deterministic in eval mode
    model.eval()
    with torch.no_grad():
        a, b = case.output(model(*x)), case.output(model(*x))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    # save / load into a freshly built model, which answers differently until the weights are loaded
    path = tmp_path / f"{case.name}.safetensors"
    save_weights(model, path)
    torch.manual_seed(1)
    other = case.make().eval()
    with torch.no_grad():
        assert not torch.equal(case.output(other(*x)), a), "a fresh model already answers the same: vacuous check"
        load_weights(other, path)
        torch.testing.assert_close(case.output(other(*x)), a, rtol=0, atol=0)
    # the state dict holds every parameter and buffer that defines the model
    assert set(other.state_dict()) == set(model.state_dict())

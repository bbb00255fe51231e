"""A reusable tester for every pixelwise model: forward/backward, odd sizes, save/load, determinism.

A new model's test is a few lines: build a factory and call :func:`check_model` with its expected shapes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pixelwise.train import load_weights, save_weights


def check_model(make: Callable[[], torch.nn.Module], input_shape: tuple[int, ...], output_shape: tuple[int, ...],
                tmp_path, extra_inputs: tuple = ()) -> None:
    """Checks one model built by ``make()`` on ``input_shape`` -> ``output_shape``."""
    torch.manual_seed(0)
    model = make()
    x = torch.randn(*input_shape)
    # forward shape and finiteness
    model.train()
    y = model(x, *extra_inputs)
    assert tuple(y.shape) == tuple(output_shape), f"output {tuple(y.shape)}, expected {output_shape}"
    assert torch.isfinite(y).all()
    # backward reaches every parameter
    y.float().pow(2).mean().backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad[:5]}"
    # determinism in eval mode
    model.eval()
    with torch.no_grad():
        a, b = model(x, *extra_inputs), model(x, *extra_inputs)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    # save / load round trip into a freshly built (differently initialised) model
    path = tmp_path / "weights.safetensors"
    save_weights(model, path)
    torch.manual_seed(1)
    other = make().eval()
    load_weights(other, path)
    with torch.no_grad():
        torch.testing.assert_close(other(x, *extra_inputs), a)

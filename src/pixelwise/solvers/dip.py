"""Deep image prior fitting (Ulyanov, Vedaldi & Lempitsky 2018, "Deep Image Prior", CVPR).

A randomly initialised generator ``psi(z0; w)`` with fixed noise input ``z0`` is fitted to a single
measurement ``y``::

    min_w  ||A psi(z0; w) - y||^2                                                       (D1)

The network reproduces structure long before it reproduces noise, so the iteration count is the
regulariser: stop early. With the truth known (a benchmark), a PSNR trace shows the rise and the later
decay; without it, :func:`fit_dip` keeps the exponential moving average of the outputs (the paper's
smoothing) and returns the output at the last iteration or, given the truth, at the best one.

Early stopping from the measurement alone (no truth): Morozov's discrepancy principle (Morozov 1966, "On the
solution of functional equations by the method of regularization", Soviet Math. Dokl. 7) stops the first time the
smoothed output explains the measurement as well as the noise allows,

    mean (A x_ema - y)^2 <= tau sigma^2,   tau >= 1 (here 1 by default)                     (D2)

with sigma the noise level of y. Before that point the fit is still missing structure; after it, it starts to
fit the noise. (On a noise-free measurement (D2) never triggers before the budget ends.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from pixelwise.errors import PixelwiseError
from pixelwise.physics.base import LinearOperator


@dataclass
class DIPResult:
    image: torch.Tensor  # (1, C, H, W) the returned reconstruction
    best_iteration: int  # the iteration of ``image`` (1-based)
    trace: list[dict] = field(default_factory=list)  # per logged iteration: loss, residual, psnr (with the truth)
    stopped_by: str = "budget"  # budget, patience (the oracle) or discrepancy (D2)


def fit_dip(op: LinearOperator, y: torch.Tensor, shape, net: torch.nn.Module, iterations: int = 500,
            lr: float = 0.01, input_noise: float = 1 / 30, truth: torch.Tensor | None = None,
            ema: float = 0.99, log_every: int = 10, patience: int | None = None,
            generator: torch.Generator | None = None, callback: Callable[[int, dict], None] | None = None,
            discrepancy: float | None = None) -> DIPResult:
    """Fit ``net`` to ``y`` by (D1) with Adam; returns the smoothed output.

    Args:
        shape: the image shape ``(1, C, H, W)`` (the input noise has ``net.noise_channels`` channels).
        input_noise: standard deviation of the extra noise added to ``z0`` at every step (the paper's
            regularising perturbation, 1/30).
        truth: clean image for a PSNR trace; then the result is the EMA output at the best PSNR.
        ema: weight of the exponential moving average of outputs (0 turns it off).
        patience: with ``truth``, stop after this many logged checks without a better PSNR (early stopping
            by an oracle: only honest in a benchmark, which is what the trace is for).
        discrepancy: ``tau sigma^2``: stop at the first logged check where (D2) holds and return that output
            (early stopping from the measurement alone).
    """
    _check(iterations, lr, ema, discrepancy)
    n, c, h, w = shape
    z0 = torch.rand(n, net.noise_channels, h, w, generator=generator) * 0.1  # the paper's U(0, 1/10) input
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    y = y.to(torch.float32)
    smooth, best, best_it, best_psnr, since, stopped_by = None, None, 0, -float("inf"), 0, "budget"
    trace: list[dict] = []
    net.train()
    for it in range(1, iterations + 1):
        z = z0 + input_noise * torch.randn(z0.shape, generator=generator)
        x = net(z)
        loss = ((op.A(x) - y) ** 2).mean()  # (D1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            smooth = x.detach() if smooth is None or ema == 0 else ema * smooth + (1 - ema) * x.detach()
        if it % log_every == 0 or it == iterations:
            row = _row(it, loss.item(), op, y, smooth, truth)
            if "psnr" in row and row["psnr"] > best_psnr:
                best, best_it, best_psnr, since = smooth.clone(), it, row["psnr"], 0
            elif "psnr" in row:
                since += 1
            trace.append(row)
            if callback is not None:
                callback(it, row)
            if discrepancy is not None and row["residual"] <= discrepancy:  # (D2)
                return DIPResult(smooth.clamp(0, 1), it, trace, "discrepancy")
            if patience is not None and truth is not None and since >= patience:
                stopped_by = "patience"
                break
    if best is None:
        best, best_it = smooth, trace[-1]["iteration"]
    return DIPResult(best.clamp(0, 1), best_it, trace, stopped_by)


def _check(iterations: int, lr: float, ema: float, discrepancy: float | None) -> None:
    if iterations < 1:
        raise PixelwiseError(f"iterations={iterations} must be >= 1.")
    if not lr > 0:
        raise PixelwiseError(f"lr={lr} must be > 0.")
    if not 0 <= ema < 1:
        raise PixelwiseError(f"ema={ema} must be in [0, 1).")
    if discrepancy is not None and not discrepancy >= 0:
        raise PixelwiseError(f"discrepancy={discrepancy} must be >= 0 (tau sigma^2, the noise variance).")


@torch.no_grad()
def _row(it: int, loss: float, op: LinearOperator, y: torch.Tensor, smooth: torch.Tensor,
         truth: torch.Tensor | None) -> dict:
    """One logged check: the loss of the step, the residual of the smoothed output (D2), its PSNR with the truth."""
    row = {"iteration": it, "loss": loss, "residual": float(((op.A(smooth) - y) ** 2).mean())}
    if truth is not None:
        mse = float(((smooth.clamp(0, 1) - truth.to(smooth.dtype)) ** 2).mean())
        row["psnr"] = 10 * torch.log10(torch.tensor(1.0 / max(mse, 1e-20))).item()
    return row

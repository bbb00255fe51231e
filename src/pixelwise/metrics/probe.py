"""Linear probes: how linearly separable a frozen representation makes the classes (the evaluation protocol of
self-supervised learning: Zhang, Isola and Efros 2016; Chen et al. 2020, section 4).

A probe standardises the features with the training part's mean and standard deviation, and fits multinomial
logistic regression by full-batch L-BFGS in float64:

    min_{W, b}  1/n sum_i CE(softmax(x_i W + b), y_i) + lambda / 2 ||W||_F^2     (the bias is not penalised)

which is scikit-learn's ``LogisticRegression(C)`` with C = 1 / (lambda n). lambda is chosen from a grid by the
accuracy on a seeded held-out part of the training features, then the probe is refitted on all of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1)


def fit_logistic(x: torch.Tensor, y: torch.Tensor, num_classes: int, l2: float, max_iter: int = 200,
                 tol: float = 1e-7, start: tuple[torch.Tensor, torch.Tensor] | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(W (D, K), b (K,)) minimising the objective of the module docstring on features ``x`` (n, D) and integer labels
    ``y`` (n,) by L-BFGS with a strong Wolfe line search (deterministic), from zero or from ``start``, until the
    gradient's largest entry is below ``tol``. The gradient is written out: X^T (P - Y) / n + lambda W for W and the
    column means of P - Y for b (P the softmax, Y the one-hot labels)."""
    x = x.double()
    n = x.shape[0]
    onehot = F.one_hot(y, num_classes).double()  # (n, K)
    w = start[0].clone() if start is not None else torch.zeros(x.shape[1], num_classes, dtype=torch.float64)
    b = start[1].clone() if start is not None else torch.zeros(num_classes, dtype=torch.float64)
    w.requires_grad_(True)
    b.requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, tolerance_grad=tol, tolerance_change=1e-12,
                            history_size=20, line_search_fn="strong_wolfe")

    @torch.no_grad()
    def closure():
        logits = x @ w + b  # (n, K)
        log_p = logits.log_softmax(1)
        loss = -(onehot * log_p).sum() / n + 0.5 * l2 * w.pow(2).sum()
        residual = (log_p.exp() - onehot) / n  # (n, K)
        w.grad, b.grad = x.T @ residual + l2 * w, residual.sum(0)
        return loss

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small products: threads cost more than they give (much more on a loaded machine)
    try:
        opt.step(closure)
    finally:
        torch.set_num_threads(threads)
    return w.detach(), b.detach()


def _standardise(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    mean, std = train.mean(0), train.std(0, unbiased=False).clamp(min=1e-8)
    return [(t - mean) / std for t in (train, *others)]


def linear_probe(train_x, train_y, test_x, test_y, l2_grid: Sequence[float] = L2_GRID, val_fraction: float = 0.2,
                 seed: int = 0) -> dict:
    """Fit a probe on (``train_x`` (n, D), ``train_y`` (n,)), choose lambda on a held-out ``val_fraction`` of it
    (drawn with ``seed``; the largest lambda among the most accurate), refit on all, and score ``test_x``.

    Returns ``{"accuracy", "predictions" (m,) numpy, "l2", "validation": {lambda: accuracy}}``."""
    train_x, test_x = (torch.as_tensor(np.asarray(a), dtype=torch.float64) for a in (train_x, test_x))
    train_y, test_y = (torch.as_tensor(np.asarray(a), dtype=torch.long) for a in (train_y, test_y))
    k = int(max(train_y.max(), test_y.max())) + 1
    n = len(train_y)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(n))
    n_val = max(1, round(val_fraction * n)) if n >= 2 else 0
    held, kept = order[:n_val], order[n_val:]
    scores = {}
    if n_val and len(kept):
        fit_x, val_x = _standardise(train_x[kept], train_x[held])
        start = None
        for lam in sorted(l2_grid, reverse=True):  # the strongest penalty first; each fit starts the next
            start = fit_logistic(fit_x, train_y[kept], k, lam, start=start)
            scores[lam] = float(((val_x @ start[0] + start[1]).argmax(1) == train_y[held]).double().mean())
    best = max(scores.values()) if scores else None
    l2 = max(lam for lam, s in scores.items() if s == best) if scores else l2_grid[len(l2_grid) // 2]
    fit_x, test_std = _standardise(train_x, test_x)
    w, b = fit_logistic(fit_x, train_y, k, l2)
    pred = (test_std @ w + b).argmax(1)
    return {"accuracy": float((pred == test_y).double().mean()), "predictions": pred.numpy(), "l2": l2,
            "validation": {str(lam): s for lam, s in scores.items()}}

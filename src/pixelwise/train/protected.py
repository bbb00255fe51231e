"""How a recipe trains under its privacy, federated and adversarial settings (:mod:`pixelwise.train.protection`):
the batch source, the steps per epoch and the loop's ``backward``, and what ``metrics.json`` reports of them.

A recipe gives :func:`training_plan` a ``make_batches(indices, sampler)`` that returns the loop's
``epoch_batches(epoch, generator)`` over the training cases ``indices`` (None: all), their order drawn by
``sampler(epoch, generator)`` (index arrays into that subset). The plan is then one of:

- central: shuffled batches of ``batch_size``, the plain backward;
- DP-SGD: Poisson-sampled batches of expected size ``batch_size`` (N / batch_size steps an epoch), the private
  gradient (:mod:`pixelwise.train.privacy`);
- federated: one round per step over the clients of :func:`client_split` (saved in ``split.json``), optionally
  with DP-SGD on every client (:mod:`pixelwise.train.federated`);
- adversarial: shuffled batches, the adversarial loss (:mod:`pixelwise.train.adversarial`).

Privacy is accounted per party: the central model (N cases), or each client k (n_k cases, every one assumed to
take part in every round, the worst case); the noise is calibrated so that the most exposed party reaches the
target, and the report gives the largest epsilon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from pixelwise.privacy.accountant import epsilon
from pixelwise.train.adversarial import AdversarialTraining
from pixelwise.train.clients import client_partition
from pixelwise.train.federated import FederatedAveraging, round_batches, rounds_per_epoch
from pixelwise.train.files import read_csv, read_json
from pixelwise.train.privacy import (
    ACCOUNTANT,
    DPSGD,
    poisson_batches,
    private_schedule,
    settle_noise,
    shuffled_batches,
)


@dataclass
class TrainingPlan:
    batches: Callable  # epoch_batches(epoch, generator) for fit
    steps: int  # steps (federated: rounds) per epoch
    backward: Callable | None  # fit's backward; None: the plain one


def _enabled(config, name: str) -> bool:
    settings = getattr(config, name, None)
    return settings is not None and settings.enabled


def client_split(config, n: int, labels: np.ndarray | None = None, statistic: np.ndarray | None = None
                 ) -> list[list[int]] | None:
    """The federated clients' training cases (positions in the training set), or None for central training."""
    if not _enabled(config, "federated"):
        return None
    f = config.federated
    return client_partition(n, f.clients, f.client_split, config.seed, labels, statistic)


def _parties(config, n: int, clients: list[list[int]] | None, steps: int) -> list[tuple[float, int]]:
    """``[(sampling rate, DP-SGD steps)]`` of each party after ``steps`` loop steps (federated: rounds)."""
    if clients is None:
        return [(private_schedule(n, config.batch_size)[0], steps)]
    out = []
    for size in sorted({len(c) for c in clients}):
        rate, per_epoch = private_schedule(size, config.batch_size)
        out.append((rate, steps * config.federated.local_epochs * per_epoch))
    return out


def settle(config, n: int, clients: list[list[int]] | None, resume: bool) -> None:
    """Set ``config.privacy.dp_sigma`` (the given noise, or the one calibrated to the target over the planned
    epochs) when a private run starts; a resumed run keeps its own."""
    if not _enabled(config, "privacy") or resume:
        return
    sizes = [n] if clients is None else sorted({len(c) for c in clients})
    steps = config.epochs * (rounds_per_epoch(config.federated.clients, config.federated.client_fraction)
                             if clients is not None else private_schedule(n, config.batch_size)[1])
    config.privacy.dp_sigma = max(settle_noise(config.privacy, size, config.batch_size, steps if clients is None
                                               else steps * config.federated.local_epochs
                                               * private_schedule(size, config.batch_size)[1])
                                  for size in sizes)


def training_plan(config, model: nn.Module, n: int, make_batches: Callable, clients: list[list[int]] | None = None,
                  mean=(0.0,), std=(1.0,)) -> TrainingPlan:
    """The batches, steps per epoch and backward of a recipe's training (see the module docstring)."""
    bs = config.batch_size
    private = _enabled(config, "privacy")

    def dp(model: nn.Module, size: int) -> Callable:
        return DPSGD(model, config.privacy.dp_clip, config.privacy.dp_sigma, min(bs, size))

    def sampler(size: int) -> Callable:
        rate, steps = private_schedule(size, bs)
        return poisson_batches(size, rate, steps) if private else shuffled_batches(size, bs)

    if clients is not None:
        f = config.federated
        local = [make_batches(c, sampler(len(c))) for c in clients]
        hook = FederatedAveraging(model, local, [len(c) for c in clients], f.local_epochs, config.lr,
                                  config.weight_decay, (lambda m, k: dp(m, len(clients[k]))) if private else None)
        return TrainingPlan(round_batches(f.clients, f.client_fraction), rounds_per_epoch(f.clients,
                                                                                          f.client_fraction), hook)
    if private:
        return TrainingPlan(make_batches(None, sampler(n)), private_schedule(n, bs)[1], dp(model, n))
    backward = AdversarialTraining(model, config.robustness, mean, std) if _enabled(config, "robustness") else None
    return TrainingPlan(make_batches(None, sampler(n)), max(1, n // bs), backward)


def protection_report(config, n: int, split: dict | None, steps: int) -> dict:
    """What ``metrics.json`` says of the run's privacy, federation and adversarial training after ``steps`` loop
    steps (empty for a plain run)."""
    out = {}
    clients = (split or {}).get("clients")
    if _enabled(config, "privacy"):
        p = config.privacy
        spent = [(epsilon(rate, p.dp_sigma, t, p.dp_delta), rate, t) for rate, t in _parties(config, n, clients,
                                                                                             steps)]
        (eps, order), rate, t = max(spent, key=lambda s: s[0][0])
        out["privacy"] = {"mechanism": "DP-SGD (Abadi et al. 2016)", "epsilon": eps, "delta": p.dp_delta,
                          "target_epsilon": p.dp_epsilon, "noise_multiplier": p.dp_sigma, "clip": p.dp_clip,
                          "sampling_rate": rate, "sampling": "Poisson", "dp_steps": t, "rdp_order": order,
                          "party": "the most exposed client" if clients else "the training set",
                          "accountant": ACCOUNTANT}
    if clients is not None:
        f = config.federated
        out["federated"] = {"algorithm": "FedAvg (McMahan et al. 2017), local Adam", "clients": f.clients,
                            "client_split": f.client_split, "client_fraction": f.client_fraction,
                            "local_epochs": f.local_epochs, "rounds": steps,
                            "cases_per_client": [len(c) for c in clients]}
    if _enabled(config, "robustness"):
        r = config.robustness
        out["adversarial_training"] = {"attack": r.adversarial, "epsilon": r.epsilon, "weight": r.adv_weight,
                                       "steps": r.adv_steps if r.adversarial == "pgd" else 1}
    return out


def run_protection(run_dir: str | Path, config) -> dict:
    """:func:`protection_report` of a run folder: the training cases from ``split.json``, the steps taken from
    ``history.csv`` (so an evaluation made at any time reports what the run has spent so far)."""
    run_dir = Path(run_dir)
    split = read_json(run_dir / "split.json") if (run_dir / "split.json").is_file() else None
    history = read_csv(run_dir / "history.csv") if (run_dir / "history.csv").is_file() else []
    steps = int(sum(row["steps"] for row in history))
    return protection_report(config, len(split["train"]) if split else 0, split, steps)

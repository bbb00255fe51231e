"""Federated averaging (McMahan et al., "Communication-Efficient Learning of Deep Networks from Decentralized
Data", AISTATS 2017) simulated in one process, as :func:`pixelwise.train.fit`'s ``backward``.

Each loop step is one round: the batch source (:func:`round_batches`) draws m = max(1, round(C K)) of the K
clients and a seed for each; every chosen client starts from the global weights, trains ``local_epochs`` epochs
on its own cases (its own batches, shuffled and augmented from its seed; with DP-SGD, Poisson-sampled and
privatised on the client), and the server sets the global weights (and buffers, such as batch-norm statistics)
to the average of the clients' weights, weighted by their numbers of cases n_k. The hook leaves no gradient, so
the loop's optimizer step changes nothing; an epoch is ceil(K / m) rounds, so that every client is expected to
train once per epoch. Local training uses Adam (learning rate ``--lr``), started afresh every round (McMahan et
al. use plain SGD; a fresh local Adam carries no state from round to round either). Everything a round draws
comes from its seeds or torch's global generator, so runs resume bitwise.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn


def clients_per_round(clients: int, fraction: float) -> int:
    return max(1, round(fraction * clients))


def rounds_per_epoch(clients: int, fraction: float) -> int:
    return math.ceil(clients / clients_per_round(clients, fraction))


def round_batches(clients: int, fraction: float) -> Callable:
    """``epoch_batches(epoch, generator)`` yielding, per round, (the chosen clients (m,), a seed for each (m,))."""
    m, rounds = clients_per_round(clients, fraction), rounds_per_epoch(clients, fraction)

    def epoch_batches(epoch: int, generator: torch.Generator):
        for _ in range(rounds):
            chosen = torch.randperm(clients, generator=generator)[:m].sort().values
            yield chosen, torch.randint(0, 2**62, (m,), generator=generator)

    return epoch_batches


def _plain(model: nn.Module, loss_fn: Callable, x, y) -> torch.Tensor:
    loss = loss_fn(model(x), y)
    loss.backward()
    return loss


class FederatedAveraging:
    """``backward(forward, loss_fn, clients, seeds) -> mean local loss``: one FedAvg round (module docstring).

    ``client_batches[k]``: client k's ``epoch_batches(epoch, generator)``; ``sizes[k]``: its number of cases;
    ``private(local_model, k)``: the local backward of DP-SGD on client k, or None (plain local steps)."""

    def __init__(self, model: nn.Module, client_batches: Sequence[Callable], sizes: Sequence[int], local_epochs: int,
                 lr: float, weight_decay: float = 0.0, private: Callable[[nn.Module, int], Callable] | None = None):
        self.model, self.client_batches, self.sizes = model, list(client_batches), list(sizes)
        self.local_epochs, self.lr, self.weight_decay = local_epochs, lr, weight_decay
        self.local = copy.deepcopy(model)
        self.private, self._private_steps = private, {}

    def _local_backward(self, k: int) -> Callable:
        if self.private is None:
            return _plain
        if k not in self._private_steps:
            self._private_steps[k] = self.private(self.local, k)
        return self._private_steps[k]  # DPSGD(local, ...): its first argument (the forward) is not used

    def _train_client(self, k: int, seed: int, start: dict, loss_fn: Callable, losses: list) -> None:
        self.local.load_state_dict(start)
        self.local.train()
        optimizer = torch.optim.Adam(self.local.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        generator = torch.Generator().manual_seed(seed)
        backward = self._local_backward(k)
        for epoch in range(self.local_epochs):
            for x, y in self.client_batches[k](epoch, generator):
                optimizer.zero_grad(set_to_none=True)
                loss = backward(self.local, loss_fn, x, y)
                optimizer.step()
                losses.append(float(loss.detach()))

    def __call__(self, forward: Callable, loss_fn: Callable, clients: torch.Tensor, seeds: torch.Tensor
                 ) -> torch.Tensor:
        start = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        total = {k: torch.zeros_like(v, dtype=torch.float64) for k, v in start.items()}
        weight, losses = 0, []
        for k, seed in zip(clients.tolist(), seeds.tolist()):
            self._train_client(k, seed, start, loss_fn, losses)
            weight += self.sizes[k]
            for name, value in self.local.state_dict().items():
                total[name] += self.sizes[k] * value.double()
        average = {}
        for name, value in start.items():
            mean = total[name] / weight
            average[name] = mean.round().to(value.dtype) if not value.is_floating_point() else mean.to(value.dtype)
        with torch.no_grad():
            self.model.load_state_dict(average)  # in place: the parameters (and the optimizer's references) stay
        return torch.tensor(sum(losses) / max(len(losses), 1))

"""Training cases dealt out to the simulated clients of federated averaging: IID, or non-IID by class or by an
image statistic (brightness), all seeded.

- ``iid``: a random permutation cut into K parts of (nearly) equal size (McMahan et al. 2017's IID setting).
- ``class``: the cases sorted by label, cut into 2K shards, two random shards per client, so that most clients
  hold two classes (McMahan et al. 2017's pathological non-IID setting for MNIST).
- ``brightness``: the cases sorted by an image statistic (the mean intensity) and cut into K contiguous bands,
  as if each site had its own camera and lighting (a feature-distribution skew, Kairouz et al. 2021, Sec. 3.1).
"""

from __future__ import annotations

import numpy as np

from pixelwise.errors import PixelwiseError


def client_partition(n: int, clients: int, how: str, seed: int, labels: np.ndarray | None = None,
                     statistic: np.ndarray | None = None) -> list[list[int]]:
    """``clients`` sorted lists of indices into range(n), together every index once (see the module docstring)."""
    if clients > n:
        raise PixelwiseError(f"clients={clients} is more than the {n} training cases; use at most {n} clients "
                             "(--clients).")
    rng = np.random.default_rng(seed)
    if how == "iid":
        parts = np.array_split(rng.permutation(n), clients)
    elif how == "class":
        if labels is None:
            raise PixelwiseError("client_split='class' needs class labels, and this data has none; use "
                                 "--client-split iid or brightness.")
        order = rng.permutation(n)
        order = order[np.argsort(np.asarray(labels)[order], kind="stable")]  # by label, ties in random order
        shards = np.array_split(order, 2 * clients)
        picks = rng.permutation(2 * clients).reshape(clients, 2)
        parts = [np.concatenate([shards[a], shards[b]]) for a, b in picks]
    elif how == "brightness":
        if statistic is None:
            raise PixelwiseError("client_split='brightness' needs the images' mean intensities.")
        order = rng.permutation(n)
        order = order[np.argsort(np.asarray(statistic)[order], kind="stable")]
        parts = np.array_split(order, clients)
    else:
        raise PixelwiseError(f"client_split={how!r} is not known; use iid, class or brightness.")
    out = [sorted(int(i) for i in p) for p in parts]
    if min(len(p) for p in out) == 0:
        raise PixelwiseError(f"clients={clients} leaves a client without cases; use fewer clients (--clients).")
    return out

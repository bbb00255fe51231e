"""Federated averaging, IID against non-IID, against central training at equal compute (JSON on stdout).

Equal compute: central training runs E epochs; FedAvg runs E rounds with every client taking part
(``--client-fraction 1``) for one local epoch, so each round makes one pass over the training set, split among the
clients: the same number of examples through the network, and about the same number of steps. MNIST-5k classifier:
central, FedAvg IID, FedAvg non-IID by class (two label shards per client, McMahan et al. 2017); with --kvasir the
U-Net: central, FedAvg IID, FedAvg non-IID by brightness (each client a band of mean intensity). The JSON gives
each run's test metric with a bootstrap interval, and each FedAvg run's difference from central training paired
by test case.

Full size (the lead runs it):

    .venv/bin/python benchmarks/fedavg.py --mnist ../shared/data/mnist-5k/mnist-5k.npz --epochs 30 --clients 10 \\
        --kvasir ../shared/data/kvasir-seg-880 --kvasir-epochs 30 --work /tmp/fedavg

Toy size (a minute): --mnist digits --max-images 300 --epochs 1 --clients 3
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _common import emit, machine


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _federated(clients: int | None, split: str):
    from pixelwise.train.protection import FederatedConfig

    return FederatedConfig() if clients is None else FederatedConfig(clients=clients, client_split=split,
                                                                     client_fraction=1.0, local_epochs=1)


def _paired(run_dir: Path, central: Path, key: str, seed: int) -> dict:
    from pixelwise.metrics import paired_summaries
    from pixelwise.train.files import read_csv

    a = {r["id"]: r[key] for r in read_csv(run_dir / "per_case.csv")}
    b = {r["id"]: r[key] for r in read_csv(central / "per_case.csv")}
    rows = [{f"{key}_federated": a[k], f"{key}_central": b[k]} for k in sorted(a)]
    return paired_summaries(rows, ("federated", "central"), (key,), "federated", seed)["gain"]["central"][key]


def _summary(result, name: str, key: str) -> dict:
    value = result.metrics["metrics"][key]
    return {"mean": value["mean"], "ci": [value["ci_low"], value["ci_high"]], "epochs_or_rounds": len(result.history),
            "steps": sum(r["steps"] for r in result.history), "seconds": round(result.seconds, 1),
            **({"federated": result.metrics["federated"]} if "federated" in result.metrics else {})}


def _mnist(args) -> dict:
    from pixelwise.tasks.classify import ClassifyConfig, run

    out, folders = {}, {}
    for name, clients, split in (("central", None, "iid"), ("fedavg_iid", args.clients, "iid"),
                                 ("fedavg_by_class", args.clients, "class")):
        log(f"MNIST: {name}")
        folders[name] = Path(args.work) / f"mnist-{name}"
        config = ClassifyConfig(data=args.mnist, out=str(folders[name]), max_images=args.max_images,
                                epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                                federated=_federated(clients, split))
        out[name] = _summary(run(config, overwrite=True, progress=False, log=log), name, "correct")
    for name in ("fedavg_iid", "fedavg_by_class"):
        out[name]["minus_central"] = _paired(folders[name], folders["central"], "correct", args.seed)
    return out


def _kvasir(args) -> dict:
    from pixelwise.tasks.segment import SegmentationConfig, run

    out, folders = {}, {}
    for name, clients, split in (("central", None, "iid"), ("fedavg_iid", args.clients, "iid"),
                                 ("fedavg_by_brightness", args.clients, "brightness")):
        log(f"Kvasir: {name}")
        folders[name] = Path(args.work) / f"kvasir-{name}"
        config = SegmentationConfig(data=args.kvasir, out=str(folders[name]), size=args.size, base_channels=16,
                                    split=(0.7, 0.1, 0.2), epochs=args.kvasir_epochs, batch_size=8, seed=args.seed,
                                    federated=_federated(clients, split))
        out[name] = _summary(run(config, overwrite=True, progress=False, log=log), name, "dice")
    for name in ("fedavg_iid", "fedavg_by_brightness"):
        out[name]["minus_central"] = _paired(folders[name], folders["central"], "dice", args.seed)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mnist", required=True, help="mnist-5k.npz (or digits, mnist)")
    p.add_argument("--max-images", type=int, default=None)
    p.add_argument("--epochs", type=int, default=30, help="central epochs = FedAvg rounds")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--kvasir", default=None)
    p.add_argument("--kvasir-epochs", type=int, default=30)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--work", default="/tmp/pixelwise-fedavg")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    t0 = time.perf_counter()
    out = {"benchmark": "fedavg", "clients": args.clients, "client_fraction": 1.0, "local_epochs": 1,
           "equal_compute": "central epochs = FedAvg rounds, every client one local epoch per round",
           "mnist": _mnist(args)}
    if args.kvasir:
        out["kvasir"] = _kvasir(args)
    out.update(seconds=round(time.perf_counter() - t0, 1), machine=machine())
    emit(out)


if __name__ == "__main__":
    main()

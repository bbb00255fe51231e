"""How long the command line takes to answer ``--help``, against a bare Python start and ``import torch`` in the
same run (issue 19's target: ``pixelwise --help`` and ``pixelwise arch --help`` well under 0.5 s).

Each command runs as a fresh process, best of ``--repeats``; the JSON gives seconds and the ratio to a bare
``python -c pass``. Training commands' ``--help`` builds their parser from the recipe's config, which imports no
torch either.

    python benchmarks/cli_startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from _common import emit, machine

COMMANDS = {
    "python_bare": ["-c", "pass"],
    "import_torch": ["-c", "import torch"],
    "pixelwise --help": ["-m", "pixelwise", "--help"],
    "pixelwise arch --help": ["-m", "pixelwise", "arch", "--help"],
    "pixelwise segment train --help": ["-m", "pixelwise", "segment", "train", "--help"],
}


def best_seconds(args: list[str], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, *args], check=True, capture_output=True)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    seconds = {name: round(best_seconds(argv, args.repeats), 4) for name, argv in COMMANDS.items()}
    bare = seconds["python_bare"]
    emit({"benchmark": "cli_startup", "machine": machine(), "seconds": seconds,
          "ratio_to_bare_python": {k: round(v / bare, 2) for k, v in seconds.items()},
          "targets": {"help<0.5s": seconds["pixelwise --help"] < 0.5,
                      "arch_help<0.5s": seconds["pixelwise arch --help"] < 0.5}})


if __name__ == "__main__":
    main()

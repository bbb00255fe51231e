"""Run folders: ``runs/NAME/`` with config.json, split.json, history.csv, metrics.json, per_case.csv,
checkpoints/, plots/ and report.html. A task writes only inside its run folder.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from pixelwise.errors import PixelwiseError


@dataclass
class RunResult:
    """What a task recipe's ``run(config)`` returns: its folder, test metrics, history and wall time."""

    run_dir: Path
    metrics: dict
    history: list[dict]
    seconds: float


def config_from_dict(cls, data: dict):
    """Rebuild a dataclass config from a run's config.json, ignoring a key or two the class no longer has.

    Three or more unknown keys mean the file was written by another kind of run (a segmentation run given to
    ``latent eval``, say): that is refused in one sentence rather than read as this kind with its defaults."""
    if not isinstance(data, dict):
        raise PixelwiseError(f"the run's config.json holds {type(data).__name__}, not the settings of a run; the "
                             "run folder is damaged: train it again.")
    names = {f.name for f in fields(cls)}
    foreign = sorted(k for k in data if k not in names)
    if len(foreign) >= 3:
        kind = cls.__name__.removesuffix("Config").lower() or cls.__name__
        keys = ", ".join(foreign[:4])
        raise PixelwiseError(f"this run folder was made by another command (its config.json has {keys}, which a "
                             f"{kind} run does not); give --run a folder made by the matching `train`.")
    return cls(**{k: v for k, v in data.items() if k in names})


def prepare_run_dir(path: str | Path, overwrite: bool = False, resume: bool = False) -> Path:
    """Create the run folder; an existing non-empty one is kept unless ``overwrite`` or ``resume``.

    Call it only after the data and configuration have been validated, so nothing is half-written.
    """
    if not str(path).strip() or Path(path).resolve() == Path.cwd().resolve():
        raise PixelwiseError(f"--out {str(path)!r} would put the run into the current folder; name a new folder, "
                             "e.g. --out runs/first.")
    path = Path(path)
    if overwrite and resume:
        raise PixelwiseError("--overwrite and --resume contradict each other; pass one of them.")
    exists = path.exists() and any(path.iterdir()) if path.is_dir() else path.exists()
    if resume:
        if not (path / "checkpoints" / "last_state.pt").is_file():
            raise PixelwiseError(f"cannot resume: {path} has no checkpoints/last_state.pt; "
                                 f"start a new run without --resume.")
        return path
    if exists:
        if not overwrite:
            raise PixelwiseError(f"run folder {path} already exists; "
                                 f"pass --overwrite to replace it, --resume to continue "
                                 "it, or choose another --out.")
        if not path.is_dir():
            raise PixelwiseError(f"{path} is a file, not a run folder; --overwrite replaces run folders only: "
                                 "choose another --out.")
        if not (path / "config.json").is_file():
            raise PixelwiseError(f"{path} holds files but no config.json, so it is not a run folder; --overwrite "
                                 "replaces run folders only: choose another --out, or empty it yourself.")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _atomic_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path: str | Path, data) -> None:
    _atomic_text(Path(path), json.dumps(data, indent=1, default=_jsonable) + "\n")


def _jsonable(value):
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def read_json(path: str | Path):
    path = Path(path)
    if not path.is_file():
        if path.parent.is_file():
            raise PixelwiseError(f"{path.parent} is a file; give a run folder (the --out of a `train` command).")
        raise PixelwiseError(f"{path} does not exist; is {path.parent} a pixelwise run folder?")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise PixelwiseError(f"{path} is not valid JSON ({err.msg}, line {err.lineno}); the run folder is damaged: "
                             "restore the file or train the run again.") from None


def write_csv(path: str | Path, rows: Sequence[dict]) -> None:
    """Rows of dicts -> CSV (columns: the union of keys, in first-seen order), atomically."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    _atomic_text(Path(path), buf.getvalue())


def read_csv(path: str | Path) -> list[dict]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for k, v in row.items():
            try:
                row[k] = float(v) if v not in ("", None) else float("nan")
            except ValueError:
                pass
    return rows

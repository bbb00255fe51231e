"""Files of a run folder written atomically (a temporary file in the same folder, then ``os.replace``), so that
a killed process or a full disk never leaves a half-written file under the final name; JSON and CSV readers
that name the damaged file in one sentence."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from pixelwise.errors import PixelwiseError


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """``write(tmp)`` writes the whole file at the temporary path ``tmp``; only then is it renamed to ``path``.

    If ``write`` raises (a full disk, say), the temporary file is removed and ``path`` keeps its old content."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str | Path, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)

    atomic_write(path, write)


def write_json(path: str | Path, data) -> None:
    write_text(path, json.dumps(data, indent=1, default=_jsonable) + "\n")


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
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        where = f"{err.msg}, line {err.lineno}" if isinstance(err, json.JSONDecodeError) else "not text"
        raise PixelwiseError(f"{path} is not valid JSON ({where}); the run folder is damaged: restore the file or "
                             "train the run again.") from None


def write_csv(path: str | Path, rows: Sequence[dict]) -> None:
    """Rows of dicts -> CSV (columns: the union of keys, in first-seen order), atomically."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buf.getvalue())


def read_csv(path: str | Path) -> list[dict]:
    """The rows of a CSV file written by :func:`write_csv`, numbers as floats (empty cells as NaN)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for k, v in row.items():
            try:
                row[k] = float(v) if v not in ("", None) else float("nan")
            except ValueError:
                pass
    return rows

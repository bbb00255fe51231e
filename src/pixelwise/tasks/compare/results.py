"""The results a comparison reads: a run's own test results (or one of its evaluations), with what defines its task
and its cases; and the check that runs are comparable."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from pixelwise.errors import PixelwiseError
from pixelwise.train.files import read_json
from pixelwise.train.runs import config_dict, read_config


@dataclass
class Result:
    name: str  # a short, unique label for tables and figures
    run_dir: Path  # the run folder
    folder: Path  # where metrics.json and per_case.csv are (the run itself, or RUN/evaluations/NAME)
    config: object  # the run's config
    metrics: dict  # its metrics.json
    cases: dict[str, dict]  # case id -> the per_case.csv row (numbers as floats)


def locate(path: str | Path, command: str) -> tuple[Path, Path]:
    """(run folder, results folder) of a run folder or of an evaluation folder ``RUN/evaluations/NAME``."""
    path = Path(path)
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "does not exist"
        raise PixelwiseError(f"{path} {what}; give `pixelwise {command} compare` run folders (or their "
                             "evaluations/NAME folders).")
    if (path / "config.json").is_file():
        return path, path
    if path.parent.name == "evaluations" and (path.parent.parent / "config.json").is_file():
        return path.parent.parent, path
    raise PixelwiseError(f"{path} is neither a run folder nor a run's evaluations/NAME folder; give runs made by "
                         f"`pixelwise {command} train`.")


def read_cases(path: Path, id_column: str) -> dict[str, dict]:
    """per_case.csv by case id (the id kept as text, the other cells as numbers where they read as numbers)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for row in rows:
        case = row.pop(id_column)
        out[case] = {k: _number(v) for k, v in row.items()}
    return out


def _number(text: str):
    try:
        return float(text) if text != "" else float("nan")
    except ValueError:
        return text


def read_result(path: str | Path, config_cls, id_column: str) -> Result:
    command = config_cls.RECIPE
    run_dir, folder = locate(path, command)
    config = read_config(config_cls, run_dir)  # refuses a run of another command in one sentence
    for name in ("metrics.json", "per_case.csv"):
        if not (folder / name).is_file():
            raise PixelwiseError(f"{folder} has no {name}: the run has no test results yet; run `pixelwise {command} "
                                 f"eval --run {run_dir}` first.")
    label = run_dir.name if folder == run_dir else f"{run_dir.name}:{folder.name}"
    return Result(label, run_dir, folder, config, read_json(folder / "metrics.json"),
                  read_cases(folder / "per_case.csv", id_column))


def unique_names(results: list[Result]) -> None:
    """Make the labels unique (a parent folder's name in front, then a number)."""
    for r in results:
        if sum(o.name == r.name for o in results) > 1:
            r.name = f"{r.run_dir.parent.name}/{r.name}"
    for i, r in enumerate(results):
        if sum(o.name == r.name for o in results) > 1:
            r.name = f"{r.name}#{i + 1}"


def check_comparable(results: list[Result], task: dict[str, str]) -> None:
    """Refuse results whose tasks differ (``task``: setting name -> what it decides) or whose cases differ."""
    first = results[0]
    seen = {}
    for r in results:
        key = r.folder.resolve()
        if key in seen:
            raise PixelwiseError(f"{r.folder} is given twice; compare different runs.")
        seen[key] = r
    values = [_settings(r) for r in results]
    for r, v in zip(results[1:], values[1:]):
        for setting, decides in _expanded(task, values[0]).items():
            if v.get(setting) != values[0].get(setting):
                raise PixelwiseError(f"{first.name} and {r.name} differ in {setting} ({_shown(values[0].get(setting))} "
                                     f"and {_shown(v.get(setting))}), which decides {decides}; compare runs of the "
                                     "same task on the same cases.")
        a, b = set(first.cases), set(r.cases)
        if a != b:
            only = sorted(a - b) or sorted(b - a)
            where = first.name if a - b else r.name
            raise PixelwiseError(f"{first.name} and {r.name} were tested on different cases ({len(a ^ b)} differ, e.g. "
                                 f"{only[0]} only in {where}'s); compare runs with the same test split (the same "
                                 "data, --split and --seed).")


def _expanded(task: dict[str, str], settings: dict) -> dict[str, str]:
    """``task`` with each ``"x."`` entry replaced by every setting under x."""
    out = {}
    for setting, decides in task.items():
        names = [k for k in settings if k.startswith(setting)] if setting.endswith(".") else [setting]
        out.update({name: decides for name in names})
    return out


def _settings(r: Result) -> dict:
    """The run's settings (paths resolved, nested ones dotted) and its results' source and checkpoint."""
    flat = {}

    def walk(d: dict, prefix: str = "") -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            else:
                flat[prefix + k] = v

    walk(config_dict(r.config))
    flat["results source"] = r.metrics.get("source")
    flat["scoring protocol"] = r.metrics.get("protocol")
    return flat


def _shown(value) -> str:
    return json.dumps(value) if not isinstance(value, str) else value

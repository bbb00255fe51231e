"""Run folders, written once for every recipe.

A run folder ``runs/NAME/`` holds ``config.json``, ``split.json``, ``history.csv``, ``metrics.json``,
``per_case.csv``, ``checkpoints/``, ``plots/`` and ``report.html``; evaluations on other data go to
``evaluations/NAME/`` inside it and never replace the run's own test results.

The rules, the same for every recipe (:class:`RunFolder`):

- nothing is written before the configuration and the data have been checked (``RunFolder(...)`` only checks;
  :meth:`RunFolder.create` writes);
- an existing run folder is replaced only with ``overwrite``, and only if it is a run folder (has
  ``config.json``);
- ``resume`` continues the run in ``config.out`` with its saved settings. A setting that differs from the saved
  one is refused by name, except the budget (``epochs``, which may only grow, and ``minutes``); the data must
  give the same split as before;
- ``config.json`` holds every setting with paths made absolute, and the recipe's name; it is a valid
  ``--config`` for the same command, so a run can be repeated from its folder.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import types
import typing
from dataclasses import dataclass
from pathlib import Path

from pixelwise.errors import DataError, PixelwiseError
from pixelwise.train.config import TrainingConfig, meta
from pixelwise.train.files import read_json, write_json

RECIPE_KEY = "_recipe"  # config.json's record of the command that wrote it (not a setting)
CHECKPOINTS = ("best", "last")


@dataclass
class RunResult:
    """What a task recipe's ``run(config)`` returns: its folder, test metrics, history and wall time."""

    run_dir: Path
    metrics: dict
    history: list[dict]
    seconds: float


# --- configs as dicts -----------------------------------------------------------------------------------
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def config_dict(config) -> dict:
    """Every field of ``config`` as JSON-ready values (nested configs as dicts, tuples as lists), path fields
    made absolute (except their named sources), and the recipe's name under ``_recipe``."""
    out = _fields_dict(config)
    recipe = getattr(type(config), "RECIPE", None)
    return {RECIPE_KEY: recipe, **out} if recipe else out


def _fields_dict(config) -> dict:
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            value = _fields_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        elif meta(f)["path"] and isinstance(value, str) and value and value not in meta(f)["keywords"]:
            value = str(Path(value).expanduser().resolve())
        out[f.name] = value
    return out


def config_from_dict(cls, data: dict, source: str = "the settings", derived: bool = True):
    """Build ``cls`` from ``data`` (a config.json, a TOML file or a dict). Unknown keys are refused by name, as
    is a file written by another command; ``derived=False`` leaves out what a recipe sets itself (statistics
    of the data), so that a run's config.json starts a new run that computes them again."""
    if not isinstance(data, dict):
        raise PixelwiseError(f"{source} holds {type(data).__name__}, not settings; give a TOML or JSON table of "
                             "settings (e.g. a run's config.json).")
    data = dict(data)
    recipe, own = data.pop(RECIPE_KEY, None), getattr(cls, "RECIPE", None)
    if recipe is not None and own is not None and recipe != own:
        raise PixelwiseError(f"{source} was written by `pixelwise {recipe}`, not `pixelwise {own}`; give it to "
                             f"that command, or give a config of a {own} run.")
    return _build(cls, data, source, derived)


def _build(cls, data: dict, source: str, derived: bool):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(k for k in data if k not in fields)
    if unknown:
        raise PixelwiseError(f"{source} has setting(s) that {cls.__name__} does not know: {', '.join(unknown)}; "
                             f"remove them (the settings are: {', '.join(fields)}).")
    hints, kwargs = _hints(cls), {}
    for name, value in data.items():
        if meta(fields[name])["derived"] and not derived:
            continue
        kind = hints[name]
        if dataclasses.is_dataclass(kind) and isinstance(value, dict):  # unset keys keep the recipe's defaults
            default = fields[name].default_factory() if fields[name].default is dataclasses.MISSING else None
            start = {f.name: getattr(default, f.name) for f in dataclasses.fields(default)} if default else {}
            value = _build(kind, {**start, **value}, f"{source} [{name}]", derived)
        elif not _fits(value, kind):
            raise PixelwiseError(f"{source}: {name} = {value!r} is not {_described(kind)}; fix the value.")
        elif isinstance(value, list) and typing.get_origin(_plain(kind)) is tuple:
            value = tuple(value)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as err:  # a value of the wrong kind (e.g. a table where a number belongs)
        raise PixelwiseError(f"{source}: {err}; check the types of its settings.") from None


def _plain(kind):
    """``X | None`` -> ``X`` (one non-None member), else ``kind``."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    return args[0] if typing.get_origin(kind) in (typing.Union, types.UnionType) and len(args) == 1 else kind


def _fits(value, kind) -> bool:
    """Whether a value read from a file fits a field's annotation (numbers, text, flags, lists; None where
    allowed); what does not fit is refused by name instead of failing later with a traceback."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if kind is type(None):
        return value is None
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    if origin in (tuple, list):  # the configs' sequences hold one kind of element
        element = next((a for a in args if a is not Ellipsis), None)
        return isinstance(value, (list, tuple)) and (element is None or all(_fits(v, element) for v in value))
    return True


def _described(kind) -> str:
    words = {int: "a whole number", float: "a number", str: "text", bool: "true or false", type(None): "none"}
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return " or ".join(_described(a) for a in typing.get_args(kind))
    return words.get(kind, "a list" if typing.get_origin(kind) in (tuple, list) else str(kind))


def read_settings(path: str | Path) -> dict:
    """The settings table of a ``--config`` file: TOML (``.toml``) or JSON (e.g. a run's ``config.json``)."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder (give its config.json)" if path.is_dir() else "does not exist"
        raise PixelwiseError(f"--config {path} {what}; give a .toml file or a run's config.json.")
    if path.suffix.lower() != ".toml":
        return read_json(path)
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise PixelwiseError(f"--config {path} is not valid TOML ({err}); fix the file.") from None


def read_config_file(cls, path: str | Path):
    """A ``--config`` file as a config of ``cls``; what the recipe derives from the data is dropped."""
    return config_from_dict(cls, read_settings(path), f"--config {path}", derived=False)


def read_config(cls, run_dir: str | Path):
    """The config saved in a run folder, refused in one sentence if the folder is not a run of ``cls``."""
    run_dir = Path(run_dir)
    command = getattr(cls, "RECIPE", "the matching command")
    if not run_dir.is_dir():
        what = "is a file, not a folder" if run_dir.exists() else "does not exist"
        raise PixelwiseError(f"run folder {run_dir} {what}; give --run a folder made by `pixelwise {command} train`.")
    if not (run_dir / "config.json").is_file():
        raise PixelwiseError(f"{run_dir} is not a run folder (it has no config.json); give --run a folder made by "
                             f"`pixelwise {command} train`.")
    return config_from_dict(cls, read_json(run_dir / "config.json"), f"{run_dir / 'config.json'}")


def flat_settings(config, prefix: str = "") -> dict[str, tuple]:
    """``{dotted name: (value, field)}`` over ``config`` and its nested configs."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out.update(flat_settings(value, f"{prefix}{f.name}."))
        else:
            out[prefix + f.name] = (value, f)
    return out


def changed_settings(saved, given) -> list[str]:
    """The settings of ``given`` that differ from ``saved`` ("size=128 (saved 256)"), budget, derived settings
    and ``out`` aside; paths compared after resolving them."""
    a, b = _comparable(given), _comparable(saved)
    return [f"{name}={a[name]!r} (saved {b[name]!r})" for name in a if a[name] != b.get(name)]


def _comparable(config) -> dict:
    values = {}
    resolved = _fields_flat(_fields_dict(config))
    for name, (_, f) in flat_settings(config).items():
        m = meta(f)
        if not (m["budget"] or m["derived"] or name == "out"):
            values[name] = resolved[name]
    return values


def _fields_flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_fields_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
    return out


# --- the run folder ---------------------------------------------------------------------------------------
class RunFolder:
    """Checks a run's folder and settings on construction (nothing written), writes it in :meth:`create`.

    ``folder.config`` is the config to train with: ``config`` itself, or on ``resume`` the saved one with the
    new budget (``epochs`` raised, ``minutes``). See the module docstring for the rules. ``stages``: sub-folders
    with loops of their own that run before the main one (a GAN's judge in ``classifier/``); a run killed in one
    of them resumes too, though the main loop has not committed an epoch yet (:attr:`main_started`)."""

    def __init__(self, config, overwrite: bool = False, resume: bool = False, stages: tuple[str, ...] = ()):
        out = str(config.out)
        if not out.strip() or Path(out).resolve() == Path.cwd().resolve():
            raise PixelwiseError(f"--out {out!r} would put the run into the current folder; name a new folder, "
                                 "e.g. --out runs/first.")
        if overwrite and resume:
            raise PixelwiseError("--overwrite and --resume contradict each other; pass one of them.")
        self.path, self.overwrite, self.resume, self.stages = Path(out), overwrite, resume, tuple(stages)
        self.config = self._resumed(config) if resume else self._fresh(config)
        if isinstance(self.config, TrainingConfig):  # the device, the precision and a torchrun job's sizes
            from pixelwise.train.distributed import check_world

            check_world(self.config)

    @property
    def main_started(self) -> bool:
        """Whether the main loop has committed an epoch (so that ``fit(..., resume=True)`` continues it)."""
        return (self.path / "checkpoints" / "last_state.pt").is_file()

    def _fresh(self, config):
        from pixelwise.train.distributed import is_main

        path = self.path
        if not is_main():  # process 0 checks the folder (it may already have made it: a race, not an error)
            return config
        # a folder holding only the temporary file of a write that a kill cut short counts as empty
        exists = (path.is_dir() and any(not _leftover(p) for p in path.iterdir())) or (
            path.exists() and not path.is_dir())
        if exists and not self.overwrite:
            resume = ", --resume to continue it," if isinstance(config, TrainingConfig) else ""
            raise PixelwiseError(f"run folder {path} already exists; pass --overwrite to replace it{resume} or choose "
                                 "another --out.")
        if exists and not path.is_dir():
            raise PixelwiseError(f"{path} is a file, not a run folder; --overwrite replaces run folders only: "
                                 "choose another --out.")
        if exists and not (path / "config.json").is_file():
            raise PixelwiseError(f"{path} holds files but no config.json, so it is not a run folder; --overwrite "
                                 "replaces run folders only: choose another --out, or empty it yourself.")
        return config

    def _resumed(self, config):
        started = [self.path / stage / "checkpoints" / "last_state.pt" for stage in self.stages]
        if not self.main_started and not any(p.is_file() for p in started):
            raise PixelwiseError(f"cannot resume: {self.path} has no checkpoints/last_state.pt; start a new run "
                                 "without --resume.")
        saved = read_config(type(config), self.path)
        differ = changed_settings(saved, config)
        if differ:
            raise PixelwiseError(f"--resume continues {self.path} with its saved settings, but {', '.join(differ)} "
                                 "differ; drop them (only --epochs and --minutes may change) or start a new run.")
        if config.epochs < saved.epochs:
            raise PixelwiseError(f"epochs={config.epochs} is below the run's {saved.epochs}; a resumed run can only "
                                 "be extended (or leave --epochs out).")
        from pixelwise.train.checkpoint import load_state

        for state in [self.path / "checkpoints" / "last_state.pt", *started]:  # damaged: refused before any write
            if state.is_file():
                load_state(state)
        budget = {name: getattr(config, name) for name, (_, f) in flat_settings(config).items()
                  if meta(f)["budget"] and "." not in name}
        return dataclasses.replace(saved, **budget)

    def create(self, split: dict | None = None) -> Path:
        """Make (or, with ``overwrite``, replace) the folder and write ``config.json`` and ``split.json``; on
        ``resume`` check that ``split`` is the saved one (the same data) and write the new budget. Under
        ``torchrun`` only process 0 writes (:mod:`pixelwise.train.distributed`); the others only check."""
        from pixelwise.train.distributed import is_main

        if self.resume and split is not None:
            saved = read_json(self.path / "split.json") if (self.path / "split.json").is_file() else None
            if saved is not None and _jsonable(saved) != _jsonable(split):
                raise DataError(f"the data no longer gives the split saved in {self.path / 'split.json'}; resume "
                                "with the data the run started with, or start a new run.")
        if not is_main():
            return self.path
        if self.overwrite and self.path.is_dir() and any(self.path.iterdir()):
            shutil.rmtree(self.path)
        elif self.path.is_dir():
            for leftover in filter(_leftover, self.path.iterdir()):
                leftover.unlink()
        if self.resume:  # temporary files of writes a kill cut short (the files they were to replace are whole)
            for leftover in self.path.rglob(".*.tmp"):
                leftover.unlink()
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.path / "config.json", config_dict(self.config))
        if split is not None:
            write_json(self.path / "split.json", split)
        return self.path

    def saved_split(self) -> dict | None:
        path = self.path / "split.json"
        return read_json(path) if self.resume and path.is_file() else None


def _leftover(path: Path) -> bool:
    """The temporary file of an atomic write (``.NAME.XXXX.tmp``) that a kill left behind."""
    return path.is_file() and path.name.startswith(".") and path.name.endswith(".tmp")


def _jsonable(value):
    import json

    return json.loads(json.dumps(value, default=str))


def checkpoint_path(run_dir: str | Path, which: str = "best") -> Path:
    """``checkpoints/best.safetensors`` or ``last.safetensors`` of a run; "best" falls back to "last" for a run
    that never validated (no best), and a run without either is refused in one sentence."""
    if which not in CHECKPOINTS:
        raise PixelwiseError(f"which={which!r} is not a checkpoint; use one of {', '.join(CHECKPOINTS)}.")
    folder = Path(run_dir) / "checkpoints"
    for name in (which, "last"):
        if (folder / f"{name}.safetensors").is_file():
            return folder / f"{name}.safetensors"
    raise PixelwiseError(f"{run_dir} has no checkpoints/{which}.safetensors: the run never finished an epoch; "
                         "--resume it or train again.")


def evaluation_dir(run_dir: str | Path, name: str | None = None, out: str | Path | None = None) -> Path:
    """Where an evaluation on other data (or with other settings) goes: ``out`` if given, else
    ``RUN/evaluations/NAME`` with ``NAME`` made safe for a folder name. The run's own results stay untouched."""
    if out is not None:
        return Path(out)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name or "other")).strip("-.") or "other"
    return Path(run_dir) / "evaluations" / safe

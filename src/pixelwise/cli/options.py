"""Command-line options derived from a config dataclass's fields, and configs built back from them.

Each field becomes ``--field-name`` (or its ``flag``), typed by its annotation: ``bool`` as ``--x/--no-x``,
``int``/``float``/``str``, ``X | None`` also accepting ``none``, tuples as comma-separated values; nested configs
(e.g. a :class:`~pixelwise.physics.presets.Measurement`) add their fields in a group of their own. The help text
is the field's ``help`` with its default. Every option's argparse default is "not given", so that
:func:`config_from_args` knows what the user typed: dataclass defaults < ``--config FILE`` (TOML or a run's
config.json) or, on ``--resume``, the run's saved settings < the options given.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import types
import typing
from pathlib import Path

from pixelwise.errors import PixelwiseError
from pixelwise.train.config import TrainingConfig, meta
from pixelwise.train.runs import config_from_dict, read_config, read_settings


def add_config_options(parser: argparse.ArgumentParser, cls, *, skip: tuple[str, ...] = (),
                       aliases: dict[str, tuple[str, ...]] | None = None,
                       values: dict[str, dict[str, str]] | None = None, required: tuple[str, ...] = ()) -> None:
    """Add an option for every field of ``cls`` (and of its nested configs) except ``skip``.

    ``aliases``: other spellings of a field's flag (``{"operator": ("--task",)}``); ``values``: other spellings of
    a field's values (``{"operator": {"sr": "downsample"}}``); ``required``: fields that must be given (on the
    command line or in ``--config``), marked as such in the help."""
    aliases, values = aliases or {}, values or {}
    loop = {f.name for f in dataclasses.fields(TrainingConfig)} - {"out"}
    if isinstance(cls, type) and issubclass(cls, TrainingConfig):  # the recipe's own settings first, then the loop's
        _add_fields(parser, cls, "", (*skip, *loop), aliases, values, required)
        group = parser.add_argument_group("training", "the settings of the training loop")
        _add_fields(group, cls, "", (*skip, *(f.name for f in dataclasses.fields(cls) if f.name not in loop)),
                    aliases, values, required)
    else:
        _add_fields(parser, cls, "", skip, aliases, values, required)


def _add_fields(parser, cls, prefix, skip, aliases, values, required, defaults=None) -> None:
    """The options of ``cls``'s fields; ``defaults``: an instance whose values are the defaults shown (a nested
    config's default is the recipe's instance, not the nested class's own defaults)."""
    hints = typing.get_type_hints(cls)
    nested = []
    for f in dataclasses.fields(cls):
        m, kind = meta(f), hints[f.name]
        if f.name in skip or not m["cli"]:
            continue
        if dataclasses.is_dataclass(kind):
            nested.append((f, kind))
            continue
        flags = [m["flag"] or "--" + f.name.replace("_", "-"), *aliases.get(f.name, ())]
        default = getattr(defaults, f.name) if defaults is not None else _default(f)
        help_text = m["help"].format(default_epochs=getattr(cls, "DEFAULT_EPOCHS", ""))
        note = "required" if f.name in required else "" if "default" in help_text else f"default: {_shown(default)}"
        kwargs = {"dest": prefix + f.name, "default": argparse.SUPPRESS,
                  "help": f"{help_text} ({note})" if note else help_text, "metavar": f.name.upper()}
        kwargs.update(_typed(kind, f.name, values.get(f.name, {}), m["parse"]))
        if m["metavar"]:
            kwargs["metavar"] = m["metavar"]
        parser.add_argument(*flags, **kwargs)
    for f, kind in nested:
        group = parser.add_argument_group(meta(f)["help"] or f.name)
        _add_fields(group, kind, f"{prefix}{f.name}.", skip, aliases, values, required, _default(f))


def _default(f: dataclasses.Field):
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


def _shown(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return "none" if value is None else str(value)


def _typed(kind, name: str, spellings: dict[str, str], parse) -> dict:
    """argparse ``type``/``action`` for a field of annotation ``kind``."""
    args = typing.get_args(kind)
    optional = (typing.get_origin(kind) in (typing.Union, types.UnionType)) and type(None) in args
    inner = [a for a in args if a is not type(None)] if optional else [kind]
    base = inner[0] if len(inner) == 1 else None
    if base is bool:
        return {"action": argparse.BooleanOptionalAction, "metavar": None}
    if parse is not None:
        convert = parse
    elif base in (int, float, str):
        convert = base
    elif typing.get_origin(base) is tuple:
        element = [a for a in typing.get_args(base) if a is not Ellipsis][0]
        convert = _tuple_of(element)
    elif base is None and set(inner) <= {int, float, str}:  # e.g. float | str: a number if it reads as one
        convert = _number_or_text
    else:
        raise TypeError(f"no command-line type for {name}: {kind}")

    def typed(text: str):
        text = spellings.get(text, text)
        if optional and text.strip().lower() == "none":
            return None
        try:
            return convert(text)
        except (ValueError, TypeError):
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {name.replace('_', ' ')}"
                                             f"{' (or none)' if optional else ''}") from None

    typed.__name__ = name
    return {"type": typed}


def _tuple_of(element):
    def convert(text: str) -> tuple:
        return tuple(element(v) for v in text.split(","))

    return convert


def _number_or_text(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def given_settings(args: argparse.Namespace) -> dict:
    """The config settings typed on the command line, nested by their dotted destinations."""
    out: dict = {}
    for dest, value in vars(args).items():
        if dest.startswith("_") or dest in RUNTIME_FLAGS or not _is_setting(dest, args):
            continue
        *path, last = dest.split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return out


RUNTIME_FLAGS = ("func", "command", "action", "config", "overwrite", "resume", "quiet", "_settings")


def _is_setting(dest: str, args) -> bool:
    return dest.split(".")[0] in getattr(args, "_settings", ())


def config_from_args(cls, args: argparse.Namespace, resume: bool = False):
    """The config of a command: its defaults, then ``--config`` (or with ``resume`` the saved settings of the run
    in ``--out``), then the options given. Refusals of bad values are one sentence each (``PixelwiseError``), in
    the command line's words (``--patch-size=0``, not ``patch_size=0``)."""
    try:
        return _config_from_args(cls, args, resume)
    except PixelwiseError as err:
        raise PixelwiseError(cli_words(str(err), cls)) from None


def cli_words(message: str, cls) -> str:
    """``name=value`` of a config field -> ``--flag=value`` (its command-line option), in a refusal's sentence."""
    flags = {}
    for _, (_, f) in flat_settings_of(cls).items():
        flags[f.name] = meta(f)["flag"] or "--" + f.name.replace("_", "-")
    for name in sorted(flags, key=len, reverse=True):
        flag = flags[name]
        value = r"([^\s,;()]+?)"  # up to a space, a comma, a bracket or a sentence's last full stop
        message = re.sub(rf"(?<![\w.-]){name}={value}(?: \({re.escape(flag)}\))?(?=[\s,;)]|\.(?:\s|$)|$)",
                         lambda m, flag=flag: f"{flag}={m.group(1)}", message)
    return message


def flat_settings_of(cls, prefix: str = "") -> dict:
    """``{dotted name: (None, field)}`` over the fields of ``cls`` and its nested configs."""
    out, hints = {}, typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            out.update(flat_settings_of(hints[f.name], f"{prefix}{f.name}."))
        else:
            out[prefix + f.name] = (None, f)
    return out


def _config_from_args(cls, args: argparse.Namespace, resume: bool):
    given = given_settings(args)
    base = {f.name: _as_dict(_default(f)) for f in dataclasses.fields(cls)  # nested configs: the recipe's defaults
            if f.default is dataclasses.MISSING and dataclasses.is_dataclass(_default(f))}
    if getattr(args, "config", None):  # the file's settings and the options given make one config, checked once
        derived = {f.name for f in dataclasses.fields(cls) if meta(f)["derived"]}
        settings = {k: v for k, v in read_settings(args.config).items() if k not in derived}
        return config_from_dict(cls, _merge(_merge(base, settings), given), f"--config {args.config}", derived=False)
    if resume:
        out = given.get("out", next(f.default for f in dataclasses.fields(cls) if f.name == "out"))
        base = _as_dict(read_config(cls, out)) if Path(out, "config.json").is_file() else base
    return config_from_dict(cls, _merge(base, given), "the command line")


def _as_dict(config) -> dict:
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out[f.name] = _as_dict(value) if dataclasses.is_dataclass(value) else value
    return out


def _merge(base: dict, given: dict) -> dict:
    out = dict(base)
    for k, v in given.items():
        out[k] = _merge(out.get(k, {}), v) if isinstance(v, dict) else v
    return out


def settings_of(cls) -> tuple[str, ...]:
    """The top-level field names of ``cls`` (what :func:`given_settings` collects)."""
    return tuple(f.name for f in dataclasses.fields(cls))


def add_run_flags(parser: argparse.ArgumentParser, cls, resume: bool = True) -> None:
    """``--config``, ``--overwrite``, ``--resume``, ``--quiet`` and ``--threads`` of a command that writes a run
    folder, and the record of which destinations are settings of ``cls``."""
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="settings from a TOML file or a run's config.json; options given here win")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    if resume:
        parser.add_argument("--resume", action="store_true", help="continue the run in --out with its saved "
                            "settings; --epochs may raise its length, --minutes sets its total time budget")
    add_quiet(parser)
    add_threads(parser)
    parser.set_defaults(_settings=settings_of(cls))


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")


def check_required(config, names: tuple[str, ...], command: str) -> None:
    for name in names:
        if not getattr(config, name):
            raise PixelwiseError(f"`pixelwise {command}` needs --{name.replace('_', '-')} (on the command line or "
                                 "in --config).")


def logger(quiet: bool):
    """``print``, or with ``quiet`` a print that drops the per-epoch lines (the summaries stay)."""
    if not quiet:
        return print

    def log(line: str) -> None:
        if not line.startswith(("epoch ", "resuming at epoch")):
            print(line)

    return log


def add_which(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--which", default="best", choices=("best", "last"), help="checkpoint (default best)")


def add_eval_options(parser: argparse.ArgumentParser, data_help: str) -> None:
    """The options every ``eval`` command shares: the run, other data, the checkpoint, where other evaluations
    go (``RUN/evaluations/NAME`` or ``--out``), ``--quiet``."""
    parser.add_argument("--run", required=True, help="run folder")
    parser.add_argument("--data", default=None, help=data_help)
    add_which(parser)
    parser.add_argument("--name", default=None, help="folder name under RUN/evaluations/ (default: from the data and "
                        "settings)")
    parser.add_argument("--out", default=None, help="write this evaluation to a folder of your choice instead")
    add_quiet(parser)


def add_device(parser: argparse.ArgumentParser) -> None:
    """``--device`` of an inference command (training commands have it from their config)."""
    parser.add_argument("--device", default="auto", help="where the network runs: auto (CUDA, then MPS, else CPU), "
                        "cpu, cuda, cuda:N or mps (default auto)")


def add_tiles(parser: argparse.ArgumentParser) -> None:
    """``--tile --overlap --tile-batch``: sliding-window inference (:mod:`pixelwise.models.tiling`)."""
    group = parser.add_argument_group("large images", "predict window by window, blended with Gaussian weights "
                                      "(nnU-Net, MONAI): memory bounded by the windows in flight, not the image")
    group.add_argument("--tile", type=int, default=None, metavar="T", help="windows of T x T pixels (default: the "
                       "whole image at once)")
    group.add_argument("--overlap", type=float, default=0.25, help="share of a window its neighbour covers, in [0, 1) "
                       "(default 0.25; nnU-Net uses 0.5)")
    group.add_argument("--tile-batch", type=int, default=4, metavar="B", help="windows per forward pass (default 4)")


def tiles_of(args: argparse.Namespace):
    """The :class:`~pixelwise.models.tiling.Tiles` of ``--tile --overlap --tile-batch``."""
    from pixelwise.models.tiling import Tiles

    try:
        return Tiles(args.tile, args.overlap, args.tile_batch)
    except PixelwiseError as err:  # in the command line's words: --tile=0, not tile=0
        raise PixelwiseError(re.sub(r"\b(tile_batch|tile|overlap)=", lambda m: "--" + m[1].replace("_", "-") + "=",
                                    str(err))) from None


def add_threads(parser: argparse.ArgumentParser) -> None:
    from pixelwise.cli.types import threads

    parser.add_argument("--threads", type=threads, default=None, help="torch intra-op threads for this command "
                        "(default: torch's; results depend on it, so compare runs at the same count)")


def apply_threads(args: argparse.Namespace) -> None:
    """``torch.set_num_threads(--threads)`` for this process, when given."""
    if getattr(args, "threads", None) is not None:
        import torch

        torch.set_num_threads(args.threads)


def run_training(cls, run, args: argparse.Namespace) -> int:
    """A training command: its config from the options (:func:`config_from_args`), ``run`` with the run-folder
    flags, and the run folder printed."""
    from pixelwise.train.distributed import check_world, is_main

    config = config_from_args(cls, args, resume=args.resume)
    try:  # the device and a torchrun job's sizes, in the command line's words (RunFolder checks them again)
        check_world(config)
    except PixelwiseError as err:
        raise PixelwiseError(cli_words(str(err), cls)) from None
    main = is_main()  # under torchrun, process 0 alone prints (and writes)
    result = run(config, overwrite=args.overwrite, resume=args.resume, progress=main and not args.quiet,
                 log=logger(args.quiet) if main else (lambda _line: None))
    if main:
        print(f"run folder: {result.run_dir}")
    return 0


def evaluation_out(args: argparse.Namespace):
    """An eval command's ``--out``, checked before anything is read (None: the run's own folders)."""
    from pixelwise.cli.types import check_output

    return check_output(args.out, folder=True) if args.out is not None else None


def add_run_analysis(subparsers, name: str, cls, help: str, description: str, earlier: str, func):
    """A command that works on a trained run and writes to ``RUN/evaluations/NAME`` or ``--out`` (``attack``,
    ``invert``): the config's options (``--run`` required), ``--config`` and ``--quiet``."""
    p = subparsers.add_parser(name, help=help, description=description)
    add_config_options(p, cls, required=("run",))
    p.add_argument("--config", default=None, metavar="FILE", help=f"settings from a TOML file or an earlier "
                   f"{earlier}'s config.json; options given here win")
    add_quiet(p)
    p.set_defaults(func=func, _settings=settings_of(cls))
    return p


def run_analysis(args: argparse.Namespace, cls, run, command: str) -> int:
    """The body of such a command: its config from the arguments, checked, then ``run``."""
    from pixelwise.cli.types import check_output

    config = config_from_args(cls, args)
    check_required(config, ("run",), command)
    if config.out is not None:
        check_output(config.out, folder=True)
    run(config, progress=not args.quiet, log=logger(args.quiet))
    return 0

"""The command line's entry: its listing and the arch group load without torch (fast --help), every group's
parser builds, and usage errors exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pixelwise.cli import COMMAND_GROUPS, build_parser, main


@pytest.mark.parametrize("argv", [["--help"], ["arch", "--help"], ["arch", "rf", "--help"], [], ["register", "--help"],
                                  ["segment", "baseline", "--help"]],
                         ids=["help", "arch-help", "arch-rf-help", "nothing", "register-help", "baseline-help"])
def test_help_does_not_import_torch(argv):
    code = (f"import sys\nfrom pixelwise.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules, 'numpy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip().splitlines()[-1] == "False False", done.stdout + done.stderr


def test_every_group_builds_and_lists_itself(capsys):
    parser = build_parser()  # every group in full
    for name in COMMAND_GROUPS:
        with pytest.raises(SystemExit) as info:
            parser.parse_args([name, "--help"])
        assert info.value.code == 0
    with pytest.raises(SystemExit):
        main(["--help"])
    listing = capsys.readouterr().out
    assert all(f"    {name}" in listing for name in COMMAND_GROUPS)


def test_an_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["segmnt", "train"])
    assert info.value.code == 2 and "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("package", ["pixelwise.train", "pixelwise.tasks.segment", "pixelwise.tasks.solve",
                                     "pixelwise.tasks.restore", "pixelwise.tasks.latent", "pixelwise.tasks.diffuse",
                                     "pixelwise.tasks.register"])
def test_lazy_packages_export_what_they_list(package):
    """Every listed name loads (and is no module: a submodule named like an export would shadow it)."""
    import importlib
    import pkgutil
    import types

    module = importlib.import_module(package)
    submodules = {m.name for m in pkgutil.iter_modules(module.__path__)}
    assert not set(module.__all__) & submodules
    for name in module.__all__:
        assert not isinstance(getattr(module, name), types.ModuleType), name
    with pytest.raises(AttributeError, match="no attribute"):
        module.no_such_name  # noqa: B018


def _commands():
    """(``"group command"``, its parser) for every command of every group (a group without commands: itself)."""
    groups = build_parser()._subparsers._group_actions[0].choices
    for name, group in groups.items():
        actions = [a for a in group._actions if a.__class__.__name__ == "_SubParsersAction"]
        yield from ((f"{name} {c}", sub) for c, sub in (actions[0].choices.items() if actions else [(name, group)]))


def test_every_command_takes_quiet():
    """--quiet on every command of every group (tqdm bars and per-epoch lines off where a command has them)."""
    missing = [command for command, sub in _commands() if not any("--quiet" in a.option_strings for a in sub._actions)]
    assert missing == []


def test_every_command_that_writes_a_run_folder_takes_threads():
    """--threads wherever --overwrite is (training, solve, explain, register, baselines): a benchmark or a user on a
    shared machine can hold any of them to its cores."""
    missing = []
    for command, sub in _commands():
        flags = {s for a in sub._actions for s in a.option_strings}
        if "--overwrite" in flags and "--threads" not in flags:
            missing.append(command)
    assert missing == []
    assert build_parser().parse_args(["restore", "train", "--threads", "1"]).threads == 1


@pytest.mark.parametrize("err, words", [
    (MemoryError(), "out of memory: these settings"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you "
                  "tried to allocate 3221225472 bytes. Error code 12"), "out of memory (3.0 GiB at once)"),
    (RuntimeError("shapes (2, 3) and (4, 5) cannot be multiplied"), None),  # a bug keeps its traceback
])
def test_an_allocation_the_machine_refuses_is_one_sentence(err, words):
    from pixelwise.cli import out_of_memory

    message = out_of_memory(err)
    assert message is None if words is None else (words in message and message.endswith("."))

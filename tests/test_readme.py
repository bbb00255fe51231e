"""Every example in the README runs: its Python blocks as they are, its `pixelwise ...` command lines with
the placeholders (DIR, IMAGE_OR_DIR..., photo.png) replaced by small generated files and long time budgets
cut short. The benchmark and make lines are not run here (CI runs `make test` itself)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from pixelwise.cli import main
from pixelwise.data.io import write_image

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def command_lines() -> list[list[str]]:
    out = []
    for block in blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():  # join continued lines
            if line.startswith("pixelwise "):
                out.append(shlex.split(line, comments=True)[1:])
    return out


def test_readme_has_examples():
    assert blocks("python") and len(command_lines()) >= 10


@pytest.mark.slow
def test_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for code in blocks("python"):
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})


@pytest.mark.slow
def test_command_examples_run(tmp_path, monkeypatch, polyp_folder):
    monkeypatch.chdir(tmp_path)
    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:48]
    write_image(photo, (128 + 60 * np.sin(xx / 5) * np.cos(yy / 7) + rng.normal(0, 5, (48, 48))).clip(0, 255)
                .astype(np.uint8))
    substitutions = {"DIR": str(polyp_folder), "IMAGE_OR_DIR...": str(polyp_folder / "images"), "photo.png": str(photo)}
    for args in command_lines():
        args = [substitutions.get(a, a) for a in args]
        if "--minutes" in args:  # keep the example's form, not its length
            args[args.index("--minutes") + 1] = "0.03"
        if args[:2] == ["segment", "train"]:
            args += ["--size", "32", "--base-channels", "4", "--depth", "2", "--batch-size", "4"]
        assert main(args) == 0, f"README example failed: pixelwise {' '.join(args)}"

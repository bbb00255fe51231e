"""Every example in the README runs and does what the README says: its Python blocks print what they should, and
each `pixelwise ...` command line (placeholders such as DIR, IMAGE_OR_DIR..., photo.png replaced by small generated
files, long budgets cut short) writes or prints what a check of its own expects. A new README command without a
check fails `test_every_command_has_a_check`. The benchmark and make lines are not run here."""

from __future__ import annotations

import io
import json
import re
import shlex
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelwise.cli import main
from pixelwise.data.io import write_image

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def command_lines() -> list[list[str]]:
    """The arguments of every ``pixelwise ...`` line of the README's bash blocks."""
    out = []
    for block in blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():  # join continued lines
            if line.startswith("pixelwise "):
                out.append(shlex.split(line, comments=True)[1:])
    return out


def _json(path) -> dict:
    return json.loads(Path(path).read_text())


def _run_folder(out: str, *extra: str) -> None:
    """A training command's run folder: its settings, checkpoints, history and test metrics."""
    for name in ("config.json", "history.csv", "checkpoints/last_state.pt", "checkpoints/best.safetensors",
                 "metrics.json", "report.html", *extra):
        assert (Path(out) / name).is_file(), f"{out}/{name}"


def _masks_like(folder: str, images: Path) -> None:
    written = sorted(Path(folder).glob("*.png"))
    assert len(written) == len(list(images.iterdir()))
    for mask in written[:5]:
        assert Image.open(mask).size == Image.open(next(images.glob(mask.stem + ".*"))).size
        assert set(np.unique(np.asarray(Image.open(mask))).tolist()) <= {0, 255}


def _image(path: str, size: tuple[int, int] | None = None) -> None:
    assert Path(path).is_file(), path
    if size is not None:
        assert Image.open(path).size == size


def _solve(out: str, methods: tuple[str, ...], printed: str) -> None:
    metrics = _json(Path(out) / "metrics.json")
    assert tuple(metrics["methods"]) == methods and "psnr" in metrics["naive"]
    assert all(m in printed for m in methods)  # the table
    best = max(metrics["methods"][m]["psnr"] for m in methods)
    assert best > metrics["naive"]["psnr"]  # on this smooth test image a solver beats the naive reconstruction
    assert (Path(out) / "figure.png").is_file() and (Path(out) / "config.json").is_file()


# (pattern over the command line, check(match, printed output, context)); the first pattern that matches applies
CHECKS = [
    (r"segment train .*--resume", lambda m, out, c: len(_json_lines(Path("runs/from-toml/history.csv"))) == 5),
    (r"segment train --config polyps.toml --out (\S+)",
     lambda m, out, c: _run_folder(m[1]) or _json(f"{m[1]}/config.json")["size"] == 32),
    (r"segment train --config (\S+) --out (\S+) --seed 1",
     lambda m, out, c: _run_folder(m[2]) or _same_settings(m[1], f"{m[2]}/config.json", "seed", "out", "norm_mean",
                                                           "norm_std")),
    (r"segment train .*--out (\S+)", lambda m, out, c: _run_folder(m[1], "per_case.csv", "split.json",
                                                                  "plots/loss.png")),
    (r"segment eval --run (\S+) --tta flips", lambda m, out, c: _json(
        f"{m[1]}/evaluations/test-tta-flips/metrics.json")["tta"] == "flips"),
    (r"segment eval --run (\S+)$", lambda m, out, c: "Dice" in out and _json(f"{m[1]}/metrics.json")["source"]
     == "test split"),
    (r"segment predict --run \S+ (\S+) --out (\S+)", lambda m, out, c: _masks_like(m[2], Path(m[1]))),
    (r"solve .*--compare --generator \S+ --diffusion \S+ --out (\S+)", lambda m, out, c: _solve(
        m[1], ("adjoint", "cg", "tikhonov", "tv", "pgd", "csgm", "dps"), out)),  # 8x8 digits: no wavelet level
    (r"solve .*--compare --out (\S+)", lambda m, out, c: _solve(m[1], ("adjoint", "cg", "tikhonov", "tv", "pgd",
                                                                     "wavelet"), out)),
    (r"solve .*--method (pnp|red) --denoiser (\S+) --out (\S+)", lambda m, out, c: _json(f"{m[3]}/metrics.json")[
        "methods"][m[1]]["prior"]["run"] == str(Path(m[2]).resolve())),
    (r"solve --config (\S+) --out (\S+)", lambda m, out, c: _json(f"{m[2]}/metrics.json")["methods"] == _json(
        f"{Path(m[1]).parent}/metrics.json")["methods"] or _same_methods(m[1], m[2])),
    (r"solve .*--method (\S+) .*--out (\S+)", lambda m, out, c: _solve(m[2], (m[1],), out)),
    (r"restore train --out (\S+) --minutes (\S+) --resume", lambda m, out, c: _json(f"{m[1]}/config.json")[
        "minutes"] == float(m[2]) and "resuming at epoch" in out),
    (r"restore train .*--out (\S+)", lambda m, out, c: _run_folder(m[1], "per_case.csv")),
    (r"restore eval --run (\S+) --data bundled", lambda m, out, c: _json(
        f"{m[1]}/evaluations/bundled-denoise/metrics.json")["count"] == 2),
    (r"restore apply --run \S+ (\S+) --out (\S+)", lambda m, out, c: _image(f"{m[2]}/photo.png",
                                                                              Image.open(m[1]).size)),
    (r"restore dip .*--curves --out (\S+)", lambda m, out, c: (Path(m[1]) / "plots" / "curves.png").is_file() and
     _json(f"{m[1]}/metrics.json")["dip"]["stopped_by"] in ("discrepancy", "budget")),
    (r"restore dip .*--out (\S+)", lambda m, out, c: _image(f"{m[1]}/figure.png") or (Path(m[1]) / "trace.csv")
     .is_file()),
    (r"latent train .*--model vqvae .*--out (\S+)", lambda m, out, c: _run_folder(
        m[1], "prior/checkpoints/best.safetensors") or "prior_bits_per_code" in _json(f"{m[1]}/metrics.json")[
        "metrics"]),
    (r"latent train .*--out (\S+)", lambda m, out, c: _run_folder(m[1]) or "mse" in _json(
        f"{m[1]}/metrics.json")["metrics"]),
    (r"latent eval --run (\S+)", lambda m, out, c: "MSE" in out),
    (r"(latent|diffuse) sample .*-n (\d+) .*--out (\S+)", lambda m, out, c: _image(m[3]) or (
        m[1] == "latent" or np.load(Path(m[3]).with_suffix(".npy")).shape[0] == int(m[2]))),
    (r"diffuse train .*--out (\S+)", lambda m, out, c: _run_folder(m[1], "plots/samples.png")),
    (r'arch rf conv k=5 s=2; conv k=3; conv k=5 d=2', lambda m, out, c: re.findall(
        r"^\d\s+conv.*?\s(\d+)\s+2\s", out, re.M) == ["5", "9", "25"]),  # RF by hand: 5, 5 + 2*2, 9 + 4*2*2
    (r"arch rf unet", lambda m, out, c: "receptive field" in out),
    (r"arch shape unet .*572", lambda m, out, c: "1x3x572x572 -> 1x1x388x388" in out),  # Ronneberger et al. Fig. 1
    (r"arch shape conv k=3; conv k=3; pool k=2 --input 572", lambda m, out, c: re.search(
        r"conv k=3\s+570\n.*conv k=3\s+568\n.*pool k=2 s=2\s+284", out) and "6, 8, 10" in out),
    (r"arch summary unet", lambda m, out, c: "total parameters: 7,763,041" in out),
    # M^T vec(y) for y = [[1, 2], [0, 1]] by hand: row 0 of M plus twice row 1 plus row 3
    (r"arch conv-matrix", lambda m, out, c: " 1  4  7  6" in out and "4 x 16" in out),
    (r"arch erf \S+ --out (\S+)", lambda m, out, c: _image(m[1])),
]


def _json_lines(path: Path) -> list[str]:
    return path.read_text().strip().splitlines()[1:]


def _same_settings(a: str, b: str, *allowed: str) -> bool:
    first, second = _json(a), _json(b)
    differ = sorted(k for k in first if first[k] != second.get(k))
    assert set(differ) <= set(allowed), differ
    return True


def _same_methods(a: str, b: str) -> bool:
    first, second = _json(Path(a).parent / "metrics.json"), _json(Path(b) / "metrics.json")
    assert {k: v["psnr"] for k, v in first["methods"].items()} == {k: v["psnr"] for k, v in second["methods"].items()}
    return True


def check_for(line: str):
    for pattern, check in CHECKS:
        match = re.search(pattern, line)
        if match:
            return match, check
    return None, None


def test_every_command_has_a_check():
    lines = [" ".join(args) for args in command_lines()]
    assert len(lines) >= 25 and blocks("python") and blocks("toml")
    assert [line for line in lines if check_for(line)[1] is None] == []


PYTHON_PRINTS = [r"^(0(\.\d+)?|1\.0)$", r"^(\d+\.\d{3}) -> (\d+\.\d{3})$"]  # the last line each block prints


@pytest.mark.slow
def test_python_examples_run_and_print_what_they_should(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    python = blocks("python")
    assert len(python) == len(PYTHON_PRINTS)
    for code, expected in zip(python, PYTHON_PRINTS):
        printed = io.StringIO()
        with redirect_stdout(printed):
            exec(compile(code, str(README), "exec"), {"__name__": "readme"})
        match = re.match(expected, printed.getvalue().strip().splitlines()[-1])
        assert match, printed.getvalue()
        if "->" in match[0]:  # the loss of the user's own network fell
            assert float(match[2]) < float(match[1])


@pytest.mark.slow
def test_command_examples_run_and_write_what_they_say(tmp_path, monkeypatch, polyp_folder):
    monkeypatch.chdir(tmp_path)
    photo = tmp_path / "photo.png"
    yy, xx = np.mgrid[0:48, 0:48]
    rng = np.random.default_rng(0)
    write_image(photo, (128 + 60 * np.sin(xx / 5) * np.cos(yy / 7) + rng.normal(0, 5, (48, 48))).clip(0, 255)
                .astype(np.uint8))
    (tmp_path / "polyps.toml").write_text(blocks("toml")[0].replace('"DIR"', f'"{polyp_folder}"'))
    digit = tmp_path / "digit.png"  # an 8x8 digit, the size of the README's digit runs
    write_image(digit, (np.kron(np.eye(4), np.ones((2, 2))) * 255).astype(np.uint8))
    substitutions = {"DIR": str(polyp_folder), "IMAGE_OR_DIR...": str(polyp_folder / "images"), "photo.png": str(photo),
                     "digit.png": str(digit)}
    for args in command_lines():
        line = " ".join(args)
        args = [substitutions.get(a, a) for a in args]
        if "--minutes" in args:  # keep the example's form, not its length (a resumed run: a little longer)
            args[args.index("--minutes") + 1] = "0.15" if "--resume" in args else "0.03"
        if args[:2] == ["segment", "train"] and "--config" not in args and "--resume" not in args:
            args += ["--size", "32", "--base-channels", "4", "--depth", "2", "--batch-size", "4"]
        if args[:2] == ["restore", "train"] and "--resume" not in args:  # short epochs, so that a resume fits one
            args += ["--steps-per-epoch", "5"]
        printed = io.StringIO()
        with redirect_stdout(printed):
            code = main(args)
        assert code == 0, f"README example failed: pixelwise {line}"
        match, check = check_for(" ".join(args))  # the line as it ran (placeholders replaced)
        result = check(match, printed.getvalue(), tmp_path)
        assert result is None or result, f"README example did not do what it says: pixelwise {line}"

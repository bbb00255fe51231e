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


def _prior_run(row: dict, run: str, searched: bool) -> bool:
    """A learned method's row names the denoiser run it used, and has its weight search when one was asked for."""
    return row["prior"]["run"] == str(Path(run).resolve()) and ("lambda_search" in row) == searched


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def command_lines() -> list[list[str]]:
    """The arguments of every ``pixelwise ...`` line of the README's bash blocks (``torchrun ... -m pixelwise ...``
    lines with torchrun's own options first, ending in ``-m pixelwise``)."""
    out = []
    for block in blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():  # join continued lines
            if line.startswith(("pixelwise ", "torchrun ")):
                args = shlex.split(line, comments=True)
                out.append(args[1:] if args[0] == "pixelwise" else args)
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
    (r"explain .*--method filters,maximise --out (\S+)", lambda m, out, c: _image(f"{m[1]}/plots/filters.png") or
     _image(f"{m[1]}/plots/maximise.png") or "maximise" in _json(f"{m[1]}/metrics.json")),
    (r"explain .*--target box:(\d+),(\d+),(\d+),(\d+) --out (\S+)", lambda m, out, c: "box (" + ", ".join(m.groups()[
        :4]) + ")" in _json(f"{m[5]}/metrics.json")["images"][0]["target"]),
    (r"explain --run \S+ (\S+) --out (\S+)", lambda m, out, c: _explained(m[2], Path(m[1]).stem)),
    (r"attack --run (\S+) --method (\S+) --epsilon (\S+)", lambda m, out, c: [x["epsilon"] for x in _json(
        f"{m[1]}/evaluations/attack-{m[2]}/metrics.json")["curve"]] == [0, 1 / 255, 2 / 255, 4 / 255]),
    (r"segment train .*--adversarial (\S+) .*--out (\S+)", lambda m, out, c: _run_folder(m[2]) or _json(
        f"{m[2]}/metrics.json")["adversarial_training"]["attack"] == m[1]),
    (r"classify train .*--dp-epsilon (\S+) .*--out (\S+)", lambda m, out, c: _run_folder(m[2]) or 0 < _json(
        f"{m[2]}/metrics.json")["privacy"]["epsilon"] <= float(m[1])),
    (r"classify train .*--clients (\d+) .*--out (\S+)", lambda m, out, c: _run_folder(m[2]) or len(_json(
        f"{m[2]}/metrics.json")["federated"]["cases_per_client"]) == int(m[1])),
    (r"classify train .*--out (\S+)", lambda m, out, c: _run_folder(m[1], "per_case.csv", "split.json") or 0.5 < _json(
        f"{m[1]}/metrics.json")["accuracy"] <= 1),
    (r"invert --run (\S+) --batch (\d+)", lambda m, out, c: len([f for f in Path(m[1]).glob(
        f"evaluations/invert-b{m[2]}*/metrics.json") if _json(f)["psnr"]["n"] == int(m[2])]) == 1),
    (r"^info$", lambda m, out, c: "torch build:" in out and "devices:" in out and "BLAS" in out),
    (r"^torchrun .*segment train .*--out (\S+)", lambda m, out, c: _run_folder(m[1]) or out.count("run folder:") == 1),
    (r"export --run \S+ --format onnx --out (\S+)", lambda m, out, c: Path(m[1]).is_file() and "ONNX opset 17" in out),
    (r"segment eval --run (\S+) --tile (\d+)", lambda m, out, c: _json(
        f"{m[1]}/evaluations/test-tile-{m[2]}/metrics.json")["source"] == "test split"),
    (r"segment train .*--resume", lambda m, out, c: len(_json_lines(Path("runs/from-toml/history.csv"))) == 5),
    (r"segment train --config polyps.toml --out (\S+)",
     lambda m, out, c: _run_folder(m[1]) or _json(f"{m[1]}/config.json")["size"] == 32),
    (r"segment train --config (\S+) --out (\S+) --seed 1",
     lambda m, out, c: _run_folder(m[2]) or _same_settings(m[1], f"{m[2]}/config.json", "seed", "out", "norm_mean",
                                                           "norm_std")),
    (r"segment train .*--init (\S+) .*--label-fraction (\S+) .*--out (\S+)",
     lambda m, out, c: _run_folder(m[3]) or (f"tensors from the pretrain run {m[1]}" in out and _labelled(m[3], m[2]))),
    (r"segment train .*--label-fraction (\S+) .*--out (\S+)", lambda m, out, c: _run_folder(m[2]) or _labelled(
        m[2], m[1])),
    (r"segment compare (\S+) (\S+) --out (\S+)", lambda m, out, c: _compared(m[3], m[1], m[2], "dice", out)),
    (r"restore compare (\S+) (\S+) --out (\S+)", lambda m, out, c: _compared(m[3], m[1], m[2], "psnr", out)),
    (r"pretrain train .*--out (\S+)", lambda m, out, c: _run_folder(m[1], "split.json", "plots/views.png") or "top1" in
     _json(f"{m[1]}/metrics.json")["metrics"]),
    (r"pretrain eval --run (\S+) --probe --data (\S+)", lambda m, out, c: "linear probe on" in out and set(_json(
        f"{m[1]}/evaluations/probe-{m[2]}/metrics.json")["accuracy"]) == {"pretrained", "random", "supervised"}),
    (r"segment train .*--out (\S+)", lambda m, out, c: _run_folder(m[1], "per_case.csv", "split.json",
                                                                  "plots/loss.png")),
    (r"segment baseline --method atlas .*--like (\S+) --out (\S+)", lambda m, out, c: _baseline(m[2], m[1]) and all(
        len(r["atlases"].split(";")) == 5 for r in _csv(f"{m[2]}/per_case.csv"))),
    (r"segment baseline --method (\S+) --like (\S+) --out (\S+)", lambda m, out, c: _baseline(m[3], m[2])),
    (r"segment baseline --method (\S+) .*--out (\S+)", lambda m, out, c: _baseline(m[2]) and _json(
        f"{m[2]}/metrics.json")["tuning"]["channel"] in {r[0] for r in _json(f"{m[2]}/metrics.json")["tuning"][
            "table"]}),
    (r"segment eval --run (\S+) --spacing 0.5,0.5", lambda m, out, c: _json(
        f"{m[1]}/evaluations/test-spacing-0.5-0.5/metrics.json")["metrics"]["hd"]["mean"] == pytest.approx(
        _json(f"{m[1]}/metrics.json")["metrics"]["hd"]["mean"] / 2)),
    (r"register \S+ \S+ --transform deformable .*--out (\S+)", lambda m, out, c: _registered(m[1]) and (
        Path(m[1]) / "displacement.npy").is_file()),
    (r"register \S+ \S+ .*--metric (\S+) .*--out (\S+)", lambda m, out, c: _registered(m[2]) and _json(
        f"{m[2]}/metrics.json")["after"][m[1]] > _json(f"{m[2]}/metrics.json")["before"][m[1]]),
    (r"segment eval --run (\S+) --tta flips", lambda m, out, c: _json(
        f"{m[1]}/evaluations/test-tta-flips/metrics.json")["tta"] == "flips"),
    (r"segment eval --run (\S+)$", lambda m, out, c: "Dice" in out and _json(f"{m[1]}/metrics.json")["source"]
     == "test split"),
    (r"segment predict --run \S+ (\S+) --out (\S+)", lambda m, out, c: _masks_like(m[2], Path(m[1]))),
    (r"solve .*--compare --generator \S+ --diffusion \S+ --out (\S+)", lambda m, out, c: _solve(
        m[1], ("adjoint", "cg", "tikhonov", "tv", "pgd", "csgm", "dps"), out)),  # 8x8 digits: no wavelet level
    (r"solve .*--compare --out (\S+)", lambda m, out, c: _solve(m[1], ("adjoint", "cg", "tikhonov", "tv", "pgd",
                                                                     "wavelet"), out)),
    (r"solve .*--method (pnp|red) --denoiser (\S+) (--lambda auto )?--out (\S+)", lambda m, out, c: _prior_run(
        _json(f"{m[4]}/metrics.json")["methods"][m[1]], m[2], searched=bool(m[3]))),
    (r"solve --config (\S+) --out (\S+)", lambda m, out, c: _json(f"{m[2]}/metrics.json")["methods"] == _json(
        f"{Path(m[1]).parent}/metrics.json")["methods"] or _same_methods(m[1], m[2])),
    (r"solve .*--method (\S+) .*--out (\S+)", lambda m, out, c: _solve(m[2], (m[1],), out)),
    # the new budget is the run's; whether one more epoch fits in it depends on this machine's speed
    (r"restore train --out (\S+) --minutes (\S+) --resume", lambda m, out, c: _json(f"{m[1]}/config.json")[
        "minutes"] == float(m[2]) and ("resuming at epoch" in out or "nothing to resume" in out)),
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


def _labelled(run: str, fraction: str) -> bool:
    """The run trained on round(F n) of its n training cases, and kept the full split's test cases."""
    split = _json(f"{run}/split.json")
    return len(split["labelled"]) == round(float(fraction) * len(split["train"])) and len(split["test"]) > 0


def _compared(out: str, a: str, b: str, key: str, printed: str) -> bool:
    metrics = _json(f"{out}/metrics.json")
    names = [Path(a).name, Path(b).name]
    assert metrics["runs"] == names and key in metrics["comparison"]["difference"][names[1]]
    assert (Path(out) / "report.html").is_file() and (Path(out) / "per_case.csv").is_file()
    return f"{names[1]} - {names[0]}: {key}" in printed


def _explained(out: str, stem: str) -> None:
    for method in ("saliency", "smoothgrad", "gradient_x_input", "guided_backprop", "occlusion"):
        assert (Path(out) / "maps" / f"{stem}_{method}.npy").is_file(), method
    _image(f"{out}/plots/{stem}.png")
    assert (Path(out) / "report.html").is_file()


def _csv(path) -> list[dict]:
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _baseline(out: str, like: str | None = None) -> bool:
    """A baseline's run folder, scored like the network's (the same metric keys and, with --like, the same cases)."""
    _run_folder_files = ("config.json", "split.json", "metrics.json", "per_case.csv", "report.html")
    assert all((Path(out) / name).is_file() for name in _run_folder_files), out
    metrics = _json(f"{out}/metrics.json")
    assert {"metrics", "categories", "tiers", "by_size"} <= set(metrics)
    if like is not None:
        assert [r["id"] for r in _csv(f"{out}/per_case.csv")] == _json(f"{like}/split.json")["test"]
        assert metrics["versus"]["n_cases"] == len(_json(f"{like}/split.json")["test"])
        assert set(metrics["metrics"]) == set(_json(f"{like}/metrics.json")["metrics"])
    return True


def _registered(out: str) -> bool:
    for name in ("warped.png", "transform.json", "metrics.json", "figure.png", "config.json"):
        assert (Path(out) / name).is_file(), f"{out}/{name}"
    return _json(f"{out}/metrics.json")["inverse_consistency"]["mean"] < 1.0


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


def _absent_device(args: list[str]) -> bool:
    if "--device" not in args or args[args.index("--device") + 1] in ("auto", "cpu"):
        return False
    from pixelwise.errors import PixelwiseError
    from pixelwise.train.devices import resolve_device

    try:
        resolve_device(args[args.index("--device") + 1])
    except PixelwiseError:
        return True
    return False


def _torchrun(args: list[str]) -> tuple[int, str]:
    """A ``torchrun ... -m pixelwise ...`` line, on this machine (--standalone), with the small test settings."""
    import os
    import subprocess
    import sys

    start = args.index("-m")
    command = args[start + 2:] + ["--size", "32", "--base-channels", "4", "--depth", "2", "--batch-size", "4",
                                  "--epochs", "1", "--quiet"]
    command = [a for i, a in enumerate(command) if a != "--minutes" and (i == 0 or command[i - 1] != "--minutes")]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", *args[1:start], "-m",
                           "pixelwise", *command], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.returncode, done.stdout


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


PYTHON_PRINTS = [r"^(0(\.\d+)?|1\.0)$", r"^(\d+\.\d{3}) -> (\d+\.\d{3})$",  # the last line each block prints
                 r"^3 stray truth pixels 40 px away: Dice 0\.9963, HD 40, HD95 0$"]


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
    moving = tmp_path / "moving.png"  # the photo moved by 2 rows and -3 columns, for the registration examples
    write_image(moving, np.roll(np.asarray(Image.open(photo)), (2, -3), (0, 1)))
    digit = tmp_path / "digit.png"  # an 8x8 digit, the size of the README's digit runs
    write_image(digit, (np.kron(np.eye(4), np.ones((2, 2))) * 255).astype(np.uint8))
    substitutions = {"DIR": str(polyp_folder), "IMAGE_OR_DIR...": str(polyp_folder / "images"), "photo.png": str(photo),
                     "fixed.png": str(photo), "moving.png": str(moving), "digit.png": str(digit)}
    for args in command_lines():
        line = " ".join(args)
        args = [substitutions.get(a, a) for a in args]
        if _absent_device(args):  # a GPU example on a machine without one
            continue
        if "--minutes" in args:  # keep the example's form, not its length (a resumed run: a little longer)
            args[args.index("--minutes") + 1] = "0.15" if "--resume" in args else "0.03"
        if args[:2] in (["segment", "train"], ["pretrain", "train"]) and str(polyp_folder) in args and not (
                "--config" in args or "--resume" in args):  # the pretrained encoder fits the segmentation model
            args += ["--size", "32", "--base-channels", "4", "--depth", "2", "--batch-size", "4"]
        if "--supervised-minutes" in args:
            args[args.index("--supervised-minutes") + 1] = "0.03"
        if args[:2] == ["segment", "baseline"]:  # small working sizes and short registrations
            args += ["--work-size", "32", "--atlas-size", "24", "--iterations", "10", "--tune-cases", "8"]
        if args[0] == "register":
            args += ["--iterations", "40", "--levels", "2"]
        if args[:2] == ["restore", "train"] and "--resume" not in args:  # short epochs, so that a resume fits one;
            args += ["--steps-per-epoch", "5", "--tv-iterations", "300"]  # a shorter TV baseline
        if args[:2] == ["segment", "train"] and "--adversarial" in args:
            args += ["--adv-steps", "2"]
        if args[0] == "invert":
            args += ["--iterations", "60"]
        if args[0] == "attack":
            args += ["--max-cases", "4"]
        for option, small in (("--tile", "16"), ("--patch", "16")):  # windows and crops of the small test images
            if option in args:
                args[args.index(option) + 1] = small
        if args[0] == "torchrun":
            code, output = _torchrun(args)
        else:
            printed = io.StringIO()
            with redirect_stdout(printed):
                code = main(args)
            output = printed.getvalue()
        assert code == 0, f"README example failed: pixelwise {line}"
        match, check = check_for(" ".join(args))  # the line as it ran (placeholders replaced)
        result = check(match, output, tmp_path)
        assert result is None or result, f"README example did not do what it says: pixelwise {line}"

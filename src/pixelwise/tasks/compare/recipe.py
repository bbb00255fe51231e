"""``compare(runs, kind, out)``: two or more runs of one command, compared case by case on the same test cases."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from pixelwise.errors import PixelwiseError
from pixelwise.metrics import CATEGORIES
from pixelwise.metrics.compare import category_table, paired_comparison
from pixelwise.tasks.compare.figures import disagreements
from pixelwise.tasks.compare.kinds import KINDS, Kind
from pixelwise.tasks.compare.results import Result, check_comparable, read_result, unique_names
from pixelwise.train.files import write_csv, write_json


def compare(runs: Sequence[str | Path], kind: str | Kind, out: str | Path, *, figure_cases: int = 4, tie: float = 0.0,
            seed: int = 0, log: Callable[[str], None] = print) -> dict:
    """Compare the test results of ``runs`` (run folders, or their ``evaluations/NAME`` folders) of one command
    (``kind``: "segment" or "restore"): every run's summaries, each run minus the first with a seeded paired bootstrap
    interval, wins / ties / losses by case (``tie``: the largest difference that counts as a tie), case categories
    side by side, and a figure of the ``figure_cases`` cases where the runs disagree most. Runs whose tasks or test
    cases differ are refused. Writes ``metrics.json``, ``per_case.csv``, ``plots/disagreements.png`` and
    ``report.html`` to ``out`` and returns the metrics."""
    from pixelwise.report.compare import write_compare_report

    kind = KINDS[kind] if isinstance(kind, str) else kind
    if len(runs) < 2:
        raise PixelwiseError(f"`pixelwise {kind.command} compare` needs at least two runs, got {len(runs)}.")
    if not tie >= 0:
        raise PixelwiseError(f"--tie {tie} must be >= 0 (the largest difference counted as a tie).")
    if figure_cases < 0:
        raise PixelwiseError(f"--figure-cases {figure_cases} must be >= 0.")
    results = [read_result(r, kind.config_class(), kind.id_column) for r in runs]
    unique_names(results)
    check_comparable(results, kind.task)
    keys = [k for k in kind.keys if all(kind.columns.get(k, k) in next(iter(r.cases.values())) for r in results)]
    ids = sorted(results[0].cases)
    rows = [{"id": case, **{f"{k}_{r.name}": float(r.cases[case][kind.columns.get(k, k)]) for r in results
                            for k in keys}} for case in ids]
    names = [r.name for r in results]
    comparison = paired_comparison(rows, names, keys, seed, {k: kind.higher_is_better[k] for k in keys},
                                   {k: tie for k in keys})
    ranked = disagreements({row["id"]: [row[f"{keys[0]}_{n}"] for n in names] for row in rows}, len(rows))
    result = {"command": kind.command, "runs": names, "folders": {r.name: str(r.folder.resolve()) for r in results},
              "source": results[0].metrics.get("source"), "n_cases": len(ids), "keys": keys,
              "higher": {k: kind.higher_is_better[k] for k in keys}, "tie": tie, "comparison": comparison,
              "per_case": sorted(rows, key=lambda row: ranked.index(row["id"]))}
    if kind.category:
        result["categories"] = _categories(results, ids, kind.category)
    out = Path(out)
    figure = _figure(kind, results, ranked[:figure_cases], out, result, log)
    write_json(out / "metrics.json", result)
    write_csv(out / "per_case.csv", result["per_case"])
    report = write_compare_report(out, result, figure)
    _log(result, report, log)
    return result


def _categories(results: list[Result], ids: list[str], column: str) -> dict:
    counts = {r.name: {c: sum(r.cases[i][column] == c for i in ids) for c in CATEGORIES} for r in results}
    ref = [results[0].cases[i][column] for i in ids]
    moves = {r.name: category_table(ref, [r.cases[i][column] for i in ids]) for r in results[1:]}
    return {"counts": counts, "moves": moves}


def _figure(kind: Kind, results: list[Result], ids: list[str], out: Path, result: dict, log) -> Path | None:
    if not ids or kind.figure is None:
        return None
    try:
        return kind.figure(results, ids, out / "plots" / "disagreements.png")
    except PixelwiseError as err:  # the data or a checkpoint has gone: the numbers stand without the pictures
        result["figure_note"] = f"no figure: {err}"
        log(f"no figure of the disagreements: {err}")
        return None


def _log(result: dict, report: Path, log: Callable[[str], None]) -> None:
    comparison, key = result["comparison"], result["keys"][0]
    parts = []
    for run, diff in comparison["difference"].items():
        d = diff[key]
        parts.append(f"{run} - {comparison['reference']}: {key} {d['mean']:+.3f} [{d['ci_low']:+.3f}, "
                     f"{d['ci_high']:+.3f}], {d['wins']} wins / {d['ties']} ties / {d['losses']} losses")
    means = ", ".join(f"{run} {s[key]['mean']:.3f}" for run, s in comparison["summary"].items())
    log(f"{result['n_cases']} cases: {key} {means}; " + "; ".join(parts) + f"; report {report}")

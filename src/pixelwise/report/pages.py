"""A plain report page for the recipes that explain, attack and protect networks: a title, paragraphs, tables of
numbers, the figures in ``plots/`` (or elsewhere under the folder) and the metrics as JSON."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

from pixelwise.train.files import write_text


def table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """An HTML table; floats with 4 significant digits."""
    def cell(v) -> str:
        return f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_page(dest: str | Path, title: str, paragraphs: Sequence[str] = (), tables: Sequence[str] = (),
               figures: Sequence[Path | None] = (), metrics: dict | None = None) -> Path:
    """``dest/report.html``: ``paragraphs`` (plain text, escaped), ``tables`` (HTML from :func:`table`),
    ``figures`` (paths under ``dest``) and ``metrics`` as JSON."""
    dest = Path(dest)
    text = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    imgs = "".join(f'<p><img src="{Path(f).relative_to(dest).as_posix()}" style="max-width:100%"></p>'
                   for f in figures if f is not None)
    body = f"<pre>{html.escape(json.dumps(metrics, indent=1, default=float))}</pre>" if metrics is not None else ""
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>pixelwise {html.escape(dest.name)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}}td,th{{padding:2px 8px;text-align:right}}
pre{{background:#f4f4f4;padding:8px;max-height:30em;overflow:auto}}</style>
</head><body><h1>{html.escape(title)}</h1>{text}{''.join(tables)}{imgs}{body}</body></html>"""
    write_text(dest / "report.html", page)
    return dest / "report.html"

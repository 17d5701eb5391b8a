"""`Report`: tables, figures and provenance, written as CSV, PNG/SVG and one self-contained HTML.

A report is built up in reading order (``add_heading``, ``add_text``, ``add_table``,
``add_figure``) and written with :meth:`Report.write`. The HTML opens with a table of
contents of its sections, prints each table column in one number format
(:mod:`analyses.formats`) and embeds its figures, so ``report.html`` can be sent on its
own; the CSV tables (full precision) and PNG/SVG figures sit beside it for papers.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from analyses.formats import table_html
from analyses.outputs import OutputFolder

__all__ = ["Report", "file_sha256", "provenance"]

#: Rows of a table shown in the HTML; the CSV always has them all.
HTML_MAX_ROWS = 30
_PACKAGES = ("setback", "numpy", "pandas", "scipy", "statsmodels", "pymc", "pytensor", "arviz",
             "nutpie", "matplotlib", "seaborn")


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (the input-file fingerprint in a report's provenance).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = Path(folder, "data.csv").write_bytes(b"")
    ...     digest = file_sha256(Path(folder, "data.csv"))
    >>> digest  # SHA-256 of no bytes
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance(
    *,
    seed: int | None = None,
    spec: dict | None = None,
    input_path: str | os.PathLike | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Where a result came from: seed, spec, input file hash, package versions, machine, time.

    Examples
    --------
    >>> meta = provenance(seed=7)
    >>> meta["seed"], "numpy" in meta["versions"]
    (7, True)
    """
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    meta: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "versions": versions,
        "python": sys.version.split()[0],
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
    }
    if spec is not None:
        meta["spec"] = spec
    if input_path is not None:
        meta["input"] = {"path": str(input_path), "sha256": file_sha256(input_path)}
    meta.update(extra)
    return meta


@dataclass
class Report:
    """Tables, figures and provenance of one analysis, in reading order.

    Parameters
    ----------
    name : str
        Title of the report.
    meta : dict
        Provenance (see :func:`provenance`); written to ``meta.json`` and shown in the HTML.

    Examples
    --------
    >>> import tempfile
    >>> rep = Report("Example", meta=provenance(seed=1))
    >>> rep.add_text("Headline: nothing happened.")
    >>> rep.add_table("counts", pd.DataFrame({"arm": ["a", "b"], "n": [3, 4]}))
    >>> tmp = tempfile.TemporaryDirectory()
    >>> out = rep.write(tmp.name)
    >>> sorted(p.name for p in out.iterdir())
    ['.setback-output.json', 'figures', 'meta.json', 'report.html', 'tables']
    >>> tmp.cleanup()
    """

    name: str
    meta: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)  # "table/<name>", "figure/<name>"
    formats: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> column -> fmt
    _order: list[tuple[str, str]] = field(default_factory=list, repr=False)

    def add_heading(self, title: str) -> None:
        """Start a new section (listed in the table of contents)."""
        self._order.append(("heading", title))

    def add_text(self, text: str, *,
                 kind: Literal["paragraph", "equation", "warning", "note"] = "paragraph",
                 ) -> None:
        """Add a paragraph of plain text (escaped in HTML).

        ``"equation"`` is set apart in a monospace block, ``"warning"`` in a highlighted box (e.g. a
        fit whose estimates are not usable), ``"note"`` in small print.
        """
        if kind not in ("paragraph", "equation", "warning", "note"):
            raise ValueError(f"kind must be paragraph, equation, warning or note, got {kind!r}")
        self._order.append((kind, text))

    def add_table(self, name: str, table: pd.DataFrame, caption: str = "", *,
                  show: bool = True, formats: dict[str, str] | None = None) -> None:
        """Add a table, written to ``tables/<name>.csv``.

        It is shown in the HTML unless ``show=False`` (then the HTML links the CSV, e.g. for one row
        per patient). Each column is shown in one number format
        (:func:`analyses.formats.column_format`; ``formats`` sets some, e.g. ``{"rate":
        "{:.1%}"}``); the CSV keeps full precision.
        """
        self._check_name(name, self.tables)
        self.tables[name] = table
        self.captions[f"table/{name}"] = caption
        self.formats[name] = dict(formats or {})
        self._order.append(("table" if show else "link", name))

    def add_figure(self, name: str, figure: Any, caption: str = "") -> None:
        """Add a matplotlib Figure (or Axes), written as PNG and SVG and embedded in the HTML."""
        self._check_name(name, self.figures)
        self.figures[name] = getattr(figure, "figure", figure)
        self.captions[f"figure/{name}"] = caption
        self._order.append(("figure", name))

    @staticmethod
    def _check_name(name: str, existing: dict) -> None:
        if not name or not all(ch.isalnum() or ch in "_-" for ch in name):
            raise ValueError(f"report item name {name!r}: use letters, digits, '_' or '-'")
        if name in existing:
            raise ValueError(f"report item name {name!r} is already used")

    def write(self, outdir: str | os.PathLike | OutputFolder, *, svg: bool = True,
              overwrite: bool = False, kind: str = "report") -> Path:
        """Write the report's tables, figures, ``meta.json`` and ``report.html`` into ``outdir``.

        Tables go to ``tables/*.csv``, figures to ``figures/*.png`` (and ``.svg``); ``outdir`` is
        created if needed. Returns the folder.

        The folder rules of :class:`analyses.outputs.OutputFolder` apply: a non-empty folder
        that is not a report folder (of ``kind``) is refused unless ``overwrite``; the files
        are written into a temporary folder and moved into place together, and a previous
        report's tables and figures that this one lacks are removed. ``outdir`` may also be
        an :class:`~analyses.outputs.OutputFolder` being written by the caller.
        """
        folder = outdir if isinstance(outdir, OutputFolder) else OutputFolder(
            outdir, kind, overwrite=overwrite)
        with folder:
            self._write_files(folder.tmp, svg=svg)
        return folder.path

    def _write_files(self, out: Path, *, svg: bool) -> None:
        (out / "tables").mkdir(parents=True, exist_ok=True)
        (out / "figures").mkdir(parents=True, exist_ok=True)
        for name, table in self.tables.items():
            table.to_csv(out / "tables" / f"{name}.csv", index=False)
        pngs: dict[str, bytes] = {}
        for name, fig in self.figures.items():
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
            pngs[name] = buf.getvalue()
            (out / "figures" / f"{name}.png").write_bytes(pngs[name])
            if svg:
                fig.savefig(out / "figures" / f"{name}.svg", bbox_inches="tight")
        meta = {"report": self.name, **self.meta}
        (out / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        (out / "report.html").write_text(self._html(pngs, meta), encoding="utf-8")

    def _html(self, pngs: dict[str, bytes], meta: dict[str, Any]) -> str:
        body: list[str] = [f"<h1>{html.escape(self.name)}</h1>"]
        headings = [item for kind, item in self._order if kind == "heading"]
        if len(headings) > 1:
            links = "".join(f'<li><a href="#sec-{i}">{html.escape(h)}</a></li>'
                            for i, h in enumerate([*headings, "Provenance"]))
            body.append(f'<nav class="toc"><h2>Contents</h2><ol>{links}</ol></nav>')
        section = 0
        for kind, item in self._order:
            if kind == "heading":
                body.append(f'<h2 id="sec-{section}">{html.escape(item)}</h2>')
                section += 1
            elif kind == "paragraph":
                body.append(f"<p>{html.escape(item)}</p>")
            elif kind in ("equation", "warning", "note"):
                tag = "pre" if kind == "equation" else "p"
                body.append(f'<{tag} class="{kind}">{html.escape(item)}</{tag}>')
            elif kind == "table":
                body.append(self._table_html(item))
            elif kind == "link":
                cap = html.escape(self.captions[f"table/{item}"] or item)
                body.append(f'<p class="note">{cap}: <a href="tables/{item}.csv">'
                            f"tables/{item}.csv</a> ({len(self.tables[item])} rows).</p>")
            else:
                data = base64.b64encode(pngs[item]).decode("ascii")
                cap = html.escape(self.captions[f"figure/{item}"])
                body.append(
                    f'<figure id="fig-{item}"><img alt="{cap or html.escape(item)}" '
                    f'src="data:image/png;base64,{data}"><figcaption>{cap}</figcaption></figure>'
                )
        anchor = f' id="sec-{section}"' if len(headings) > 1 else ""
        body.append(f"<h2{anchor}>Provenance</h2><pre>"
                    + html.escape(json.dumps(meta, indent=2, default=str)) + "</pre>")
        return _PAGE.format(title=html.escape(self.name), body="\n".join(body))

    def _table_html(self, name: str) -> str:
        table = self.tables[name]
        shown = table.head(HTML_MAX_ROWS)
        note = (f"<p class='note'>First {HTML_MAX_ROWS} of {len(table)} rows; all rows in "
                f"tables/{name}.csv.</p>" if len(table) > HTML_MAX_ROWS else "")
        cap = html.escape(self.captions[f"table/{name}"] or name)
        grid = table_html(shown, formats=self.formats.get(name), table_id=name)
        return f'<section class="table" id="table-{name}"><h3>{cap}</h3>{grid}{note}</section>'


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; line-height: 1.45; }}
table.data {{ border-collapse: collapse; font-size: 0.9rem; margin: 0.5rem 0 1rem; }}
table.data th, table.data td {{ padding: 0.2rem 0.6rem; border-bottom: 1px solid #ddd;
                                text-align: right; white-space: nowrap; }}
section.table {{ overflow-x: auto; }}
table.data th {{ background: #f3f3f3; }}
table.data td:first-child, table.data th:first-child {{ text-align: left; }}
figure {{ margin: 1rem 0; }} figure img {{ max-width: 100%; }}
figcaption, .note {{ color: #555; font-size: 0.9rem; }}
pre.equation {{ background: none; font-size: 1.05rem; white-space: pre-wrap;
                font-family: "STIX Two Math", "Cambria Math", "DejaVu Serif", serif; }}
p.warning {{ background: #fdecea; border-left: 4px solid #b2182b; padding: 0.6rem 0.8rem; }}
nav.toc ol {{ margin: 0 0 1.5rem; }} nav.toc h2 {{ font-size: 1.1rem; }}
pre {{ background: #f6f6f6; padding: 0.8rem; overflow-x: auto; font-size: 0.8rem; }}
</style></head>
<body>
{body}
</body></html>
"""

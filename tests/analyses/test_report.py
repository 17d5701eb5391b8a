"""Report: files on disk, self-contained HTML, and the page as a browser renders it."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analyses.report import HTML_MAX_ROWS, Report, file_sha256, provenance  # noqa: E402


def small_report(tmp_path: Path) -> Report:
    src = tmp_path / "input.csv"
    src.write_text("a,b\n1,2\n")
    rep = Report("Test report", meta=provenance(seed=11, input_path=src, spec={"time": "log"}))
    rep.add_heading("Section <one>")
    rep.add_text("Plain text & symbols")
    rep.add_table("small", pd.DataFrame({"x": [1.23456, 2.0], "y": ["a", "b"]}), "A table")
    rep.add_table("long", pd.DataFrame({"i": range(HTML_MAX_ROWS + 5)}))
    rep.add_table("per_patient", pd.DataFrame({"p": range(7)}), "Per patient", show=False)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    rep.add_figure("line", ax, "A line")
    return rep


def test_write_files_and_provenance(tmp_path: Path) -> None:
    out = small_report(tmp_path).write(tmp_path / "out")
    assert (out / "tables" / "small.csv").exists() and (out / "figures" / "line.png").exists()
    assert (out / "figures" / "line.svg").exists()
    assert len(pd.read_csv(out / "tables" / "long.csv")) == HTML_MAX_ROWS + 5
    meta = json.loads((out / "meta.json").read_text())
    assert meta["seed"] == 11 and meta["spec"] == {"time": "log"}
    assert meta["input"]["sha256"] == file_sha256(tmp_path / "input.csv")
    assert "pandas" in meta["versions"]
    page = (out / "report.html").read_text()
    assert "Section &lt;one&gt;" in page and "Plain text &amp; symbols" in page
    assert page.count("data:image/png;base64,") == 1  # the figure is embedded
    assert f"First {HTML_MAX_ROWS} of {HTML_MAX_ROWS + 5} rows" in page
    assert "<script" not in page
    assert 'Per patient: <a href="tables/per_patient.csv">' in page and "(7 rows)" in page
    assert (out / "tables" / "per_patient.csv").exists()


def test_names_are_checked(tmp_path: Path) -> None:
    rep = Report("x")
    rep.add_table("t", pd.DataFrame({"a": [1]}))
    with pytest.raises(ValueError, match="already used"):
        rep.add_table("t", pd.DataFrame({"a": [1]}))
    with pytest.raises(ValueError, match="letters, digits"):
        rep.add_table("bad name", pd.DataFrame())


def test_report_renders_in_chromium(tmp_path: Path, render_probe) -> None:  # noqa: ANN001
    out = small_report(tmp_path).write(tmp_path / "out")
    seen = render_probe(out / "report.html")
    assert seen == {"images": 1, "loaded": 1, "tables": 2}

"""The main job end to end at tiny sizes: report folder, headline output, browser rendering.

The report must explain itself (issue 17): a table of contents, a Methods section written
from the fit (with its equation and seed), the observed courses, tables with one number
format per column, and every figure with labelled axes. Chromium renders the page; the
checks read the page as rendered and take a screenshot.
"""

from __future__ import annotations

import json
import re
import warnings
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

from analyses.pipelines.demo import DemoSettings, run_demo  # noqa: E402
from analyses.report import Report  # noqa: E402


def _demo(out: Path) -> Report:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny draws: convergence warnings are expected
        return run_demo(out, settings=DemoSettings.quick(), echo=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, Report]:  # noqa: ANN001
    out = tmp_path_factory.mktemp("demo")
    return out, _demo(out)


def test_report_folder_has_every_table_and_figure(demo) -> None:  # noqa: ANN001
    demo_dir, _ = demo
    tables = {p.stem for p in (demo_dir / "tables").glob("*.csv")}
    assert {"policy_comparison", "parameters", "expected_change", "recovery_curves",
            "therapist_effects", "deterioration_risk", "not_on_track_predictions"} <= tables
    figures = {p.stem for p in (demo_dir / "figures").glob("*.png")}
    assert {"policy_rates", "policy_differences", "recovery_curves", "therapist_effects",
            "deterioration_risk", "trajectories", "trajectories_and_expected",
            "not_on_track_calibration"} <= figures
    meta = json.loads((demo_dir / "meta.json").read_text())
    assert meta["seed"] == DemoSettings.quick().seed and meta["spec"]["time"] == "log"


def test_the_seed_reproduces_the_demo(demo, tmp_path) -> None:  # noqa: ANN001
    demo_dir, _ = demo
    _demo(tmp_path / "again")
    for name in ("policy_comparison", "parameters", "deterioration_risk"):
        pd.testing.assert_frame_equal(pd.read_csv(demo_dir / "tables" / f"{name}.csv"),
                                      pd.read_csv(tmp_path / "again" / "tables" / f"{name}.csv"))


def test_every_figure_has_labelled_axes(demo) -> None:  # noqa: ANN001
    _, rep = demo
    for name, fig in rep.figures.items():
        for ax in fig.axes:
            if not ax.axison:
                continue
            assert ax.get_xlabel().strip(), f"{name}: no x label"
            assert ax.get_ylabel().strip(), f"{name}: no y label"
    for name in ("expected_course", "recovery_curves", "trajectories_and_expected"):
        ax = rep.figures[name].axes[0]
        assert ax.get_xlabel() == "session (0 = intake)" and "PHQ-9" in ax.get_ylabel()


class _Page(HTMLParser):
    """Headings, figure captions, table cells and pre blocks of a rendered page."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.cells: list[str] = []
        self.equations: list[str] = []
        self.figures: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag in ("h2", "td", "figcaption") or (tag == "pre" and attrs.get("class") ==
                                                 "equation"):
            self._in = tag
        if tag == "figure":
            self.figures.append(attrs.get("id", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "h2":
            self.headings.append(data.strip())
        elif self._in == "td":
            self.cells.append(data.strip())
        elif self._in == "pre":
            self.equations.append(data)


def test_report_as_chromium_renders_it(demo, render_probe, browser) -> None:  # noqa: ANN001
    demo_dir, _ = demo
    page_path = demo_dir / "report.html"
    seen = render_probe(page_path)
    n_fig = len(list((demo_dir / "figures").glob("*.png")))
    n_tab = page_path.read_text().count('<section class="table"')
    assert n_tab >= 4  # policy headline, parameters, expected course, therapist variance
    assert seen == {"images": n_fig, "loaded": n_fig, "tables": n_tab}
    page = _Page()
    page.feed(browser(page_path, "--dump-dom"))
    # a table of contents and the sections, Methods among them
    assert {"Contents", "Methods", "Observed courses and the expected course",
            "Estimates"} <= set(page.headings)
    assert page.equations and page.equations[0].startswith("yᵢⱼ = (β₀ + u₀ₜ + v₀ᵢ)")
    assert "fig-trajectories_and_expected" in page.figures
    # formatted tables: no scientific notation, no None/nan, counts with separators
    assert page.cells
    bad = [c for c in page.cells if re.search(r"\de[+-]\d|^None$|^nan$", c)]
    assert bad == []
    text = page_path.read_text()
    assert f"seed {DemoSettings.quick().seed}" in text and "Software: setback" in text
    assert "95% credible" in text
    shot = demo_dir / "screenshot.png"
    browser(page_path, "--window-size=1100,3000", f"--screenshot={shot}")
    assert shot.stat().st_size > 50_000  # a page with content, not a blank one

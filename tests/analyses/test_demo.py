"""The main job end to end at tiny sizes: report folder, headline output, browser rendering."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from analyses.pipelines.demo import DemoSettings, run_demo  # noqa: E402


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:  # noqa: ANN001
    out = tmp_path_factory.mktemp("demo")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny draws: convergence warnings are expected
        run_demo(out, settings=DemoSettings.quick(), echo=False)
    return out


def test_report_folder_has_every_table_and_figure(demo_dir: Path) -> None:
    tables = {p.stem for p in (demo_dir / "tables").glob("*.csv")}
    assert {"policy_comparison", "parameters", "expected_change", "recovery_curves",
            "therapist_effects", "deterioration_risk", "not_on_track_predictions"} <= tables
    figures = {p.stem for p in (demo_dir / "figures").glob("*.png")}
    assert {"policy_rates", "policy_differences", "recovery_curves", "therapist_effects",
            "deterioration_risk", "trajectories", "not_on_track_calibration"} <= figures
    meta = json.loads((demo_dir / "meta.json").read_text())
    assert meta["seed"] == DemoSettings.quick().seed and meta["spec"]["time"] == "log"


def test_report_html_renders_with_all_images_and_tables(demo_dir: Path,
                                                        render_probe) -> None:  # noqa: ANN001
    seen = render_probe(demo_dir / "report.html")
    n_fig = len(list((demo_dir / "figures").glob("*.png")))
    n_tab = (demo_dir / "report.html").read_text().count('<section class="table"')
    assert n_tab >= 4  # policy headline, parameters, expected change, therapist variance
    assert seen == {"images": n_fig, "loaded": n_fig, "tables": n_tab}

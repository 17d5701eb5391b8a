"""Dropout figures from tables of the tipping-point and competing-endings computations."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analyses.plots.dropout import plot_cumulative_incidence, plot_tipping_point  # noqa: E402


def _tipping_table() -> tuple[pd.DataFrame, pd.DataFrame]:
    deltas = np.linspace(0, 6, 7)
    rows = [{"estimand": "contrast", "arm": "B - A", "delta": d, "delta_points": d,
             "mean": -3 + 0.5 * d, "ci_low": -5 + 0.5 * d, "ci_high": -1 + 0.5 * d}
            for d in deltas]
    rows += [{"estimand": "change", "arm": a, "delta": d, "delta_points": d, "mean": -8.0,
              "ci_low": -9.0, "ci_high": -7.0} for a in ("A", "B") for d in deltas]
    table = pd.DataFrame(rows)
    table.attrs.update({"scale": "points", "prob": 0.95, "at_session": 8})
    tips = pd.DataFrame([{"estimand": "contrast", "arm": "B - A", "tipping_delta": 2.0}])
    return table, tips


def test_tipping_point_figure_marks_the_tipping_delta() -> None:
    table, tips = _tipping_table()
    ax = plot_tipping_point(table, tipping=tips)
    xs = [line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert xs == [2.0]
    assert "difference in change at session 8 (95% credible band)" == ax.get_ylabel()
    assert len(plot_tipping_point(table, estimand="change").get_legend().get_texts()) == 2
    with pytest.raises(ValueError, match="estimand 'hazard'"):
        plot_tipping_point(table, estimand="hazard")


def test_cumulative_incidence_figure_draws_each_ending() -> None:
    rows = [{"session": s, "ending": e, "mean": m, "ci_low": m - 0.01, "ci_high": m + 0.01}
            for s in range(4) for e, m in (("dropout", 0.1 * s), ("completed", 0.05 * s),
                                           ("in treatment", 1 - 0.15 * s))]
    table = pd.DataFrame(rows)
    ax = plot_cumulative_incidence(table)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["dropout", "completed", "in treatment"]
    stacked = plot_cumulative_incidence(table, stacked=True)
    assert stacked.get_ylim() == (0.0, 1.0)

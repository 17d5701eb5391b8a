"""Number formats of report tables: one format per column, chosen from its name and values.

A column of a table is printed with one format so that its numbers line up and can be
read: counts as whole numbers with thousands separators (``1,130``, never ``1.13e+03``),
probabilities and R-hat with three decimals, effective sample sizes as whole numbers,
other numbers with the decimals their typical size needs, missing values as a dash. The
HTML is rendered with pandas' Styler; the CSV files keep full precision.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["DISPLAY_NAMES", "column_format", "table_html"]

#: Column headers as a reader sees them (other names: underscores become spaces).
DISPLAY_NAMES = {
    "sd": "SD", "ci_low": "CI low", "ci_high": "CI high", "ess_bulk": "ESS bulk",
    "ess_tail": "ESS tail", "r_hat": "R-hat", "mcse_mean": "MCSE of mean", "mcse": "MCSE",
    "p_deteriorated": "P(deteriorated)", "p_failure": "P(failure)",
    "p_improved": "P(improved)", "icc": "ICC", "n_ok": "n ok", "n_failed": "n failed",
}
_THREE_DECIMALS = ("r_hat", "icc", "rate", "hazard", "retained", "retained_low",
                   "retained_high", "share", "coverage", "power")
_WHOLE = ("ess_bulk", "ess_tail", "n_needed")
#: Columns printed with one shared format (an estimate and its interval line up).
FAMILIES = (("mean", "median", "sd", "ci_low", "ci_high", "estimate", "se"),
            ("expected_score", "expected_low", "expected_high", "band_low", "band_high",
             "failure_boundary", "intake_score"),
            ("change", "change_low", "change_high", "expected_change"),
            ("value", "mcse"), ("diff_vs_tau", "diff_ci_low", "diff_ci_high"))


def column_format(name: str, values: pd.Series) -> str | None:
    """Return a ``str.format`` pattern for one column (None: print as is, e.g. text).

    Examples
    --------
    >>> column_format("ess_bulk", pd.Series([812.4, 1130.0]))
    '{:,.0f}'
    >>> column_format("mean", pd.Series([22.31, 4.5]))
    '{:,.2f}'
    >>> column_format("p_deteriorated", pd.Series([0.01, 0.2]))
    '{:.3f}'
    >>> column_format("n_patients", pd.Series([4000, 120]))
    '{:,.0f}'
    """
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return None
    if pd.api.types.is_integer_dtype(values) or name in _WHOLE:
        return "{:,.0f}"
    if name.startswith(("p_", "share_", "pct")) or name in _THREE_DECIMALS:
        return "{:.3f}"
    finite = np.abs(values.to_numpy(dtype=float))
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if finite.size == 0:
        return "{:.2f}"
    if np.all(finite == np.round(finite)) and finite.max() >= 1:  # whole numbers stored as float
        return "{:,.0f}"
    typical = float(np.median(finite))
    if finite.max() >= 1000 or typical >= 100:
        return "{:,.1f}" if typical < 1000 else "{:,.0f}"
    decimals = 2 if typical >= 1 else 3 if typical >= 0.01 else max(3, 1 - math.floor(
        math.log10(typical)))
    return f"{{:,.{min(decimals, 6)}f}}"


def table_html(table: pd.DataFrame, *, formats: dict[str, str] | None = None,
               css_class: str = "data", table_id: str = "t") -> str:
    """Render the table as HTML with one number format per column.

    Formats come from :func:`column_format`, or ``formats`` for named columns; headers are made
    readable and missing values shown as a dash.

    Examples
    --------
    >>> html = table_html(pd.DataFrame({"parameter": ["slope"], "mean": [-2.53217],
    ...                                 "ess_bulk": [1130.2], "r_hat": [1.0012]}))
    >>> "-2.53" in html and "1,130" in html and "1.001" in html and "R-hat" in html
    True
    """
    formats = dict(formats or {})
    shown = table.reset_index(drop=True)
    for family in FAMILIES:  # one format for an estimate and its interval
        cols = [c for c in shown.columns if c in family and c not in formats
                and pd.api.types.is_float_dtype(shown[c])]
        if len(cols) > 1:
            joint = column_format(cols[0], pd.concat([shown[c] for c in cols]))
            formats.update(dict.fromkeys(cols, joint))
    styles = {}
    for col in shown.columns:
        fmt = formats.get(col) or column_format(str(col), shown[col])
        if fmt is not None:
            styles[col] = fmt
        elif pd.api.types.is_bool_dtype(shown[col]):
            styles[col] = lambda v: "yes" if v else "no"
    styler = (shown.style.format(na_rep="–").format(styles, na_rep="–")
              .format_index(lambda c: DISPLAY_NAMES.get(str(c), str(c).replace("_", " ")),
                            axis=1)
              .hide(axis="index")
              .set_table_attributes(f'class="{css_class}"'))
    text = [c for c in shown.columns if not pd.api.types.is_numeric_dtype(shown[c])
            or pd.api.types.is_bool_dtype(shown[c])]
    if text:  # words read from the left, numbers line up on the right
        styler = styler.set_properties(subset=text, **{"text-align": "left"})
    return styler.to_html(table_uuid=table_id, cell_ids=False)

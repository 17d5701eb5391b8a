"""Checks of long-format data by what the values mean, and the error they raise.

:class:`DataValidationError` messages name the column (as the caller called it), the first
offending patients and sessions, and the rule broken. The rules here are the ones that
plain type checks miss:

- **Identifiers are compared as written.** An id column must hold one type: ``1`` and
  ``"1"`` print alike but are two patients, and mixed types cannot even be sorted, so a
  column mixing them is refused. (Files are read with id columns as text, so ``"007"``
  and ``"7"``, or ``"10"`` and ``"10.0"``, stay two patients; see
  :func:`trajectories.data.read_long_file`.)
- **Sessions are small whole numbers**, 0 to :data:`MAX_SESSION`, checked before any cast
  to integers, so that ``1e20`` or ``2**63`` cannot wrap around to a negative session.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["MAX_SESSION", "DataValidationError", "check_ids", "check_numeric", "check_sessions"]

#: Largest session number accepted. [assumed] Far beyond any course of therapy (weekly
#: sessions for 190 years, daily ratings for 27); a larger number is almost always a date,
#: a time stamp or an identifier in the wrong column.
MAX_SESSION = 10_000
SHOW = 5  # offending values listed in an error message


class DataValidationError(ValueError):
    """Bad input data: the message names the column, the offending rows and the rule broken.

    Examples
    --------
    >>> import pandas as pd
    >>> from trajectories.data import TherapyData
    >>> frame = pd.DataFrame({"patient": [1, 1], "session": [0, 1], "score": [3.0, "x"]})
    >>> try:
    ...     TherapyData.from_frame(frame, patient="patient", session="session", score="score")
    ... except DataValidationError as err:
    ...     print("score" in str(err), isinstance(err, ValueError))
    True True
    """


def plain(value: object) -> object:
    """Convert a NumPy scalar to the Python value a user typed (1 rather than np.float64(1.0))."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def offending(frame: pd.DataFrame, mask: np.ndarray | pd.Series, source: dict[str, str]) -> str:
    """Describe the first few offending rows as ``patient=..., session=...`` in source names."""
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))
    cols = [c for c in ("patient", "session") if c in frame]
    parts = []
    for i in idx[:SHOW]:
        bits = [f"{source.get(c, c)}={plain(frame[c].iloc[i])!r}" for c in cols]
        parts.append("(" + ", ".join(bits) + ")")
    more = f" and {len(idx) - SHOW} more" if len(idx) > SHOW else ""
    return ", ".join(parts) + more


def fail(column: str, rule: str, detail: str = "") -> DataValidationError:
    """Make the error for a broken rule in a column, with the offending rows if given."""
    msg = f"column {column!r}: {rule}"
    return DataValidationError(msg + (f"; offending rows: {detail}" if detail else ""))


def check_ids(frame: pd.DataFrame, source: dict[str, str],
              allow_missing_therapist: bool = False) -> None:
    """Patient and therapist ids: none missing, and one type per column.

    With ``allow_missing_therapist`` a patient's therapist may be missing on all of its rows
    (a partially nested design: that patient has no therapist effect), never on some.

    Examples
    --------
    >>> frame = pd.DataFrame({"patient": pd.Series([1, "1"], dtype=object)})
    >>> check_ids(frame, {"patient": "client"})
    Traceback (most recent call last):
    ...
    trajectories.validation.DataValidationError: column 'client': identifiers must all have \
one type, but the column mixes int and str (e.g. 1 and '1' would be two patients that print \
alike); convert it to one type, e.g. df['client'].astype(str)
    """
    for col in ("patient", "therapist"):
        if col not in frame:
            continue
        values = frame[col]
        bad = values.isna().to_numpy()
        if col == "therapist" and allow_missing_therapist and bad.any():
            mixed = frame.loc[bad, "patient"].isin(frame.loc[~bad, "patient"]).to_numpy()
            if mixed.any():
                where = np.zeros(len(frame), dtype=bool)
                where[np.flatnonzero(bad)[mixed]] = True
                first = frame["patient"].to_numpy()[where][:SHOW].tolist()
                raise fail(source[col], "a patient's therapist may be missing on all of its "
                           "rows (no therapist) or on none", f"patients {first}")
            values = values[~bad]
            bad = np.zeros(len(values), dtype=bool)
        if bad.any():
            rows = np.flatnonzero(bad)[:SHOW].tolist()
            raise fail(source[col], "identifiers may not be missing", f"row positions {rows}")
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = pd.Series(values.cat.categories)
        if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in (
                "mixed", "mixed-integer"):
            kinds = sorted({type(plain(v)).__name__ for v in values})
            raise fail(source[col], f"identifiers must all have one type, but the column "
                       f"mixes {' and '.join(kinds)} (e.g. 1 and '1' would be two "
                       f"{col}s that print alike); convert it to one type, e.g. "
                       f"df[{source[col]!r}].astype(str)")


def _as_float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:  # an integer beyond float range: infinitely large for our purpose
        return float("inf") if value > 0 else float("-inf")  # type: ignore[operator]
    except (TypeError, ValueError):
        return float("nan")


def check_numeric(frame: pd.DataFrame, col: str, source: dict[str, str], *,
                  allow_nan: bool) -> np.ndarray:
    """Return the column as finite floats (NaN allowed if ``allow_nan``); text is refused.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"score": [1, 2.5, None]})
    >>> check_numeric(frame, "score", {"score": "score"}, allow_nan=True).tolist()
    [1.0, 2.5, nan]
    >>> try:
    ...     check_numeric(frame, "score", {"score": "score"}, allow_nan=False)
    ... except DataValidationError as err:
    ...     print(str(err).split(":")[0])
    column 'score'
    """
    raw = frame[col]
    try:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    except OverflowError:  # a Python integer too large for a float (e.g. 10**400)
        values = np.array([_as_float(v) for v in raw], dtype=float)
    not_numeric = np.isnan(values) & raw.notna().to_numpy()
    if not_numeric.any():
        raise fail(source[col], "values must be numeric", offending(frame, not_numeric, source))
    inf = np.isinf(values)
    if inf.any():
        raise fail(source[col], "values must be finite", offending(frame, inf, source))
    if not allow_nan and np.isnan(values).any():
        nan = np.isnan(values)
        raise fail(source[col], "values may not be missing", offending(frame, nan, source))
    return values


def check_sessions(frame: pd.DataFrame, source: dict[str, str]) -> np.ndarray:
    """Session numbers as int64: whole numbers from 0 (intake) to :data:`MAX_SESSION`.

    The bound is checked on the floating-point values, before the cast, so numbers too
    large for an integer are refused instead of wrapping around.

    Examples
    --------
    >>> frame = pd.DataFrame({"patient": [1, 1], "session": [0, 2**63]})
    >>> check_sessions(frame, {"patient": "id", "session": "week"})
    Traceback (most recent call last):
    ...
    trajectories.validation.DataValidationError: column 'week': sessions must be at most \
10000 (0 = intake); a larger number is usually a date, a time or an id in the wrong column; \
offending rows: (id=1, week=9223372036854775808)
    """
    name = source["session"]
    values = check_numeric(frame, "session", source, allow_nan=False)
    neg = values < 0
    if neg.any():
        raise fail(name, "sessions must be >= 0 (0 = intake)", offending(frame, neg, source))
    big = values > MAX_SESSION
    if big.any():
        raise fail(name, f"sessions must be at most {MAX_SESSION} (0 = intake); a larger "
                   "number is usually a date, a time or an id in the wrong column",
                   offending(frame, big, source))
    frac = values != np.round(values)
    if frac.any():
        raise fail(name, "sessions must be whole numbers", offending(frame, frac, source))
    return values.astype(np.int64)

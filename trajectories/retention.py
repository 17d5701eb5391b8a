"""Retention: the empirical dropout hazard per session and Kaplan–Meier retention curves.

A patient with end status ``dropout`` has the event *after* their last attended session;
``completed``, ``referred`` and ``ongoing`` patients are censored at their last session
(referral is a planned ending, not dropout). The survival function is the probability of
still being in treatment after each session (Kaplan & Meier 1958), with pointwise intervals
from Greenwood's variance on the log(-log) scale.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from trajectories.data import TherapyData

__all__ = ["retention_curve", "retention_table"]


def retention_curve(
    data: TherapyData,
    *,
    by: str | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Life table of dropout by session, overall or by a patient-level column.

    Parameters
    ----------
    data : TherapyData
        Long data with end statuses.
    by : str, optional
        Patient-level column (e.g. ``"treatment"`` or ``"therapist"``) to split by.
    level : float
        Level of the pointwise interval for ``retained``.

    Returns
    -------
    pandas.DataFrame
        One row per (group, session): ``at_risk`` (patients who attended this session),
        ``dropouts`` (patients whose last session this was and who dropped out),
        ``censored``, ``hazard`` (= dropouts / at_risk), ``retained`` (Kaplan–Meier
        probability of staying beyond this session), ``retained_low``, ``retained_high``.

    See Also
    --------
    retention_table : The same from a per-patient table.
    analyses.plots.plot_retention : Plot this table.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> table = retention_curve(load_beat_the_blues(), by="treatment")
    >>> table.groupby("treatment")["at_risk"].first().to_dict()
    {'BtheB': 52, 'TAU': 48}
    """
    patients = data.patient_table()
    if by is not None and by not in patients:
        raise ValueError(f"by={by!r} is not a patient-level column of the data")
    times = np.array(sorted(data.frame["session"].unique()))
    table = retention_table(patients, by=by, level=level, sessions=times)
    table.attrs["units"] = data.units()  # figures label their axes with it
    return table


def retention_table(
    patients: pd.DataFrame,
    *,
    by: str | None = None,
    level: float = 0.95,
    sessions: np.ndarray | None = None,
) -> pd.DataFrame:
    """Life table of dropout from one row per patient (``last_session``, ``end_status``).

    Use it for per-patient outcome tables such as a simulated clinic's; the columns of the
    result are those of :func:`retention_curve`.

    Parameters
    ----------
    patients : pandas.DataFrame
        Columns ``last_session`` (int) and ``end_status`` (``dropout`` is the event).
    by : str, optional
        Column to split by.
    level : float
        Level of the pointwise interval.
    sessions : array of int, optional
        Session times of the table (default: every session from 0 to the largest).

    Examples
    --------
    >>> t = retention_table(pd.DataFrame({"last_session": [0, 1, 2, 2],
    ...                                   "end_status": ["dropout", "dropout", "completed",
    ...                                                  "completed"]}))
    >>> t["retained"].tolist()
    [0.75, 0.5, 0.5]
    """
    for col in ("last_session", "end_status") + ((by,) if by else ()):
        if col not in patients:
            raise ValueError(f"patients table: column {col!r} is missing")
    groups = [(None, patients)] if by is None else list(
        patients.groupby(by, sort=True, observed=True))
    times = (np.arange(int(patients["last_session"].max()) + 1) if sessions is None
             else np.asarray(sessions))
    z = stats.norm.ppf(0.5 + level / 2)
    pieces = []
    for key, grp in groups:
        last = grp["last_session"].to_numpy()
        event = (grp["end_status"].astype(str) == "dropout").to_numpy()
        at_risk = (last[None, :] >= times[:, None]).sum(axis=1)
        ends_here = last[None, :] == times[:, None]
        dropouts = (ends_here & event[None, :]).sum(axis=1)
        censored = (ends_here & ~event[None, :]).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            hazard = np.where(at_risk > 0, dropouts / at_risk, np.nan)
            surv = np.cumprod(np.where(at_risk > 0, 1.0 - hazard, 1.0))
            # Greenwood: sum d / (n (n - d)); log(-log) transform keeps the band in (0, 1)
            green = np.cumsum(np.where(at_risk > dropouts,
                                       dropouts / (at_risk * (at_risk - dropouts)), 0.0))
            se = np.sqrt(green) / np.abs(np.log(surv))
            low = surv ** np.exp(z * se)
            high = surv ** np.exp(-z * se)
        trivial = (green == 0) | (surv <= 0) | (surv >= 1)
        low = np.where(trivial, surv, low)
        high = np.where(trivial, surv, high)
        piece = pd.DataFrame({
            "session": times, "at_risk": at_risk, "dropouts": dropouts, "censored": censored,
            "hazard": hazard, "retained": surv, "retained_low": low, "retained_high": high,
        })
        if by is not None:
            piece.insert(0, by, key)
        pieces.append(piece[piece["at_risk"] > 0])
    return pd.concat(pieces, ignore_index=True)

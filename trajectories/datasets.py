"""Bundled example data.

``beat_the_blues.csv`` is the data set ``BtheB`` of the R package HSAUR (Everitt & Hothorn,
*A Handbook of Statistical Analyses Using R*), licensed GPL-2; the trial is Proudfoot et al.
(2004), *Br J Psychiatry* 185:46-54. See ``trajectories/resources/README.md``.
"""

from __future__ import annotations

from importlib import resources
from typing import Literal, overload

import pandas as pd

from trajectories.data import TherapyData

__all__ = ["BTB_MONTHS", "load_beat_the_blues"]

#: Wide column -> protocol time in months (the copy's labels 4m/6m are the trial's 3 and 5).
BTB_MONTHS: dict[str, int] = {"bdi.pre": 0, "bdi.2m": 2, "bdi.4m": 3, "bdi.6m": 5, "bdi.8m": 8}


def _read_raw() -> pd.DataFrame:
    path = resources.files("trajectories") / "resources" / "beat_the_blues.csv"
    with path.open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh)


@overload
def load_beat_the_blues(*, raw: Literal[False] = ...) -> TherapyData: ...
@overload
def load_beat_the_blues(*, raw: Literal[True]) -> pd.DataFrame: ...


def load_beat_the_blues(*, raw: bool = False) -> TherapyData | pd.DataFrame:
    """Load the Beat the Blues trial (100 depressed patients, BDI-II, computerised CBT vs TAU).

    Long format with the month of each visit as the session time (0, 2, 3, 5, 8).
    Unobserved visits have no row. Covariates: ``treatment`` (``TAU``/``BtheB``), ``drug``
    (antidepressants ``Yes``/``No``) and ``length`` (episode ``<6m``/``>6m``). The end status
    is ``completed`` for patients seen at 8 months and ``dropout`` otherwise (dropout in this
    trial is monotone: no patient returns after a missed visit). There is no therapist column,
    so models fitted to it are two-level.

    Parameters
    ----------
    raw : bool
        Return the wide source table as distributed instead.

    Returns
    -------
    TherapyData or pandas.DataFrame

    References
    ----------
    Proudfoot, J. et al. (2004). Clinical efficacy of computerised cognitive-behavioural
    therapy for anxiety and depression in primary care. *Br J Psychiatry* 185, 46-54.
    Data: R package HSAUR, data set ``BtheB`` (GPL-2).

    Examples
    --------
    >>> data = load_beat_the_blues()
    >>> data.n_patients, data.n_observations
    (100, 380)
    >>> data.end_status.value_counts().to_dict()
    {'completed': 52, 'dropout': 48}
    """
    wide = _read_raw()
    if raw:
        return wide
    wide = wide.rename(columns={"rownames": "patient"})
    long = wide.melt(
        id_vars=["patient", "treatment", "drug", "length"],
        value_vars=list(BTB_MONTHS),
        var_name="visit",
        value_name="bdi",
    )
    long["month"] = long["visit"].map(BTB_MONTHS)
    long = long[long["bdi"].notna()].drop(columns="visit")  # unobserved visits have no row
    return TherapyData.from_frame(
        long,
        patient="patient",
        session="month",
        score="bdi",
        covariates=("treatment", "drug", "length"),
        instrument="bdi2",
        planned_sessions=8,
    )

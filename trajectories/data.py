"""`TherapyData`: validated long-format therapy outcome data, one row per patient x session.

Canonical columns are ``patient``, ``therapist`` (optional: two-level data have none),
``session`` (integer, 0 = intake), ``score`` and optionally ``alliance`` and covariates.
Each patient has one end status: ``completed``, ``dropout``, ``referred`` or ``ongoing``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from trajectories.files import read_long_file
from trajectories.instruments import Instrument, get_instrument
from trajectories.validation import (
    MAX_SESSION,
    SHOW,
    DataValidationError,
    check_ids,
    check_numeric,
    check_sessions,
    fail,
    offending,
    plain,
)

__all__ = ["END_STATUSES", "MAX_SESSION", "DataValidationError", "TherapyData",
           "end_status_from_rows", "read_long_file"]

END_STATUSES: tuple[str, ...] = ("completed", "dropout", "referred", "ongoing")
CANONICAL = ("patient", "therapist", "session", "score", "alliance")


def _ordered(patient: np.ndarray, session: np.ndarray) -> bool:
    """Tell whether rows are already sorted by integer patient id, sessions increasing within each.

    Then no (patient, session) pair repeats and sorting would change nothing, which two vectorised
    comparisons establish (large simulated data sets are built this way).
    """
    if patient.dtype.kind not in "iu" or len(patient) < 2:
        return False
    same = patient[1:] == patient[:-1]
    return bool(((patient[1:] > patient[:-1]) | (same & (session[1:] > session[:-1]))).all())


def _nested_when_ordered(patient: np.ndarray, therapist: np.ndarray) -> bool:
    """Tell, for rows ordered by patient, whether the therapist never changes within a patient.

    False sends the caller to the general check, which names the patients.
    """
    if therapist.dtype == object:
        return False
    same_patient = patient[1:] == patient[:-1]
    return not bool((same_patient & (therapist[1:] != therapist[:-1])).any())


def end_status_from_rows(
    df: pd.DataFrame, *, patient: str, session: str, status: str
) -> pd.Series:
    """Per-patient end status from a status column, checking that it is consistent.

    The column may hold each patient's status on every row, or, as services often record
    it, only on the session at which treatment ended (``dropout``, ``completed`` or
    ``referred``) with the other rows empty or ``ongoing``. A final status must be on the
    patient's last session: no session may follow it. :meth:`TherapyData.from_frame` reads
    its ``end_status=`` column with this function.

    Parameters
    ----------
    df : pandas.DataFrame
        Long data (not modified).
    patient, session, status : str
        Column names. Values are case-insensitive; empty cells mean "no ending recorded at
        this session", so a patient with no final status is ``ongoing``.

    Returns
    -------
    pandas.Series
        Index patient (sorted), values in ``completed``, ``dropout``, ``referred``,
        ``ongoing``.

    Raises
    ------
    DataValidationError
        Unknown status values, two different final statuses for one patient, or sessions
        after the session marked with a final status; the message names the column, the
        patient and the session.

    Examples
    --------
    >>> df = pd.DataFrame({"id": [1, 1, 2, 2], "week": [0, 1, 0, 1],
    ...                    "status": [None, "dropout", None, None]})
    >>> end_status_from_rows(df, patient="id", session="week", status="status").to_dict()
    {1: 'dropout', 2: 'ongoing'}
    >>> bad = df.assign(week=[1, 0, 0, 1])  # dropout at week 0, then week 1 attended
    >>> end_status_from_rows(bad, patient="id", session="week", status="status")
    Traceback (most recent call last):
    ...
    trajectories.validation.DataValidationError: column 'status': patient 1 is marked 'dropout' at \
week=0 but attended later sessions [1]; a dropout or planned ending must be the last session
    """
    for col in (patient, session, status):
        if col not in df:
            raise DataValidationError(f"column {col!r}: required column is missing")
    text = df[status].astype("string").str.strip().str.lower().fillna("ongoing")
    text = text.where(text != "", "ongoing")
    bad = ~text.isin(END_STATUSES)
    if bad.any():
        rows = df.loc[bad.to_numpy(), [patient, session, status]].head(SHOW)
        shown = ", ".join(f"({patient}={plain(p)!r}, {session}={plain(s)!r}, "
                          f"value={plain(v)!r})" for p, s, v in rows.itertuples(index=False))
        more = f" and {int(bad.sum()) - SHOW} more" if bad.sum() > SHOW else ""
        raise fail(status, f"end status must be one of {END_STATUSES} (or empty)",
                    shown + more)
    frame = pd.DataFrame({"patient": df[patient].to_numpy(), "session": df[session].to_numpy(),
                          "status": text.to_numpy()})
    final = frame[frame["status"] != "ongoing"]
    n_final = final.groupby("patient")["status"].nunique()
    if (n_final > 1).any():
        p = n_final.index[n_final > 1][0]
        raise DataValidationError(
            f"column {status!r}: patient {plain(p)!r} has more than one end status "
            f"{sorted(final.loc[final['patient'] == p, 'status'].unique())}; a patient ends "
            "treatment once")
    # A final status may be repeated on every row (a per-patient column) but no session
    # without it may follow the first session that carries it.
    marked = frame["patient"].map(final.groupby("patient")["session"].min())
    after = frame[(frame["session"] > marked) & (frame["status"] == "ongoing")]
    if len(after):
        p = after["patient"].iloc[0]
        st = final.loc[final["patient"] == p, "status"].iloc[0]
        first = final.loc[final["patient"] == p, "session"].min()
        later = sorted(plain(x) for x in after.loc[after["patient"] == p, "session"])
        raise DataValidationError(
            f"column {status!r}: patient {plain(p)!r} is marked {st!r} at "
            f"{session}={plain(first)!r} but attended later sessions {later[:SHOW]}; a "
            "dropout or planned ending must be the last session")
    out = pd.Series("ongoing", index=pd.Index(sorted(frame["patient"].unique()),
                                              name="patient"), name="end_status", dtype=object)
    firsts = final.groupby("patient")["status"].first()
    out[firsts.index] = firsts
    return out.astype(str)


def _read(path: str | os.PathLike, columns: dict, kind: str | None) -> pd.DataFrame:
    ids = [c for c in (columns.get("patient", "patient"), columns.get("therapist"))
           if isinstance(c, str)]
    return read_long_file(path, id_columns=ids, kind=kind)


@dataclass(frozen=True, eq=False)
class TherapyData:
    """Validated long-format therapy outcome data (sessions within patients within therapists).

    Build it with :meth:`from_frame`, :meth:`from_csv` or :meth:`from_parquet`; the
    constructor expects an already canonical frame and is not meant to be called directly.

    Attributes
    ----------
    instrument : Instrument or None
        The outcome measure, if given; scores were checked against its range.
    covariates : tuple of str
        Extra columns carried along (e.g. ``"treatment"``, centred intake severity).
    end_status : pandas.Series
        One end status per patient (index ``patient``), from a column or inferred.
    end_status_source : str
        ``"column"`` or a sentence saying how the status was inferred.
    source_columns : dict
        Canonical name -> the caller's column name, used in error messages.
    time_unit : str
        What the session numbers count (``"session"``, ``"week"``, ``"month"``): axis
        labels and captions use it.

    Examples
    --------
    >>> df = pd.DataFrame({"client": [1, 1, 2, 2], "week": [0, 1, 0, 1],
    ...                    "phq": [18.0, 14.0, 12.0, 13.0]})
    >>> data = TherapyData.from_frame(df, patient="client", session="week", score="phq",
    ...                               instrument="phq9")
    >>> data.n_patients, data.n_therapists
    (2, 0)
    >>> data.end_status.tolist()
    ['completed', 'completed']
    """

    _frame: pd.DataFrame
    end_status: pd.Series
    instrument: Instrument | None = None
    covariates: tuple[str, ...] = ()
    end_status_source: str = "column"
    source_columns: dict | None = None
    time_unit: str = "session"

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        patient: str,
        session: str,
        score: str,
        therapist: str | None = None,
        alliance: str | None = None,
        end_status: str | None = None,
        covariates: Sequence[str] = (),
        instrument: str | Instrument | None = None,
        allow_missing_scores: bool = False,
        allow_therapist_change: bool = False,
        allow_missing_therapist: bool = False,
        planned_sessions: int | None = None,
        time_unit: str | None = None,
    ) -> TherapyData:
        """Validate a long-format frame and map its columns to the canonical names.

        Parameters
        ----------
        df : pandas.DataFrame
            One row per patient and session. It is copied, never modified.
        patient, session, score : str
            Column names of the patient identifier, the session number (a whole number from
            0 = intake to :data:`MAX_SESSION`; larger numbers, e.g. ``1e20``, are refused
            before any conversion to integers) and the outcome score. Identifiers are
            compared as given: a column mixing types (``1`` and ``"1"``) is refused.
        therapist : str, optional
            Therapist identifier. Without it the data are two-level (sessions in patients).
        alliance : str, optional
            Alliance rating column (any numeric scale).
        end_status : str, optional
            Column with each patient's end status: one of ``completed``, ``dropout``,
            ``referred``, ``ongoing`` (case-insensitive), either on every row of the
            patient or only on the session at which treatment ended, other rows empty or
            ``ongoing`` (see :func:`end_status_from_rows`: a patient with no final status
            is ``ongoing``; a final status followed by later sessions is an error).
            Without it the status is inferred: a patient whose last session is the planned
            last session (``planned_sessions``, or else the largest session in the data) has
            ``completed``; any other patient ``dropout``. Say ``end_status=`` when your data
            have referrals or ongoing treatments.
        covariates : sequence of str
            Further columns to carry along (patient- or session-level).
        instrument : str or Instrument, optional
            Outcome measure; scores outside its range are rejected.
        allow_missing_scores : bool
            Keep rows whose score is missing (NaN). By default they are an error, so that
            nothing is silently dropped by a model later.
        allow_therapist_change : bool
            Allow a patient to be seen by more than one therapist (the patient is then
            partially crossed with therapists; growth models attribute each session to the
            therapist of that session, on the latent path, and patient-level estimands
            use the therapist of the patient's last session).
        allow_missing_therapist : bool
            Allow patients without a therapist (the therapist is missing on every row of
            the patient): a partially nested design, e.g. a waiting-list or TAU arm
            without study therapists. Growth models give those patients no therapist
            effect.
        planned_sessions : int, optional
            The planned last session, used only when the end status is inferred.
        time_unit : str, optional
            What the session numbers count, for labels (``"week"``, ``"month"``); default
            the name of the ``session`` column, e.g. ``"month"`` for ``session="month"``.

        Returns
        -------
        TherapyData
            Sorted by patient and session; ``source_row`` records each row's position in ``df``.

        Raises
        ------
        DataValidationError
            Naming the column, the first offending patients/sessions and the rule broken.
        """
        if not isinstance(df, pd.DataFrame):
            raise DataValidationError(f"expected a pandas DataFrame, got {type(df).__name__}")
        inst = get_instrument(instrument) if instrument is not None else None
        mapping = {"patient": patient, "session": session, "score": score}
        if therapist is not None:
            mapping["therapist"] = therapist
        if alliance is not None:
            mapping["alliance"] = alliance
        extra = {"end_status": end_status} if end_status is not None else {}
        covariates = tuple(covariates)
        wanted = list(mapping.values()) + list(extra.values()) + list(covariates)
        missing = [c for c in wanted if c not in df.columns]
        if missing:
            raise DataValidationError(
                f"column {missing[0]!r}: required column is missing (missing: {missing}); "
                f"the data have columns {list(df.columns)[:20]}"
            )
        clash = [c for c in covariates if c in CANONICAL or c == "end_status"]
        if clash:
            raise DataValidationError(
                f"column {clash[0]!r}: a covariate may not use a reserved name {CANONICAL}"
            )
        if len(df) == 0:
            raise DataValidationError("the data are empty: at least one row is required")
        unit = session if time_unit is None else time_unit
        if not isinstance(unit, str) or not unit.strip():
            raise DataValidationError(f"time_unit must be a non-empty word such as 'week', "
                                      f"got {time_unit!r}")
        source = dict(mapping)

        # views for the checks; the frame kept is one copy made at the end (never the input)
        columns = {"source_row": np.arange(len(df))}
        columns |= {name: df[mapping[name]].to_numpy() for name in CANONICAL if name in mapping}
        columns |= {cov: df[cov].to_numpy() for cov in covariates}
        frame = pd.DataFrame(columns, copy=False)

        check_ids(frame, source, allow_missing_therapist)
        columns["session"] = check_sessions(frame, source)
        columns["score"] = cls._check_score(frame, source, inst, allow_missing_scores)
        if "alliance" in frame:
            columns["alliance"] = check_numeric(frame, "alliance", source, allow_nan=True)
        # one copy (consolidated blocks) instead of a column assignment per check
        frame = pd.DataFrame(columns, copy=True)
        ordered = _ordered(columns["patient"], columns["session"])

        dup = (np.zeros(len(frame), bool) if ordered
               else frame.duplicated(["patient", "session"], keep=False).to_numpy())
        if dup.any():
            raise fail(
                source["session"], "each (patient, session) pair must appear once",
                offending(frame, dup, source),
            )
        if "therapist" in frame and not allow_therapist_change and not (
                ordered and _nested_when_ordered(columns["patient"], columns["therapist"])):
            n_th = frame.groupby("patient", sort=False)["therapist"].nunique()
            multi = n_th.index[n_th > 1]
            if len(multi):
                shown = ", ".join(repr(plain(p)) for p in multi[:SHOW])
                raise DataValidationError(
                    f"column {source['therapist']!r}: each patient must be seen by one therapist "
                    f"(patients nested in therapists), but patients {shown} have more than one; "
                    "pass allow_therapist_change=True (on the command line "
                    "--allow-therapist-change) if that is intended"
                )

        if not ordered:
            frame = frame.sort_values(["patient", "session"], kind="stable").reset_index(drop=True)
        if end_status is not None:
            status = cls._status_from_column(df[end_status], frame, end_status, source)
            status_source = "column"
        else:
            status, status_source = cls._infer_status(frame, planned_sessions, ordered)
        return cls(
            _frame=frame,
            end_status=status,
            instrument=inst,
            covariates=covariates,
            end_status_source=status_source,
            source_columns=source | ({"end_status": end_status} if end_status else {}),
            time_unit=unit.strip(),
        )

    @classmethod
    def from_csv(cls, path: str | os.PathLike, **columns: object) -> TherapyData:
        """Read a CSV file (:func:`read_long_file`) and validate it with :meth:`from_frame`.

        Takes the same keyword arguments; the patient and therapist columns are read as text.
        """
        return cls.from_frame(_read(path, columns, "csv"), **columns)  # type: ignore[arg-type]

    @classmethod
    def from_parquet(cls, path: str | os.PathLike, **columns: object) -> TherapyData:
        """Read a Parquet file and validate it with :meth:`from_frame`."""
        return cls.from_frame(_read(path, columns, "parquet"), **columns)  # type: ignore[arg-type]

    @classmethod
    def from_file(cls, path: str | os.PathLike, **columns: object) -> TherapyData:
        """Read CSV or Parquet (by file suffix, :func:`read_long_file`) and validate it."""
        return cls.from_frame(_read(path, columns, None), **columns)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ checks
    @classmethod
    def _check_score(
        cls, frame: pd.DataFrame, source: dict[str, str], inst: Instrument | None, allow_nan: bool
    ) -> np.ndarray:
        values = check_numeric(frame, "score", source, allow_nan=True)
        nan = np.isnan(values)
        if nan.any() and not allow_nan:
            raise fail(
                source["score"],
                "scores may not be missing (pass allow_missing_scores=True to keep such rows)",
                offending(frame, nan, source),
            )
        if inst is not None:
            out = ~nan & ((values < inst.min_score) | (values > inst.max_score))
            if out.any():
                raise fail(
                    source["score"],
                    f"scores must lie in the {inst.name} range "
                    f"[{inst.min_score:g}, {inst.max_score:g}]",
                    offending(frame, out, source),
                )
        return values

    @staticmethod
    def _status_from_column(raw: pd.Series, frame: pd.DataFrame, column: str,
                            source: dict[str, str]) -> pd.Series:
        values = raw.to_numpy(copy=True)[frame["source_row"].to_numpy()]
        named = pd.DataFrame({source["patient"]: frame["patient"].to_numpy(),
                              source["session"]: frame["session"].to_numpy(), column: values})
        return end_status_from_rows(named, patient=source["patient"],
                                    session=source["session"], status=column)

    @staticmethod
    def _infer_status(frame: pd.DataFrame, planned: int | None,
                      ordered: bool = False) -> tuple[pd.Series, str]:
        if ordered:  # the last row of each patient holds the last session
            pid = frame["patient"].to_numpy()
            ends = np.r_[np.flatnonzero(pid[1:] != pid[:-1]), len(pid) - 1]
            last = pd.Series(frame["session"].to_numpy()[ends],
                             index=pd.Index(pid[ends], name="patient"), name="session")
        else:
            last = frame.groupby("patient", sort=True)["session"].max()
        target = int(last.max()) if planned is None else int(planned)
        status = pd.Series(np.where(last >= target, "completed", "dropout"), index=last.index,
                           name="end_status")
        how = (
            f"inferred: patients whose last session is >= {target} "
            f"({'planned_sessions' if planned is not None else 'the last session in the data'}) "
            "are 'completed', the others 'dropout'"
        )
        return status, how

    # ------------------------------------------------------------------ views
    @property
    def frame(self) -> pd.DataFrame:
        """A copy of the canonical long frame, with each patient's ``end_status``."""
        out = self._frame.copy()
        out["end_status"] = out["patient"].map(self.end_status).to_numpy()
        return out

    @property
    def has_therapist(self) -> bool:
        """Whether the data have a therapist level."""
        return "therapist" in self._frame

    @property
    def has_alliance(self) -> bool:
        """Whether alliance ratings are present."""
        return "alliance" in self._frame

    @property
    def higher_is_worse(self) -> bool:
        """Direction of the score (from the instrument; ``True`` when none is given)."""
        return True if self.instrument is None else self.instrument.higher_is_worse

    @property
    def n_observations(self) -> int:
        """Number of rows (patient x session)."""
        return len(self._frame)

    @property
    def n_patients(self) -> int:
        """Number of patients."""
        return int(self._frame["patient"].nunique())

    @property
    def n_therapists(self) -> int:
        """Number of therapists (0 for two-level data)."""
        return int(self._frame["therapist"].nunique()) if self.has_therapist else 0

    @property
    def patients(self) -> np.ndarray:
        """Patient identifiers in sorted order (the order of ``coords()['patient']``)."""
        return self.end_status.index.to_numpy()

    @property
    def sessions_per_patient(self) -> pd.Series:
        """Number of observed sessions (rows) per patient."""
        return self._frame.groupby("patient", sort=True).size().rename("n_sessions")

    @property
    def patient_index(self) -> np.ndarray:
        """Integer code (0..n_patients-1) of each row's patient, aligned with ``frame``."""
        return pd.Categorical(self._frame["patient"], categories=self.patients).codes.astype(int)

    @property
    def therapist_of_patient(self) -> pd.Series:
        """The therapist of each patient (the first one, if changes are allowed)."""
        if not self.has_therapist:
            raise ValueError("these data have no therapist column")
        return self._frame.groupby("patient", sort=True)["therapist"].first()

    def coords(self) -> dict[str, list]:
        """Coordinates for PyMC ``dims``: ``patient``, ``therapist`` (if any) and ``session``."""
        out: dict[str, list] = {"patient": self.patients.tolist()}
        if self.has_therapist:
            out["therapist"] = sorted(self._frame["therapist"].dropna().unique().tolist())
        out["session"] = sorted(self._frame["session"].unique().tolist())
        return out

    def patient_table(self) -> pd.DataFrame:
        """Tabulate one row per patient.

        Therapist, first and last session, intake and last score, number of sessions, end status and
        patient-level covariates (first value).
        """
        g = self._frame.groupby("patient", sort=True)
        table = pd.DataFrame({
            "first_session": g["session"].min(),
            "last_session": g["session"].max(),
            "n_sessions": g.size(),
            "intake_score": g["score"].first(),
            "last_score": g["score"].last(),
        })
        if self.has_therapist:
            table.insert(0, "therapist", g["therapist"].first())
        table["end_status"] = self.end_status
        for cov in self.covariates:
            table[cov] = g[cov].first()
        return table.reset_index()

    def subset(self, patients: Iterable[object]) -> TherapyData:
        """Restrict the data to some patients (end statuses kept)."""
        keep = set(patients)
        frame = self._frame[self._frame["patient"].isin(keep)].reset_index(drop=True)
        if frame.empty:
            raise DataValidationError("subset: none of the requested patients are in the data")
        status = self.end_status[self.end_status.index.isin(keep)]
        return replace(self, _frame=frame, end_status=status)

    def before_session(self, session: int) -> TherapyData:
        """Return the data as they stood before ``session``: rows with an earlier session only.

        Patients who lose rows were still in treatment at that point, so their end status
        becomes ``ongoing``; patients left with no row are dropped. Use it to predict from
        the first sessions (the not-on-track signal) or to hold later sessions out.

        Examples
        --------
        >>> from trajectories.datasets import load_beat_the_blues
        >>> early = load_beat_the_blues().before_session(3)
        >>> sorted(early.frame["session"].unique().tolist())
        [0, 2]
        >>> early.end_status.value_counts().to_dict()  # dropouts seen at most to month 2 stay
        {'ongoing': 73, 'dropout': 27}
        """
        cut = self._frame["session"] < session
        frame = self._frame[cut].reset_index(drop=True)
        if frame.empty:
            raise DataValidationError(f"before_session({session}): no session precedes it")
        lost = set(self._frame.loc[~cut, "patient"])
        status = self.end_status[self.end_status.index.isin(set(frame["patient"]))].copy()
        status[status.index.isin(lost)] = "ongoing"
        return replace(self, _frame=frame, end_status=status,
                       end_status_source=f"{self.end_status_source}; 'ongoing' where "
                       f"sessions from {session} on were removed")

    def with_end_status(self, status: pd.Series | dict) -> TherapyData:
        """Return a copy with end statuses replaced (a mapping patient -> status for each)."""
        status = pd.Series(status, name="end_status")
        if isinstance(status.dtype, pd.CategoricalDtype):  # normalise the few categories only
            status = status.cat.rename_categories([str(c).lower()
                                                   for c in status.cat.categories])
            status = status.astype(object)
        else:
            status = status.astype(str).str.lower()
        patients = pd.Index(self.patients)
        lacking = ~patients.isin(status.index)  # vectorised: large simulated data sets
        if lacking.any():
            missing = patients[lacking].tolist()
            raise DataValidationError(
                f"end_status: no status for patients {sorted(missing, key=str)[:SHOW]}"
            )
        bad = status[~status.isin(END_STATUSES)]
        if len(bad):
            raise DataValidationError(
                f"end_status: must be one of {END_STATUSES}; patient {bad.index[0]!r} has "
                f"{bad.iloc[0]!r}"
            )
        return replace(self, end_status=status.reindex(self.patients),
                       end_status_source="given")

    def describe(self) -> dict[str, float | int | str]:
        """Headline numbers: patients, therapists, observations, sessions per patient, dropout."""
        spp = self.sessions_per_patient
        shares = self.end_status.value_counts(normalize=True)
        return {
            "patients": self.n_patients,
            "therapists": self.n_therapists,
            "observations": self.n_observations,
            "sessions_per_patient_mean": float(spp.mean()),
            "sessions_per_patient_min": int(spp.min()),
            "sessions_per_patient_max": int(spp.max()),
            **{f"share_{s}": float(shares.get(s, 0.0)) for s in END_STATUSES},
            "end_status_source": self.end_status_source,
        }

    @property
    def score_label(self) -> str:
        """What the scores are: the instrument's name, else the score column's name."""
        if self.instrument is not None:
            return self.instrument.name
        return (self.source_columns or {}).get("score", "score")

    def units(self) -> dict[str, object]:
        """Describe the scale of the data, for labels: score, its range and direction, time unit.

        Estimand tables carry it in ``attrs["units"]``, so figures label their axes.

        Examples
        --------
        >>> from trajectories.datasets import load_beat_the_blues
        >>> load_beat_the_blues().units()
        {'score': 'BDI-II', 'score_range': (0.0, 63.0), 'higher_is_worse': True, 'time': 'month'}
        """
        inst = self.instrument
        return {"score": self.score_label,
                "score_range": None if inst is None else (float(inst.min_score),
                                                          float(inst.max_score)),
                "higher_is_worse": self.higher_is_worse, "time": self.time_unit}

    def __repr__(self) -> str:
        ther = f"{self.n_therapists} therapists" if self.has_therapist else "no therapists"
        sessions = self._frame["session"]
        status = ", ".join(f"{n} {s}" for s, n in self.end_status.value_counts().items())
        unit = self.time_unit + ("s" if sessions.max() != sessions.min() else "")
        return (f"TherapyData({self.n_patients} patients, {ther}, {self.n_observations} "
                f"scores of {self.score_label} at {unit} {sessions.min()}-{sessions.max()}; "
                f"{status})")

    def __len__(self) -> int:
        return self.n_observations


"""Risks for new patients from a saved fit: not on track, and about to drop out.

:func:`run_predict` takes a saved :class:`~trajectories.fit.GrowthFit` and the sessions
seen so far of new patients and writes one row per patient: the not-on-track risk
(:func:`trajectories.predict.predict`: no reliable improvement by the planned session),
the dropout risk within a horizon when the fit has a dropout part
(:func:`trajectories.dropout_predict.predict_dropout`), and a flag for the patients with
the highest risks at a chosen alert rate. With ``landmark=`` the file is taken as held-out
data with known outcomes: predictions use the sessions up to the landmark, and the
calibration of each risk against what happened next is written too
(:func:`trajectories.dropout_predict.risk_calibration`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analyses.outputs import OutputFolder
from analyses.report import provenance
from trajectories.clinical import classify_change
from trajectories.data import TherapyData
from trajectories.dropout_predict import landmark_outcomes, predict_dropout, risk_calibration
from trajectories.fit import GrowthFit
from trajectories.predict import predict, resolve_rci

__all__ = ["PredictOutputs", "flag_top", "format_calibration", "run_predict"]


@dataclass(frozen=True)
class PredictOutputs:
    """What :func:`run_predict` produced: the predictions, calibration (or None), files.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     result = run_predict(small_fit, small_fit.data.before_session(3), out=folder,
    ...                          at_session=8, seed=1)
    >>> isinstance(result, PredictOutputs), len(result.predictions), result.calibration is None
    (True, 100, True)
    """

    predictions: pd.DataFrame
    calibration: pd.DataFrame | None
    files: dict[str, Path]
    notes: tuple[str, ...]


def flag_top(risk: pd.Series, alert_rate: float) -> pd.Series:
    """Flag the ``ceil(alert_rate * n)`` highest risks (ties at the cut are all flagged).

    Examples
    --------
    >>> flag_top(pd.Series([0.1, 0.9, 0.5, 0.2]), 0.5).tolist()
    [False, True, True, False]
    """
    if not 0.0 < alert_rate <= 1.0:
        raise ValueError(f"alert rate must be in (0, 1], got {alert_rate!r}")
    n_flag = math.ceil(alert_rate * len(risk))
    if n_flag == 0 or risk.isna().all():
        return pd.Series(False, index=risk.index)
    cut = risk.sort_values(ascending=False, kind="stable").iloc[n_flag - 1]
    return risk >= cut


def _failure_outcomes(data: TherapyData, at_session: float, rci: float) -> pd.Series:
    """Observed failure (no reliable improvement from intake at the session), where seen."""
    frame = data.frame.dropna(subset=["score"])
    intake = frame[frame["session"] == 0].set_index("patient")["score"]
    end = frame[frame["session"] == at_session].set_index("patient")["score"]
    both = pd.concat([intake.rename("y0"), end.rename("yk")], axis=1).dropna()
    category = classify_change(both["y0"].to_numpy(), both["yk"].to_numpy(), rci=rci,
                               higher_is_worse=data.higher_is_worse)  # no cutoff: no "recovered"
    return pd.Series((category != "improved").astype(int), index=both.index, name="failed")


def run_predict(
    fit: GrowthFit,
    data: TherapyData,
    *,
    out: str | Path | OutputFolder,
    overwrite: bool = False,
    at_session: float | None = None,
    horizon: int = 3,
    alert_rate: float = 0.1,
    landmark: int | None = None,
    rci: float | None = None,
    seed: int | None = None,
    fit_path: str | None = None,
    data_path: str | None = None,
) -> PredictOutputs:
    """Predict not-on-track and dropout risk for the patients of ``data``; write the tables.

    Parameters
    ----------
    fit : GrowthFit
        A saved fit (:meth:`GrowthFit.load`); dropout risk needs a joint fit.
    data : TherapyData
        New patients (the sessions seen so far), or held-out data with ``landmark``.
    out : path or OutputFolder
        Folder for ``predictions.csv`` (and ``calibration.csv``, ``meta.json``): new, empty
        or one ``setback predict`` wrote, checked before any work; written completely or
        not at all (:class:`~analyses.outputs.OutputFolder`).
    overwrite : bool
        Allow a non-empty folder that is not a prediction output (only the files named
        above are replaced).
    at_session : float, optional
        Planned session of the not-on-track outcome (default: the fit's last session).
    horizon : int
        Sessions looked ahead for the dropout risk.
    alert_rate : float
        Share of patients flagged on each risk (the highest risks).
    landmark : int, optional
        Treat ``data`` as held-out data: predict from the sessions up to the landmark
        (patients who attended it) and score the risks against what happened next.
    rci : float, optional
        Reliable change index (default: the rule of :func:`~trajectories.clinical.
        reliable_change` on the fit's data and instrument).
    seed : int, optional
        Seeds the dropout model's effect draws (recorded in ``meta.json``).

    Returns
    -------
    PredictOutputs

    Examples
    --------
    ``small_fit`` stands for a saved fit (``GrowthFit.load("fit/fit.nc")``); the new
    patients here are the fitted ones as they stood before session 3:

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     result = run_predict(small_fit, small_fit.data.before_session(3), out=folder,
    ...                          at_session=8, seed=1)
    ...     written = sorted(result.files)
    >>> len(result.predictions), written  # doctest: +ELLIPSIS
    (100, [...'predictions'...])
    """
    folder = out if isinstance(out, OutputFolder) else OutputFolder(out, "predict",
                                                                    overwrite=overwrite)
    at = float(max(fit.data.coords()["session"])) if at_session is None else float(at_session)
    notes: list[str] = []
    grid = fit.data.coords()["session"]
    if landmark is not None:
        seen, dropped = landmark_outcomes(data, landmark=landmark, horizon=horizon,
                                          sessions=grid)
        notes.append(f"landmark {landmark}: {seen.n_patients} patients attended it; "
                     f"predictions use their sessions up to {landmark}")
    else:
        seen, dropped = data, None
    rci_value = resolve_rci(fit, rci)
    table = predict(fit, seen, at_session=at, instrument=rci_value, max_draws=250)
    keep = [c for c in ("patient", "therapist", "n_sessions_seen", "last_session_seen",
                        "expected_score", "p_failure") if c in table]
    result = table[keep].rename(columns={"expected_score": f"expected_score_at_{at:g}"})
    result["flag_not_on_track"] = flag_top(result["p_failure"], alert_rate).to_numpy()
    dropout_seed = None
    if fit.spec.dropout is not None:
        risk = predict_dropout(fit, seen, horizon=horizon, seed=seed)
        dropout_seed = risk.attrs.get("seed")
        result = result.merge(risk[["patient", "horizon_session", "p_dropout_next",
                                    "p_dropout", "p_dropout_low", "p_dropout_high"]],
                              on="patient", how="left")
        result["flag_dropout"] = flag_top(result["p_dropout"], alert_rate).to_numpy()
    else:
        notes.append("no dropout risk: the fit has no dropout part (fit it with "
                     "`setback fit --dropout joint`)")
    calibration = None
    if landmark is not None:
        rows = []
        if dropped is not None and "p_dropout" in result:
            obs = result["patient"].map(dropped)
            rows.append({"risk": f"dropout within {horizon} sessions of {landmark}",
                         **risk_calibration(result["p_dropout"], obs)})
            result["dropped_out"] = obs.to_numpy()
        failed = _failure_outcomes(data, at, rci_value)
        obs = result["patient"].map(failed)
        has = obs.notna()
        if has.any():
            rows.append({"risk": f"no reliable improvement by session {at:g}",
                         **risk_calibration(result.loc[has, "p_failure"], obs[has])})
            result["failed"] = obs.to_numpy()
        calibration = pd.DataFrame(rows)
    meta = provenance(seed=dropout_seed, spec=fit.spec.to_dict(), fit=fit_path,
                      data=data_path, at_session=at, horizon=horizon, alert_rate=alert_rate,
                      landmark=landmark, rci=rci_value, fit_seed=fit.settings.seed)
    with folder:  # a no-op when the caller is writing the folder already
        result.to_csv(folder.tmp / "predictions.csv", index=False)
        written = ["predictions.csv"]
        if calibration is not None:
            calibration.to_csv(folder.tmp / "calibration.csv", index=False)
            written.append("calibration.csv")
        (folder.tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
        written.append("meta.json")
    files = {name.rsplit(".", 1)[0]: folder.final(name) for name in written}
    return PredictOutputs(predictions=result, calibration=calibration, files=files,
                          notes=tuple(notes))


def format_calibration(table: pd.DataFrame) -> str:
    """Format the calibration table as plain lines for the terminal.

    Examples
    --------
    >>> table = pd.DataFrame({"risk": ["not_on_track"], "n": [80], "n_events": [20],
    ...                       "observed_rate": [0.25], "brier": [0.15], "brier_reference": [0.1875],
    ...                       "calibration_slope": [0.9], "calibration_intercept": [0.1],
    ...                       "auc": [0.74]})
    >>> print(format_calibration(table))  # doctest: +NORMALIZE_WHITESPACE
    not_on_track: n = 80 (20 events, rate 0.250); Brier 0.1500 (reference 0.1875), calibration
    slope 0.90, intercept 0.10, AUC 0.740
    >>> format_calibration(table.iloc[:0])
    'no outcomes to score'
    """
    lines = []
    for r in table.itertuples(index=False):
        lines.append(f"{r.risk}: n = {r.n} ({r.n_events} events, rate {r.observed_rate:.3f}); "
                     f"Brier {r.brier:.4f} (reference {r.brier_reference:.4f}), calibration "
                     f"slope {r.calibration_slope:.2f}, intercept "
                     f"{r.calibration_intercept:.2f}, AUC {r.auc:.3f}")
    return "\n".join(lines) if lines else "no outcomes to score"

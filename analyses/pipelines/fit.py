"""Fit a growth model to a data set and write the fit and its headline tables to a folder."""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analyses.outputs import OutputFolder
from analyses.pipelines.workflow import compare_time_shapes
from analyses.report import provenance
from trajectories.clinical import reliable_change
from trajectories.data import MAX_SESSION, TherapyData
from trajectories.dropout_estimands import dropout_risk
from trajectories.engine.convergence import ConvergenceWarning
from trajectories.engine.settings import SamplerSettings
from trajectories.estimands import deterioration_risk, expected_change, therapist_effects
from trajectories.fit import GrowthFit, fit_growth, joint_uses_machine_code
from trajectories.spec import GrowthSpec

__all__ = ["FitOutputs", "resolve_rci", "run_fit"]


def resolve_rci(data: TherapyData, rci: float | None) -> tuple[float | None, str]:
    """Resolve the RCI of an analysis by the one rule, with a note saying where it came from.

    The rule is :func:`~trajectories.clinical.reliable_change`; returns ``(rci, note)``, or ``(None,
    why not)``.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> rci, note = resolve_rci(load_beat_the_blues(), None)
    >>> round(rci, 2), note.split(" (")[0]
    (8.5, 'reliable change: RCI 8.50')
    >>> resolve_rci(load_beat_the_blues(), 6.0)[0]
    6.0
    """
    try:
        rc = reliable_change(data, rci=rci)
    except ValueError as exc:
        return None, f"deterioration risk not computed: {exc}"
    return rc.rci, f"reliable change: {rc}"


@dataclass(frozen=True)
class FitOutputs:
    """What :func:`run_fit` produced: the fit, the files written and notes for the user.

    ``convergence`` is the fit's convergence message in words ("" when every check
    passed); it is not repeated in ``notes``, and no Python warning is shown for it, so a
    caller reports it exactly once.

    Examples
    --------
    >>> import tempfile
    >>> from trajectories.engine.settings import SamplerSettings
    >>> # run_fit samples; here it is given a fit that exists to show what it returns
    >>> out = FitOutputs(fit=small_fit, files={}, notes=("example",))
    >>> out.fit is small_fit, out.convergence
    (True, '')
    """

    fit: GrowthFit
    files: dict[str, Path]
    notes: tuple[str, ...]
    convergence: str = ""
    #: The estimand tables written, by file stem (e.g. ``"deterioration_risk"``), so that a
    #: report of the same fit (``setback analyze``) shows them without computing them again.
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        """Whether the fit passed every convergence check."""
        return self.fit.diagnostics.ok


def _say(message: str, progress: bool) -> None:
    if progress:
        print(f"setback fit: {message}", file=sys.stderr, flush=True)


def run_fit(
    data: TherapyData,
    spec: GrowthSpec,
    *,
    out: str | Path | OutputFolder,
    settings: SamplerSettings | None = None,
    at_session: float | None = None,
    rci: float | None = None,
    progress: bool = True,
    overwrite: bool = False,
    compare: tuple[str, ...] = (),
    input_path: str | Path | None = None,
) -> FitOutputs:
    """Fit ``spec`` to ``data`` and write the fit, its tables and its provenance into ``out``.

    The files are ``fit.nc``, ``summary.csv``, ``expected_change.csv``,
    ``therapist_effects.csv`` (three-level data), ``deterioration_risk.csv`` (when an RCI follows
    from ``rci``, the instrument, or its reliability and the sample's intake SD:
    :func:`resolve_rci`) and ``meta.json`` (seed, spec, sampler settings, diagnostics, versions and
    ``input_path`` with its SHA-256). The seed used (drawn when ``settings`` has none)
    is in ``fit.settings.seed`` and ``meta.json``; the same seed gives the same files.

    When the chains disagree (R-hat > 1.1: :attr:`Diagnostics.usable` is false) only
    ``fit.nc``, ``summary.csv`` and ``meta.json`` are written, and the notes say why: the
    estimand tables would be numbers that look like results but are not.

    The design is built (and bad data or covariates rejected) and the output folder checked
    (:class:`analyses.outputs.OutputFolder`: a non-empty folder that is not a fit folder is
    refused unless ``overwrite``) before sampling starts. The files are written into a
    temporary folder and moved into ``out`` together at the end, replacing the previous
    fit's files and removing those this fit does not write, so a folder never mixes two
    fits. Estimands are evaluated at ``at_session`` (default: the last session in the
    data). With ``spec.dropout`` the joint growth–dropout model is fitted (its dropout
    parameters appear in ``summary.csv``) and ``dropout_risk.csv`` is written too.
    ``out`` may be an :class:`~analyses.outputs.OutputFolder` that is being written (as
    ``setback analyze`` does), in which case the files go into it. With ``compare`` (time
    shapes, e.g. ``("log", "linear", "piecewise")``) the spec is also fitted with each shape
    and ``model_comparison.csv`` (leave-one-patient-out LOO,
    :func:`~trajectories.comparison.compare`) is written; its reading in words is one of
    the notes.

    Examples
    --------
    A fit samples, so it runs from the CLI or a notebook, not here; a spec the data cannot
    support fails before any sampling:

    >>> import tempfile
    >>> from trajectories.datasets import load_beat_the_blues
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     try:
    ...         run_fit(load_beat_the_blues(), GrowthSpec(covariates=("age",)),
    ...                 out=f"{folder}/fit")
    ...     except ValueError as err:
    ...         print(str(err).split(":")[0])
    column 'age'
    """
    if at_session is not None and not 0 <= at_session <= MAX_SESSION:
        raise ValueError(f"at_session must be in [0, {MAX_SESSION}], got {at_session}")
    if rci is not None and not rci > 0:
        raise ValueError(f"rci must be a positive number, got {rci}")
    folder = out if isinstance(out, OutputFolder) else OutputFolder(out, "fit",
                                                                    overwrite=overwrite)
    rci, rci_note = resolve_rci(data, rci)
    notes: list[str] = [rci_note if rci is not None else
                        rci_note.replace("deterioration risk not computed",
                                         "deterioration_risk.csv not written")]
    session = float(data.frame["session"].max()) if at_session is None else float(at_session)
    settings = (settings or SamplerSettings(progress=progress)).resolved()
    _say(f"fitting {data!r} ({_path_name(spec)}, seed {settings.seed})", progress)
    with warnings.catch_warnings():  # reported once, by the caller, from the diagnostics
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = fit_growth(spec, data, settings=settings)
    _say(f"{_timing(fit.diagnostics.seconds)}; writing tables", progress)
    usable = fit.diagnostics.usable
    with folder:  # a no-op when the caller is writing the folder already
        tmp = folder.tmp
        written = ["fit.nc", "summary.csv", "meta.json"]
        tables: dict[str, pd.DataFrame] = {}
        fit.save(str(tmp / "fit.nc"))
        fit.summary().to_csv(tmp / "summary.csv", index=False)
        meta = provenance(seed=fit.settings.seed, spec=spec.to_dict(),
                          sampler=fit.settings.to_dict(), input_path=input_path,
                          diagnostics=fit.diagnostics.to_dict(), at_session=session,
                          rci=rci)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        if usable:
            tables = _write_estimands(fit, tmp, session=session, rci=rci, notes=notes)
            written += [f"{name}.csv" for name in tables]
        else:
            notes.insert(0, "the chains disagree: the estimates are not usable, so only "
                         "fit.nc, summary.csv and meta.json were written")
        if compare and usable:
            _say(f"comparing time shapes {', '.join(compare)}", progress)
            result = compare_time_shapes(data, spec, tuple(compare), settings=settings,
                                         fitted=fit, out=tmp)
            written.append("model_comparison.csv")
            notes.append(f"model comparison: {result.message}")
    files = {name.rsplit(".", 1)[0]: folder.final(name) for name in written}
    return FitOutputs(fit=fit, files=files, notes=tuple(notes),
                      convergence=fit.diagnostics.message, tables=tables)


def _write_estimands(fit: GrowthFit, tmp: Path, *, session: float, rci: float | None,
                     notes: list[str]) -> dict[str, pd.DataFrame]:
    """Write the estimand tables of a usable fit as ``tmp/<name>.csv``; return them by name."""
    change = [expected_change(fit, at_session=session).assign(level="population")]
    tables: dict[str, pd.DataFrame] = {}
    if fit.design.q_t:
        change.append(expected_change(fit, at_session=session, level="therapist")
                      .assign(level="therapist"))
        tables["therapist_effects"] = therapist_effects(fit, at_session=session)
    else:
        notes.append("therapist_effects.csv not written: the data have no therapist level")
    tables = {"expected_change": pd.concat(change, ignore_index=True), **tables}
    if rci is not None:
        tables["deterioration_risk"] = deterioration_risk(fit, by_session=session,
                                                          instrument=rci)
    if fit.spec.dropout is not None:
        tables["dropout_risk"] = dropout_risk(fit)
    for name, table in tables.items():
        table.to_csv(tmp / f"{name}.csv", index=False)
    return tables


def _path_name(spec: GrowthSpec) -> str:
    if spec.dropout is not None:
        return ("joint growth-dropout model, machine code" if joint_uses_machine_code(spec)
                else "joint growth-dropout model, PyMC latent path (compiling a new model "
                "structure takes a minute)")
    if spec.resolved_method == "marginal":
        return "fast collapsed path"
    return "latent path (compiling a new model structure takes a minute)"


def _timing(seconds: dict) -> str:
    """E.g. ``"compiled in 31.0 s, sampled in 4.2 s"`` (the phases that took time)."""
    names = {"compile": "compiled", "sample": "sampled", "effects": "drew the effects"}
    parts = [f"{names.get(k, k)} in {v:.1f} s" if v >= 0.95 else
             f"{names.get(k, k)} in {v:.2g} s" for k, v in seconds.items()
             if v > 0 or k == "sample"]
    return ", ".join(parts) or "done"

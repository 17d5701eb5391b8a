"""Clinical significance: Jacobson & Truax (1991) reliable change and clinical cutoffs.

Formulas (Jacobson & Truax, 1991, JCCP 59(1):12-19, doi:10.1037/0022-006X.59.1.12)::

    SE     = SD_1 * sqrt(1 - r_xx)
    S_diff = sqrt(2) * SE
    RC     = (x_post - x_pre) / S_diff            reliable if |RC| > z (1.96)
    a = M_dys - 2 SD_dys    b = M_func + 2 SD_func    (for higher-is-worse scales)
    c = (SD_func * M_dys + SD_dys * M_func) / (SD_func + SD_dys)

Outcome categories, with "improvement" in the instrument's good direction:

- ``recovered``: reliable improvement and a move from the clinical to the non-clinical range;
- ``improved``: reliable improvement without that move (including patients who started in
  the non-clinical range);
- ``unchanged``: no reliable change;
- ``deteriorated``: reliable worsening.

A change counts as reliable when its size reaches the RCI (``|change| >= rci``), which
matches how published RCIs are stated ("a fall of 6 or more points" on the PHQ-9).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trajectories.data import TherapyData
from trajectories.instruments import Instrument, get_instrument

__all__ = [
    "CATEGORIES",
    "Cutoffs",
    "ReliableChange",
    "classify_change",
    "clinical_cutoffs",
    "clinical_significance",
    "reliable_change",
    "reliable_change_index",
    "reliable_deterioration_flags",
    "summarize_clinical_significance",
]

CATEGORIES: tuple[str, ...] = ("recovered", "improved", "unchanged", "deteriorated")


def reliable_change_index(sd: float, reliability: float, *, z: float = 1.96) -> float:
    """Minimum raw change that is reliable: ``z * sqrt(2) * sd * sqrt(1 - reliability)``.

    Parameters
    ----------
    sd : float
        SD of the pre-treatment (clinical) sample, SD_1 in Jacobson & Truax (1991).
    reliability : float
        Reliability r_xx of the instrument, in (0, 1).
    z : float
        Criterion: 1.96 for the 95% rule, 1.645 for a 90% rule (as CORE-10's RCI of 6).

    Examples
    --------
    >>> round(reliable_change_index(5.5, 0.84), 2)
    6.1
    """
    if not sd > 0:
        raise ValueError(f"sd must be positive, got {sd}")
    if not 0 < reliability < 1:
        raise ValueError(f"reliability must be in (0, 1), got {reliability}")
    return z * math.sqrt(2.0) * sd * math.sqrt(1.0 - reliability)


@dataclass(frozen=True)
class Cutoffs:
    """Jacobson–Truax cutoffs a, b and c on the instrument's scale.

    Examples
    --------
    >>> cut = clinical_cutoffs(19.7, 7.7, 4.7, 4.8)  # CORE-10 norms
    >>> isinstance(cut, Cutoffs), bool(cut.a < cut.c < cut.b)
    (True, True)
    """

    a: float
    b: float
    c: float


def clinical_cutoffs(
    clinical_mean: float,
    clinical_sd: float,
    normal_mean: float,
    normal_sd: float,
    *,
    higher_is_worse: bool = True,
) -> Cutoffs:
    """Compute the Jacobson–Truax cutoffs a, b and c.

    a is 2 SD beyond the clinical mean toward health, b 2 SD beyond the normal mean toward illness
    and c the weighted midpoint between the two distributions.

    Examples
    --------
    >>> cut = clinical_cutoffs(19.7, 7.7, 4.7, 4.8)   # CORE-10 norms
    >>> round(cut.a, 1), round(cut.b, 1), round(cut.c, 2)
    (4.3, 14.3, 10.46)
    """
    if clinical_sd <= 0 or normal_sd <= 0:
        raise ValueError("standard deviations must be positive")
    sign = 1.0 if higher_is_worse else -1.0
    a = clinical_mean - sign * 2.0 * clinical_sd
    b = normal_mean + sign * 2.0 * normal_sd
    c = (normal_sd * clinical_mean + clinical_sd * normal_mean) / (normal_sd + clinical_sd)
    return Cutoffs(a=a, b=b, c=c)


def _rule(
    instrument: Instrument | str | None,
    rci: float | None,
    cutoff: float | None,
    higher_is_worse: bool | None,
) -> tuple[float, float | None, bool]:
    inst = get_instrument(instrument) if instrument is not None else None
    if rci is None:
        if inst is None:
            raise ValueError("give an instrument or rci=")
        rci = inst.rci
    if cutoff is None and inst is not None:
        cutoff = inst.cutoff
    if higher_is_worse is None:
        higher_is_worse = True if inst is None else inst.higher_is_worse
    if not rci > 0:
        raise ValueError(f"rci must be positive, got {rci}")
    return float(rci), cutoff, bool(higher_is_worse)


def classify_change(
    pre: np.ndarray | float,
    post: np.ndarray | float,
    *,
    instrument: Instrument | str | None = None,
    rci: float | None = None,
    cutoff: float | None = None,
    higher_is_worse: bool | None = None,
) -> np.ndarray:
    """Jacobson–Truax category of each pre/post pair.

    Parameters
    ----------
    pre, post : array_like
        Scores at intake and at the end (or at any later session).
    instrument : Instrument or str, optional
        Supplies ``rci``, ``cutoff`` and direction unless they are given explicitly.
    rci : float, optional
        Minimum raw change that is reliable (published RCI or :func:`reliable_change_index`).
    cutoff : float, optional
        Clinical cutoff: higher-is-worse scores ``>= cutoff`` are clinical. Without a cutoff
        no patient is ``recovered``; reliable improvers are ``improved``.
    higher_is_worse : bool, optional
        Direction of the scale.

    Returns
    -------
    numpy.ndarray of str
        One of ``recovered``, ``improved``, ``unchanged``, ``deteriorated``; NaN scores give
        ``"missing"``.

    Examples
    --------
    >>> classify_change([18, 18, 18, 12], [9, 12, 15, 18], instrument="phq9").tolist()
    ['recovered', 'improved', 'unchanged', 'deteriorated']
    """
    rci_v, cut, worse_up = _rule(instrument, rci, cutoff, higher_is_worse)
    pre_a = np.asarray(pre, dtype=float)
    post_a = np.asarray(post, dtype=float)
    gain = (pre_a - post_a) if worse_up else (post_a - pre_a)  # improvement, signed
    improved = gain >= rci_v
    worse = -gain >= rci_v
    out = np.full(np.broadcast(pre_a, post_a).shape, "unchanged", dtype=object)
    out[improved] = "improved"
    if cut is not None:
        clin_pre = pre_a >= cut if worse_up else pre_a <= cut
        clin_post = post_a >= cut if worse_up else post_a <= cut
        out[improved & clin_pre & ~clin_post] = "recovered"
    out[worse] = "deteriorated"
    out[np.isnan(pre_a) | np.isnan(post_a)] = "missing"
    return out


@dataclass(frozen=True)
class ReliableChange:
    """The reliable-change threshold used for an analysis, and where it came from.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> rc = reliable_change(load_beat_the_blues(), rci=9.0)
    >>> isinstance(rc, ReliableChange), rc.rci
    (True, 9.0)
    >>> str(ReliableChange(rci=6.0, source="given"))
    'RCI 6.00 (given)'
    """

    rci: float
    source: str
    instrument: Instrument | None = None

    def __str__(self) -> str:
        return f"RCI {self.rci:.2f} ({self.source})"


def reliable_change(data: TherapyData | None = None, *,
                    instrument: Instrument | str | None = None,
                    rci: float | None = None) -> ReliableChange:
    """Return the reliable-change threshold for these data: the one rule every path uses.

    In order: the ``rci`` given; the instrument's published RCI; Jacobson & Truax's
    ``1.96 sqrt(2) SD_1 sqrt(1 - r_xx)`` with the instrument's clinical SD and
    reliability; the same with the **sample's intake SD** (SD_1 is the pre-treatment SD)
    when the instrument has a reliability but no clinical SD. The instrument defaults to
    ``data.instrument``. The returned ``source`` says which rule applied (report it).

    Raises
    ------
    ValueError
        If ``rci`` is not positive, or no rule applies (the message says what to pass).

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> str(reliable_change(instrument="phq9"))
    'RCI 6.00 (published RCI of PHQ-9)'
    >>> reliable_change(load_beat_the_blues()).source.startswith("Jacobson")
    True
    """
    if rci is not None:
        if not (isinstance(rci, int | float) and math.isfinite(rci) and rci > 0):
            raise ValueError(f"rci must be a positive number of score points, got {rci!r}")
        inst = get_instrument(instrument) if instrument is not None else (
            data.instrument if data is not None else None)
        return ReliableChange(float(rci), "given", inst)
    inst = get_instrument(instrument) if instrument is not None else (
        data.instrument if data is not None else None)
    if inst is None:
        raise ValueError("no instrument: give instrument= (a name or an Instrument) or rci= "
                         "(the minimum change in score points that counts as reliable)")
    if inst.published_rci is not None:
        return ReliableChange(float(inst.published_rci), f"published RCI of {inst.name}", inst)
    if inst.clinical_sd is not None and inst.reliability is not None:
        return ReliableChange(reliable_change_index(inst.clinical_sd, inst.reliability),
                              f"Jacobson-Truax from the clinical SD {inst.clinical_sd:g} and "
                              f"reliability {inst.reliability:g} of {inst.name}", inst)
    if inst.reliability is None:
        raise ValueError(f"{inst.name} has no published RCI, clinical SD or reliability; "
                         "pass rci=")
    intake = None if data is None else (
        data.frame.dropna(subset=["score"]).groupby("patient")["score"].first())
    if intake is None or len(intake) < 2:
        raise ValueError(f"{inst.name} has no published RCI or clinical SD, and the intake SD "
                         "needs at least two patients' data; pass rci=")
    sd = float(intake.std())
    return ReliableChange(reliable_change_index(sd, inst.reliability),
                          f"Jacobson-Truax from the sample's intake SD {sd:.2f} and "
                          f"reliability {inst.reliability:g} of {inst.name}", inst)


def _data_rci(
    data: TherapyData, instrument: Instrument | str | None, rci: float | None
) -> tuple[Instrument | None, float | None, str]:
    """(instrument, RCI, source) for the clinical-significance tables."""
    if rci is not None:
        inst = get_instrument(instrument) if instrument is not None else data.instrument
        return inst, rci, "given"
    rc = reliable_change(data, instrument=instrument)
    return rc.instrument, rc.rci, rc.source


def reliable_deterioration_flags(
    data: TherapyData,
    *,
    instrument: Instrument | str | None = None,
    rci: float | None = None,
) -> pd.DataFrame:
    """Flag reliable deterioration session by session, relative to intake.

    Intake is each patient's first observed session.

    Returns
    -------
    pandas.DataFrame
        ``patient``, ``session``, ``score``, ``change`` (worsening in points, positive = worse)
        and ``reliably_deteriorated`` (bool), one row per observation.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> flags = reliable_deterioration_flags(load_beat_the_blues(), rci=9.0)
    >>> int(flags["reliably_deteriorated"].sum()) >= 0
    True
    """
    inst, rci, _ = _data_rci(data, instrument, rci)
    rci_v, _, worse_up = _rule(inst, rci, None, None if inst is not None else data.higher_is_worse)
    frame = data.frame
    intake = frame.groupby("patient", sort=False)["score"].transform("first")
    sign = 1.0 if worse_up else -1.0
    change = sign * (frame["score"] - intake)
    return pd.DataFrame({
        "patient": frame["patient"],
        "session": frame["session"],
        "score": frame["score"],
        "change": change,
        "reliably_deteriorated": (change >= rci_v).to_numpy(),
    })


def clinical_significance(
    data: TherapyData,
    *,
    instrument: Instrument | str | None = None,
    rci: float | None = None,
    cutoff: float | None = None,
) -> pd.DataFrame:
    """Per-patient Jacobson–Truax outcome from intake (first observed score) to last score.

    Parameters
    ----------
    data : TherapyData
        Long-format data; rows with missing scores are ignored for intake and end scores.
    instrument : Instrument or str, optional
        Defaults to ``data.instrument``.
    rci, cutoff : float, optional
        Override the instrument's published values.

    Returns
    -------
    pandas.DataFrame
        One row per patient: ``patient`` (``therapist``), ``n_sessions``, ``end_status``,
        ``intake``, ``final``, ``change`` (final - intake), ``category``, and booleans
        ``recovered``, ``reliably_improved``, ``deteriorated``, ``clinical_at_intake``.
        Patients observed once are ``unchanged`` with ``n_sessions == 1``. ``table.attrs``
        records the ``rci`` and ``cutoff`` used and where the RCI came from.

    See Also
    --------
    summarize_clinical_significance : Percentages per category.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> table = clinical_significance(load_beat_the_blues())
    >>> sorted(table["category"].unique())[:2]
    ['deteriorated', 'improved']
    """
    inst, rci, rci_source = _data_rci(data, instrument, rci)
    frame = data.frame
    frame = frame[frame["score"].notna()]
    g = frame.groupby("patient", sort=True)
    direction = None if inst is not None else data.higher_is_worse
    rci_v, cut, worse_up = _rule(inst, rci, cutoff, direction)
    table = pd.DataFrame({
        "n_sessions": g.size(),
        "intake": g["score"].first(),
        "final": g["score"].last(),
    })
    if data.has_therapist:
        table.insert(0, "therapist", g["therapist"].first())
    table["end_status"] = data.end_status.reindex(table.index)
    table["change"] = table["final"] - table["intake"]
    table["category"] = classify_change(
        table["intake"].to_numpy(), table["final"].to_numpy(),
        rci=rci_v, cutoff=cut, higher_is_worse=worse_up,
    )
    table["recovered"] = table["category"] == "recovered"
    table["reliably_improved"] = table["category"].isin(["recovered", "improved"])
    table["deteriorated"] = table["category"] == "deteriorated"
    if cut is not None:
        table["clinical_at_intake"] = (
            table["intake"] >= cut if worse_up else table["intake"] <= cut
        )
    table = table.reset_index()
    table.attrs.update(rci=rci_v, cutoff=cut, higher_is_worse=worse_up, rci_source=rci_source)
    return table


def summarize_clinical_significance(
    table: pd.DataFrame, *, by: str | list[str] | None = None
) -> pd.DataFrame:
    """Count each Jacobson–Truax category, with percentages, optionally by group.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`clinical_significance`.
    by : str or list of str, optional
        Grouping column(s), e.g. ``"end_status"`` or ``"therapist"``.

    Returns
    -------
    pandas.DataFrame
        Columns (by...), ``category``, ``n``, ``percent``; percentages sum to 100 per group.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> s = summarize_clinical_significance(clinical_significance(load_beat_the_blues()))
    >>> round(float(s["percent"].sum()), 6)
    100.0
    """
    keys = [] if by is None else ([by] if isinstance(by, str) else list(by))
    cats = pd.Categorical(table["category"], categories=list(CATEGORIES))
    frame = table[keys].copy() if keys else pd.DataFrame(index=table.index)
    frame["category"] = cats
    counts = frame.groupby(keys + ["category"], observed=False).size().rename("n").reset_index()
    totals = counts.groupby(keys)["n"].transform("sum") if keys else counts["n"].sum()
    counts["percent"] = 100.0 * counts["n"] / totals
    counts["category"] = counts["category"].astype(str)
    return counts

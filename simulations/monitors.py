"""Not-on-track monitors: who raises an alarm from what a service can observe.

A monitor sees only observed scores. The simulator calls :meth:`Monitor.bind` once with the
:class:`~simulations.config.ClinicConfig` (a monitor that needs nothing from it returns
itself) and then :meth:`Monitor.flag` at every session for all patients of a chunk at once.
A fitted growth model becomes a monitor by implementing these two methods: ``bind`` can
ignore the config, and ``flag`` compares each patient's history with the model's predictive
percentile (for example from :func:`trajectories.estimands.predict`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from trajectories.instruments import Instrument

if TYPE_CHECKING:
    from simulations.config import ClinicConfig

__all__ = ["ExpectedRecoveryMonitor", "Monitor", "ReliableWorseningMonitor"]


@runtime_checkable
class Monitor(Protocol):
    """Anything that can flag not-on-track patients from their observed scores."""

    def bind(self, config: ClinicConfig) -> Monitor:
        """Return a monitor ready for a clinic with this configuration."""
        ...

    def flag(self, session: int, scores: np.ndarray, *, instrument: Instrument) -> np.ndarray:
        """Flags at ``session``.

        Parameters
        ----------
        session : int
            Current session (>= 1; column ``session`` of ``scores``).
        scores : numpy.ndarray, shape (n_patients, session + 1)
            Observed scores so far; column 0 is intake. Rows of patients no longer in
            treatment hold stale values and are ignored by the caller.
        instrument : Instrument
            The outcome measure (direction, RCI).

        Returns
        -------
        numpy.ndarray of bool, shape (n_patients,)
        """
        ...


def _worse(scores: np.ndarray, instrument: Instrument) -> np.ndarray:
    """Scores oriented so that larger means worse."""
    return scores if instrument.higher_is_worse else -scores


@dataclass(frozen=True)
class ReliableWorseningMonitor:
    """Rational rule: flag reliable worsening since intake (Jacobson & Truax 1991).

    A patient is flagged when the observed score is worse than intake by at least the RCI
    (the instrument's published RCI unless ``rci`` is given). Rational rules flag fewer
    eventual failures than empirical curves (Lutz et al. 2006 [V]).

    Examples
    --------
    >>> from trajectories.instruments import get_instrument
    >>> scores = np.array([[15.0, 22.0], [15.0, 18.0]])
    >>> ReliableWorseningMonitor().flag(1, scores, instrument=get_instrument("phq9")).tolist()
    [True, False]
    """

    rci: float | None = None

    def __post_init__(self) -> None:
        if self.rci is not None and not self.rci > 0:
            raise ValueError(f"rci must be positive, got {self.rci}")

    def bind(self, config: ClinicConfig) -> ReliableWorseningMonitor:
        """Nothing to prepare."""
        return self

    def flag(self, session: int, scores: np.ndarray, *, instrument: Instrument) -> np.ndarray:
        """Reliable worsening of the current score relative to intake."""
        rci = self.rci if self.rci is not None else instrument.rci
        oriented = _worse(scores, instrument)
        return (oriented[:, session] - oriented[:, 0]) >= rci


@dataclass(frozen=True)
class ExpectedRecoveryMonitor:
    """Expected-recovery-curve bounds conditional on intake (the OQ method).

    For each session the expected observed score is a linear function of the observed intake
    and the boundary is the ``percentile`` of scores around it, both estimated from a large
    reference run of the generating model under treatment as usual (Finch, Lambert &
    Schaalje 2001 [V] fitted curves to 11,492 patients and used tolerance intervals). A
    patient whose observed score is worse than the boundary is not on track. The exact
    percentile of the published NOT boundaries is [unverified]; 0.90 (the worst tenth at each
    session) is [calibrated]: with it about 30% of patients are ever not on track and NOT
    cases under TAU end about 21% deteriorated and 20% improved (Lambert 2017 [V]).

    Parameters
    ----------
    percentile : float
        Share of on-course patients expected to score better than the boundary, in (0.5, 1).
    n_reference : int
        Patients in the reference run.
    reference_seed : int
        Seed of the reference run (the boundary is a fixed property of the config).

    Examples
    --------
    >>> from simulations.config import ClinicConfig
    >>> mon = ExpectedRecoveryMonitor(n_reference=2_000).bind(ClinicConfig())
    >>> mon.bounds.shape
    (20, 3)
    """

    percentile: float = 0.90
    n_reference: int = 40_000
    reference_seed: int = 0
    bounds: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.5 < self.percentile < 1.0:
            raise ValueError(f"percentile must be in (0.5, 1), got {self.percentile}")
        if not 100 <= self.n_reference <= 10_000_000:
            raise ValueError(f"n_reference must be in [100, 10000000], got {self.n_reference}")

    def bind(self, config: ClinicConfig) -> ExpectedRecoveryMonitor:
        """Estimate the boundary of each session from a reference run of ``config``."""
        bounds = _reference_bounds(config, self.percentile, self.n_reference,
                                   self.reference_seed)
        return replace(self, bounds=bounds)

    def flag(self, session: int, scores: np.ndarray, *, instrument: Instrument) -> np.ndarray:
        """Observed score worse than the session's boundary given intake."""
        if self.bounds is None:
            raise ValueError("ExpectedRecoveryMonitor: call bind(config) before flag()")
        row = self.bounds[min(session, len(self.bounds) - 1)]
        oriented = _worse(scores, instrument)
        return oriented[:, session] > row[0] + row[1] * oriented[:, 0] + row[2]


@functools.lru_cache(maxsize=32)
def _reference_bounds(config: ClinicConfig, percentile: float, n_reference: int,
                      seed: int) -> np.ndarray:
    """Per session: intercept, slope on intake and residual percentile (worse-up scale)."""
    from simulations.clinic import observed_scores  # the clinic imports monitors

    scores = observed_scores(config, n_patients=n_reference, seed=seed)
    inst = config.instrument
    assert isinstance(inst, Instrument)
    oriented = _worse(scores.astype(float), inst)
    out = np.zeros((scores.shape[1], 3))
    for s in range(1, scores.shape[1]):
        seen = ~np.isnan(oriented[:, s])
        if seen.sum() < 30:  # too few still in treatment: carry the previous boundary
            out[s] = out[s - 1]
            continue
        x, y = oriented[seen, 0], oriented[seen, s]
        slope, intercept = np.polyfit(x, y, 1)
        resid = y - (intercept + slope * x)
        out[s] = (intercept, slope, np.quantile(resid, percentile))
    return out

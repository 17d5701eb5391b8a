"""Not-on-track monitors: who raises an alarm from what a service can observe.

A monitor sees only observed scores. The simulator calls :meth:`Monitor.bind` once with the
:class:`~simulations.clinic.config.ClinicConfig` (a monitor that needs nothing from it returns
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

from simulations.clinic.config import ClinicConfig
from simulations.clinic.reference import observed_scores
from trajectories.instruments import Instrument

if TYPE_CHECKING:
    from trajectories.fit import GrowthFit

__all__ = ["ExpectedRecoveryMonitor", "FittedModelMonitor", "Monitor",
           "ReliableWorseningMonitor"]


@runtime_checkable
class Monitor(Protocol):
    """Anything that can flag not-on-track patients from their observed scores.

    Examples
    --------
    >>> from simulations.clinic.config import ClinicConfig
    >>> isinstance(ExpectedRecoveryMonitor(), Monitor)  # any object with bind and flag
    True
    >>> from trajectories.instruments import get_instrument
    >>> m = ExpectedRecoveryMonitor(n_reference=2000).bind(
    ...     ClinicConfig(n_patients=10, n_therapists=2))
    >>> scores = np.array([[15.0, 15.0], [15.0, 27.0]])
    >>> m.flag(1, scores, instrument=get_instrument("phq9")).tolist()
    [False, True]
    """

    def bind(self, config: ClinicConfig) -> Monitor:
        """Return a monitor ready for a clinic with this configuration."""
        ...

    def flag(self, session: int, scores: np.ndarray, *, instrument: Instrument) -> np.ndarray:
        """Return the flags at ``session``.

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
        return _worse(scores[:, session] - scores[:, 0], instrument) >= rci


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
    >>> from simulations.clinic.config import ClinicConfig
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
        # orient the two columns used, not the whole history (called every session)
        now, intake = _worse(scores[:, session], instrument), _worse(scores[:, 0], instrument)
        return now > row[0] + row[1] * intake + row[2]


@functools.lru_cache(maxsize=32)
def _reference_bounds(config: ClinicConfig, percentile: float, n_reference: int,
                      seed: int) -> np.ndarray:
    """Per session: intercept, slope on intake and residual percentile (worse-up scale)."""
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


@dataclass(frozen=True, eq=False)
class FittedModelMonitor:
    """Not-on-track status from a fitted growth model: the predicted risk of failure.

    At each session the monitor computes, for every patient at once, the posterior
    predictive probability that the patient will show no reliable improvement at
    ``at_session`` (the planned end) given the scores seen so far, exactly as
    :func:`trajectories.predict.predict` does for a patient of an unknown therapist (the
    therapist effect is integrated out: the simulator does not tell a monitor who the
    therapist is). A patient is flagged when that probability exceeds ``threshold``.

    Everything that does not depend on the scores (posterior draws, the per-session
    conditional covariances) is computed once per session number and cached, so a call
    costs a few array operations of size draws x patients.

    Parameters
    ----------
    fit : trajectories.fit.GrowthFit
        A growth model fitted to observed scores of the same instrument. Its covariates may
        only be ``"intake"`` (with or without a time interaction).
    threshold : float
        Flag when the predicted probability of failure exceeds this, in (0, 1).
    at_session : int, optional
        Session the prediction is for; default the clinic's last session
        (``max_sessions - 1``, set by :meth:`bind`).
    max_draws : int
        Evenly spaced posterior draws used (fewer is faster).
    rci : float, optional
        Reliable change index; default the instrument's.

    Examples
    --------
    ``clinic_fit`` (a doctest fixture) is ``fit_growth(GrowthSpec(time="log",
    therapist="intercept"), train.data, seed=1)`` (short runs) of a simulated clinic's data
    ``train = simulate(ClinicConfig(n_patients=100, n_therapists=5), "tau", seed=1)``:

    >>> from trajectories.instruments import get_instrument
    >>> mon = FittedModelMonitor(clinic_fit, threshold=0.8, max_draws=50).bind(
    ...     ClinicConfig(n_patients=10, n_therapists=2))
    >>> scores = np.array([[15.0, 14.0, 12.0], [15.0, 22.0, 27.0]])  # improving, worsening
    >>> mon.flag(2, scores, instrument=get_instrument("phq9")).tolist()
    [False, True]
    """

    fit: GrowthFit
    threshold: float = 0.8
    at_session: int | None = None
    max_draws: int = 200
    rci: float | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if not (isinstance(self.max_draws, int) and self.max_draws >= 1):
            raise ValueError(f"max_draws must be a positive integer, got {self.max_draws!r}")
        spec = self.fit.spec
        if set(spec.covariates) - {"intake"}:
            raise ValueError("FittedModelMonitor: the fit may only have the 'intake' "
                             f"covariate, got {spec.covariates}")
        if spec.likelihood != "normal":
            raise ValueError("FittedModelMonitor needs a normal-likelihood fit")

    def bind(self, config: ClinicConfig) -> FittedModelMonitor:
        """Set the target session to the clinic's last session unless given."""
        at = self.at_session if self.at_session is not None else config.max_sessions - 1
        return replace(self, at_session=at, _cache={})

    def _params(self) -> dict:
        """Posterior draws reduced to what the monitor needs (computed once)."""
        if "params" in self._cache:
            return self._cache["params"]
        from trajectories.fit import posterior_draws  # PyMC loads only when a fit is used
        from trajectories.predict import pad

        fit = self.fit
        spec, design = fit.spec, fit.design
        d = posterior_draws(fit).thin(self.max_draws)
        kf = len(spec.coefficients)
        k = max(design.q, design.q_t)
        prior = pad(d.sigma_v, k)
        if design.q_t:
            prior = prior + pad(d.sigma_u, k)  # unknown therapist: integrated out
        terms = list(design.terms)
        beta = d.beta
        n = len(d.residual_sd)
        intake_main = beta[:, terms.index("intake")] if "intake" in terms else np.zeros(n)
        inter = [terms.index(f"intake:{t}") for t in spec.time_terms if f"intake:{t}" in terms]
        intake_time = beta[:, inter] if inter else np.zeros((n, kf - 1))
        enc = design.encoding.get("intake", {"mean": 0.0})
        self._cache["params"] = {
            "beta": beta[:, :kf], "intake_main": intake_main, "intake_time": intake_time,
            "intake_mean": float(enc["mean"]), "sigma": d.residual_sd, "prior": prior,
            "k": k, "spec": spec,
        }
        return self._cache["params"]

    def _session(self, session: int) -> dict:
        """Score-free quantities for the sessions 0..session (cached per session)."""
        if session in self._cache:
            return self._cache[session]
        p = self._params()
        spec, k = p["spec"], p["k"]
        sess = np.arange(session + 1, dtype=float)
        basis = np.column_stack([np.ones_like(sess), spec.time_basis(sess)])  # (J, kf)
        target = np.concatenate([[1.0], spec.time_basis(np.array([float(self.at_session)]))[0]])
        z = basis[:, :k]
        out = {
            "z": z, "ztz": (z.T @ z)[None],
            "ztx_b": (z.T @ basis)[None] @ p["beta"][:, :, None],  # (S, k, 1)
            "zt_cov": z.T @ basis
            @ np.concatenate([p["intake_main"][:, None], p["intake_time"]], axis=1).T,  # (k, S)
            "mean_t": p["beta"] @ target,  # (S,)
            "cov_t": p["intake_main"] + p["intake_time"] @ target[1:],  # (S,)
            "z_t": target[:k],
        }
        self._cache[session] = out
        return out

    def p_failure(self, session: int, scores: np.ndarray, *,
                  instrument: Instrument) -> np.ndarray:
        """Predicted probability of no reliable improvement at ``at_session``, per patient.

        ``scores`` is ``(n_patients, >= session + 1)``; columns ``0..session`` are used. The
        patient effects given the scores come from the prediction core of
        :func:`trajectories.predict.effect_posterior` (the same algebra as ``predict``).
        """
        from trajectories.predict import effect_posterior, reliable_change_probability

        if self.at_session is None:
            raise ValueError("FittedModelMonitor: call bind(config) before flag()")
        c = self._session(int(session))
        p = self._params()
        y = np.asarray(scores, dtype=float)[:, : session + 1]
        intake_c = y[:, 0] - p["intake_mean"]  # (N,)
        ztr = ((y @ c["z"])[None] - c["ztx_b"][:, :, 0][:, None, :]
               - intake_c[None, :, None] * c["zt_cov"].T[:, None, :])  # (S, N, k)
        v, cov = effect_posterior(p["sigma"], p["prior"], c["ztz"], ztr)
        mean = (c["mean_t"][:, None] + intake_c[None] * c["cov_t"][:, None]
                + v @ c["z_t"])  # (S, N)
        var_t = np.einsum("i,snij,j->sn", c["z_t"], cov, c["z_t"])  # (S, 1)
        sd_t = np.sqrt(var_t + p["sigma"][:, None] ** 2)
        worse = 1.0 if instrument.higher_is_worse else -1.0
        rci = self.rci if self.rci is not None else instrument.rci
        # on the instrument's range, as predict(): no reliable improvement beyond the floor
        p_better = reliable_change_probability(
            -worse, mean - y[None, :, 0], sd_t, y[:, 0], np.ones(len(y), dtype=bool), rci,
            float(instrument.min_score), float(instrument.max_score))
        return 1.0 - p_better

    def flag(self, session: int, scores: np.ndarray, *, instrument: Instrument) -> np.ndarray:
        """Predicted risk of failure above ``threshold`` (NaN rows are not flagged)."""
        with np.errstate(invalid="ignore"):
            return self.p_failure(session, scores, instrument=instrument) > self.threshold

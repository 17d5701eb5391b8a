"""Paired policy comparisons with common random numbers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from simulations.clinic.config import ClinicConfig
from simulations.clinic.monitors import Monitor
from simulations.clinic.outcomes import (
    OUTCOMES,
    RATIOS,
    Z95,
    difference_se,
    event_share,
    interval_method,
    rate_interval,
    ratio_influence,
)
from simulations.clinic.policies import Policy, as_combined
from simulations.clinic.simulate import simulate

__all__ = ["compare_policies"]

COLUMNS = ["policy", "subgroup", "outcome", "rate", "ci_low", "ci_high", "diff_vs_tau",
           "diff_ci_low", "diff_ci_high", "n", "interval"]


def compare_policies(
    config: ClinicConfig,
    policies: Sequence[Policy | str],
    *,
    seed: int | None = None,
    monitor: Monitor | None = None,
    outcomes: tuple[str, ...] = (*OUTCOMES, *RATIOS),
    progress: bool = False,
) -> pd.DataFrame:
    """Simulate the same clinic under several policies and compare each with TAU.

    Every policy runs on the same seed, so it sees the same patients, therapists and noise
    (common random numbers); differences to treatment as usual are paired per patient, which
    makes their intervals much narrower than those of independent runs.

    Parameters
    ----------
    config : ClinicConfig
    policies : sequence of Policy or str
        Policies or names (``"feedback+cst"``); treatment as usual is always simulated as the
        reference and listed first.
    seed : int, optional
        Root seed shared by all policies (the same patients and noise under each). When not
        given, one is drawn by the first run, used for every policy and recorded in the
        table's ``attrs["seed"]``.
    monitor : Monitor, optional
        One not-on-track definition for all policies (default: each policy's own, else the
        expected-recovery-curve monitor).
    outcomes : tuple of str
        Boolean outcome columns of the patient table (by default those of
        :data:`~simulations.clinic.outcomes.OUTCOMES`, at the end of treatment and at the
        common horizon, ``*_horizon``), and shares of events in
        :data:`~simulations.clinic.outcomes.RATIOS` (``ruptures_resolved``,
        ``ruptures_noticed``: per rupture, not per patient).
    progress : bool
        Show progress over policies.

    Returns
    -------
    pandas.DataFrame
        One row per policy x subgroup (``all``, ``NOT``) x outcome: ``rate`` with
        ``ci_low``/``ci_high`` (95%, cluster-robust by therapist), ``diff_vs_tau`` with
        ``diff_ci_low``/``diff_ci_high`` (paired, delta method; 0 for TAU itself), ``n``,
        the patients in the subgroup, and ``interval``. In the NOT subgroup each policy's
        own not-on-track patients are compared, as in the OQ trials. With fewer than
        :data:`simulations.clinic.outcomes.MIN_CLUSTERS` therapists the cluster-robust intervals
        would be too narrow (zero width with one therapist): rates then have Wilson
        intervals and differences paired intervals that treat patients as independent,
        ``interval`` is ``"independent"`` and a
        :class:`~simulations.clinic.outcomes.FewClustersWarning` says so.

    Examples
    --------
    >>> from simulations import ClinicConfig
    >>> table = compare_policies(ClinicConfig(n_patients=300, n_therapists=20),
    ...                          ["feedback"], seed=5)
    >>> table["policy"].unique().tolist()
    ['tau', 'feedback']
    """
    names = [as_combined(p) for p in policies]
    runs = [as_combined("tau")] + [p for p in names if p.name != "tau"]
    if len({p.name for p in runs}) != len(runs):
        raise ValueError("policies: each policy may be listed once")
    iterator = runs
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(runs, desc="policies", unit="policy")
    results = {}
    for policy in iterator:
        sim = simulate(config, policy, seed=seed, monitor=monitor, keep_sessions=False)
        seed = sim.seed  # drawn by the first run when not given: the same for every policy
        results[policy.name] = sim.patients
    table = paired_table(results, outcomes=outcomes)
    table.attrs["seed"] = seed
    return table


def paired_table(results: dict[str, pd.DataFrame], *,
                 outcomes: tuple[str, ...] = (*OUTCOMES, *RATIOS),
                 subgroups: dict[str, str | None] | None = None,
                 reference: str = "tau") -> pd.DataFrame:
    """Tabulate rates and paired differences to ``results[reference]``.

    The runs have the same patients in the same order; the difference columns keep their name
    ``diff_vs_tau`` whatever the reference.

    ``subgroups`` maps a label to a boolean column of the patient tables (``None``: all
    patients); default ``{"all": None, "NOT": "ever_not"}``. A subgroup defined by what a
    policy changes (``ever_not``) is each policy's own, as in the OQ trials; one fixed before
    treatment (a therapist's skill) is the same patients under every policy.

    Examples
    --------
    >>> from simulations import ClinicConfig, simulate
    >>> cfg = ClinicConfig(n_patients=400, n_therapists=20)  # >= 20: cluster-robust
    >>> runs = {p: simulate(cfg, p, seed=1, keep_sessions=False).patients
    ...         for p in ("tau", "alliance-repair")}
    >>> for frame in runs.values():
    ...     frame["early_case"] = frame["intake"] >= 15
    >>> table = paired_table(runs, outcomes=("dropout",), subgroups={"severe": "early_case"})
    >>> table[["policy", "subgroup", "outcome"]].values.tolist()
    [['tau', 'severe', 'dropout'], ['alliance-repair', 'severe', 'dropout']]
    """
    tau = results[reference]
    cluster = tau["therapist"].to_numpy()
    method = interval_method(cluster)
    groups = {"all": None, "NOT": "ever_not"} if subgroups is None else subgroups
    rows = []
    for name, patients in results.items():
        if not np.array_equal(patients["patient"].to_numpy(), tau["patient"].to_numpy()):
            raise ValueError(f"policy {name}: patients differ from TAU's; use the same config")
        for subgroup, column in groups.items():
            member = (np.ones(len(patients), bool) if column is None
                      else patients[column].to_numpy(bool))
            member_tau = (np.ones(len(tau), bool) if column is None
                          else tau[column].to_numpy(bool))
            for outcome in outcomes:
                if outcome == column:
                    continue
                rate, low, high, phi = _rate(patients, outcome, member, cluster, method)
                rate_tau, _, _, phi_tau = _rate(tau, outcome, member_tau, cluster, method)
                se_diff = difference_se(phi - phi_tau, cluster, method)
                diff = rate - rate_tau
                rows.append({"policy": name, "subgroup": subgroup, "outcome": outcome,
                             "n": int(member.sum()), "rate": rate, "ci_low": low,
                             "ci_high": high, "diff_vs_tau": diff,
                             "diff_ci_low": diff - Z95 * se_diff,
                             "diff_ci_high": diff + Z95 * se_diff, "interval": method})
    return pd.DataFrame(rows, columns=COLUMNS)


def _rate(patients: pd.DataFrame, outcome: str, member: np.ndarray, cluster: np.ndarray,
          method: str) -> tuple[float, float, float, np.ndarray]:
    """Compute (rate, low, high, influence) of an outcome among ``member``.

    The outcome is a share of patients (:func:`~simulations.clinic.outcomes.rate_interval`) or a
    share of events in :data:`~simulations.clinic.outcomes.RATIOS` (Wald interval with the same SE
    rule).
    """
    if outcome in RATIOS:
        rate, phi = ratio_influence(*event_share(patients, outcome, member))
        se = difference_se(phi, cluster, method)
        return rate, rate - Z95 * se, rate + Z95 * se, phi
    return rate_interval(patients[outcome].to_numpy().astype(float), member, cluster, method)

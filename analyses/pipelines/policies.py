"""Policy comparison pipeline: simulate one clinic under several policies and report it."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pandas as pd

from analyses.plots import plot_policy_differences, plot_policy_rates, plot_retention
from analyses.report import Report, provenance
from simulations import ClinicConfig, compare_policies, simulate
from simulations.clinic.outcomes import FewClustersWarning, few_clusters_note
from simulations.clinic.policies import as_combined
from trajectories.retention import retention_table

__all__ = ["DEMO_POLICIES", "compare_policies_report", "headline_policy_numbers",
           "headline_table"]

#: The policies of the demo: treatment as usual, ROM feedback, feedback with clinical
#: support tools, and alliance-rupture repair.
DEMO_POLICIES: tuple[str, ...] = ("tau", "feedback", "feedback+cst", "alliance-repair")
_SHOWN = ["deteriorated", "failure", "dropout", "failure_horizon"]


def compare_policies_report(
    config: ClinicConfig,
    policies: Sequence[str] = DEMO_POLICIES,
    *,
    seed: int,
    report: Report | None = None,
) -> tuple[Report, pd.DataFrame]:
    """Compare policies on one simulated clinic (common random numbers) and report it.

    Adds to ``report`` (or a new one): the comparison table, rates by policy for all
    patients and for the not-on-track subgroup, paired differences to TAU, and retention by
    policy.

    Returns
    -------
    (Report, pandas.DataFrame)
        The report and the comparison table of :func:`simulations.compare_policies`.

    Examples
    --------
    >>> rep, table = compare_policies_report(ClinicConfig(n_patients=300, n_therapists=6),
    ...                                      ["tau", "feedback"], seed=1)
    >>> sorted(rep.tables)
    ['policy_comparison', 'policy_headline', 'retention_by_policy']
    """
    with warnings.catch_warnings():  # the report states which intervals it shows
        warnings.simplefilter("ignore", FewClustersWarning)
        table = compare_policies(config, list(policies), seed=seed)
    robust = bool((table["interval"] == "cluster-robust").all())
    rep = report if report is not None else Report(
        "Policy comparison", meta=provenance(seed=seed, config=config.to_dict()))
    rep.add_heading("Policies compared on the same simulated patients")
    rep.add_text(
        f"{config.n_patients} patients of {config.n_therapists} therapists were simulated under "
        f"each policy with seed {seed}; every policy sees the same patients, therapists and "
        "noise (common random numbers), so differences to treatment as usual are paired. "
        + ("Intervals are 95% and cluster-robust by therapist. " if robust else
           f"Intervals are 95%; {few_clusters_note(config.n_therapists)}. ")
        + "'NOT' is the not-on-track subgroup, as in the OQ feedback trials. Outcomes "
        f"ending in '_horizon' are measured for every patient at week {config.horizon}, "
        "whatever ended treatment."
    )
    rep.add_table("policy_headline", headline_table(table),
                  "Percent of patients by policy (95% interval); paired difference to TAU in "
                  "percentage points")
    rep.add_table("policy_comparison", table, "All outcome rates and paired differences "
                  "to treatment as usual", show=False)
    outcomes = [o for o in _SHOWN if o in set(table["outcome"])]
    rep.add_figure("policy_rates", plot_policy_rates(table, outcomes=outcomes),
                   "Rates by policy, all patients (95% intervals)")
    rep.add_figure("policy_rates_not", plot_policy_rates(table, subgroup="NOT",
                                                         outcomes=outcomes),
                   "Rates by policy, not-on-track patients")
    if (table["policy"] != "tau").any():
        rep.add_figure("policy_differences", plot_policy_differences(table, outcomes=outcomes),
                       "Paired differences to treatment as usual, all patients")
    retention = []
    for name in dict.fromkeys(["tau", *policies]):
        patients = simulate(config, name, seed=seed, keep_sessions=False).patients
        retention.append(retention_table(
            pd.DataFrame({"last_session": patients["n_sessions"] - 1,
                          "end_status": patients["end_status"].astype(str),
                          "policy": as_combined(name).name}), by="policy"))
    by_policy = pd.concat(retention, ignore_index=True)
    rep.add_table("retention_by_policy", by_policy, "Kaplan–Meier retention by policy",
                  show=False)
    rep.add_figure("retention_by_policy", plot_retention(by_policy, by="policy"),
                   "Share of patients still in treatment after each session, by policy")
    return rep, table


def headline_table(table: pd.DataFrame, outcomes: Sequence[str] = tuple(_SHOWN)) -> pd.DataFrame:
    """Tabulate a comparison compactly: one row per subgroup and policy, one column per outcome.

    Cells read like ``"6.7 [5.3, 8.0]"`` (percent) and ``"-3.7 [-4.5, -2.8]"`` (difference).

    Examples
    --------
    >>> t = pd.DataFrame({"policy": ["tau"], "subgroup": ["all"], "outcome": ["dropout"],
    ...                   "rate": [0.2], "ci_low": [0.18], "ci_high": [0.22],
    ...                   "diff_vs_tau": [0.0], "diff_ci_low": [0.0], "diff_ci_high": [0.0]})
    >>> headline_table(t, ["dropout"]).iloc[0].tolist()
    ['all', 'tau', '20.0 [18.0, 22.0]', '']
    """
    sel = table[table["outcome"].isin(outcomes)]
    rows = []
    for (subgroup, policy), g in sel.groupby(["subgroup", "policy"], sort=False):
        row: dict[str, str] = {"subgroup": subgroup, "policy": policy}
        for _, r in g.iterrows():
            row[r["outcome"]] = (f"{100 * r['rate']:.1f} [{100 * r['ci_low']:.1f}, "
                                 f"{100 * r['ci_high']:.1f}]")
            row[f"{r['outcome']} vs TAU"] = "" if policy == "tau" else (
                f"{100 * r['diff_vs_tau']:+.1f} [{100 * r['diff_ci_low']:+.1f}, "
                f"{100 * r['diff_ci_high']:+.1f}]")
        rows.append(row)
    return pd.DataFrame(rows).sort_values("subgroup", kind="stable", ignore_index=True)


def headline_policy_numbers(table: pd.DataFrame) -> list[str]:
    """Plain sentences with the main rates and differences of a comparison table.

    Examples
    --------
    >>> lines = headline_policy_numbers(policy_table)  # tau and feedback, a tiny clinic
    >>> lines[0].startswith("deteriorated, all patients: tau ")  # doctest: +ELLIPSIS
    True
    """
    lines = []
    for subgroup, label in (("all", "all patients"), ("NOT", "not-on-track patients")):
        sel = table[(table["subgroup"] == subgroup)]
        for outcome in ("deteriorated", "dropout", "failure", "failure_horizon"):
            rows = sel[sel["outcome"] == outcome]
            if rows.empty:
                continue
            parts = []
            for _, r in rows.iterrows():
                text = f"{r['policy']} {100 * r['rate']:.1f}%"
                if r["policy"] != "tau":
                    text += (f" ({100 * r['diff_vs_tau']:+.1f} pp, 95% CI "
                             f"{100 * r['diff_ci_low']:+.1f} to {100 * r['diff_ci_high']:+.1f})")
                parts.append(text)
            lines.append(f"{outcome}, {label}: " + "; ".join(parts))
    return lines

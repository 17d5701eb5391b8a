"""Validation of the joint growth–dropout model: bias and coverage with Monte Carlo SEs.

ADEMP (Morris, White & Crowther 2019):

* Aim: does the shared-parameter joint model remove the bias a naive growth model has
  when dropout depends on the latent trajectory, and agree with it when dropout does not?
* Data: two-level, ``n`` patients, sessions 0..7, ``y = 20 + v0 + (-3 + v1) log(1+s) + e``
  with ``v0 ~ N(0, 4^2)``, ``v1 ~ N(0, 1.5^2)``, ``e ~ N(0, 3^2)``. After each session
  before the last, a patient drops out with probability
  ``logistic(b + a_imp * max(-c, 0) + a_wor * max(c, 0))``, ``c = (m(s) - m(0)) / 5`` the
  latent change since intake in units of 5 points (positive = worse):
  ``informative``: b = -4.2, a_imp = 4, a_wor = 2 (improvers and deteriorators leave,
  Arndt et al. 2020; 78% drop out, a stress test); ``routine``: b = -5, a_imp = a_wor = 2
  (the same mechanism at the rate of routine CBT, about 28%; Bennemann et al. 2022);
  ``ignorable``: b = -2, a = 0 (completely at random).
* Estimand: the population expected change from intake to session 7, truth
  ``-3 log(8) = -6.238``.
* Methods: ``naive`` = :func:`trajectories.fit.fit_growth` (log time, correlated patient
  intercept and slope, fast path); ``joint`` = ``fit_growth`` of the same growth spec with
  ``dropout=DropoutSpec(...)`` (the shared-parameter model of :mod:`trajectories.joint`,
  sampled through the machine code of :mod:`trajectories.joint_fit`), the default shared
  terms (level + improvement + worsening) and baseline bins starting at sessions 0, 1, 2,
  4; ``joint_latent`` (first ``--latent-reps`` replications only) = the same model as the
  PyMC latent model (``GrowthSpec(method="latent")``, what ``fit_growth`` sampled before
  issue 16), for the convergence and time comparison on the same data sets. Default
  sampler settings (2 chains x 1000 draws after 1000 tuning steps) unless given.
* Performance: bias, empirical SE, coverage of the 90% interval, each with its MCSE:
  MCSE(bias) = SD / sqrt(R), MCSE(coverage) = sqrt(cov (1 - cov) / R); the share of fits
  failing a convergence check (R-hat <= 1.01, ESS >= 100 per chain, no divergences) with
  its binomial MCSE; mean wall and CPU seconds per fit with MCSE = SD / sqrt(R); per
  scenario also the mean paired difference joint - naive and the bias ratio joint /
  naive, with MCSEs (the ratio's by the delta method, using the covariance of the paired
  errors).

Run (resumable; results are appended per replication)::

    nice -n 10 .venv/bin/python benchmarks/dropout_validation.py --reps 100 \
        --latent-reps 20 --out benchmarks/dropout_validation.csv
    .venv/bin/python benchmarks/dropout_validation.py --summarise benchmarks/dropout_validation.csv
"""

from __future__ import annotations

import argparse
import math
import os
import time
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

N_SESSIONS = 8
TRUTH = -3.0 * math.log1p(N_SESSIONS - 1)
# (b, a_imp, a_wor); new scenarios go last, so the earlier ones keep their seeds.
SCENARIOS = {"informative": (-4.2, 4.0, 2.0), "ignorable": (-2.0, 0.0, 0.0),
             "routine": (-5.0, 2.0, 2.0)}


def generate(n_patients: int, scenario: str, rng: np.random.Generator):  # noqa: ANN201
    """One simulated data set (TherapyData with end statuses) under a scenario."""
    from trajectories.data import TherapyData

    base, a_imp, a_wor = SCENARIOS[scenario]
    v0 = rng.normal(0, 4, n_patients)
    v1 = rng.normal(0, 1.5, n_patients)
    s = np.arange(N_SESSIONS)
    m = 20 + v0[:, None] + (-3 + v1[:, None]) * np.log1p(s)[None, :]
    y = m + rng.normal(0, 3, m.shape)
    c = (m - m[:, :1]) / 5
    logit = base + a_imp * np.maximum(-c, 0) + a_wor * np.maximum(c, 0)
    drop = rng.random(m.shape) < 1 / (1 + np.exp(-logit))
    drop[:, -1] = False  # the last session is the planned end
    last = np.where(drop.any(1), drop.argmax(1), N_SESSIONS - 1)
    pid, sess = np.nonzero(s[None, :] <= last[:, None])
    frame = pd.DataFrame({"patient": pid, "session": sess, "score": y[pid, sess],
                          "status": np.where(last[pid] < N_SESSIONS - 1, "dropout",
                                             "completed")})
    return TherapyData.from_frame(frame, patient="patient", session="session",
                                  score="score", end_status="status")


def replicate(scenario: str, rep: int, ss: np.random.SeedSequence, args) -> list[dict]:  # noqa: ANN001
    """Fit naive and joint models to one data set; one row per method."""
    from trajectories.fit import fit_growth
    from trajectories.joint import change_without_dropout
    from trajectories.spec import DropoutSpec, GrowthSpec

    data_ss, naive_ss, joint_ss = ss.spawn(3)
    data = generate(args.patients, scenario, np.random.default_rng(data_ss))
    spec = GrowthSpec(time="log")
    joint_spec = replace(spec, dropout=DropoutSpec(breaks=(0, 1, 2, 4), coef_sd=args.coef_sd))
    specs = {"naive": spec, "joint": joint_spec,
             "joint_latent": replace(joint_spec, method="latent")}
    methods = ["naive", "joint"] + (["joint_latent"] if rep < args.latent_reps else [])
    rows = []
    for method in methods:
        start, cpu = time.perf_counter(), time.process_time()
        # naive and joint fits of a replication have their own seeds; both joint methods
        # share one (same data, same seed: only the sampler's coordinates differ)
        seed = int((naive_ss if method == "naive" else joint_ss).generate_state(1)[0])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # The joint model is the same growth spec with a dropout part.
            fit = fit_growth(specs[method], data, draws=args.draws, tune=args.tune,
                             chains=2, seed=seed)
        est = change_without_dropout(fit, at_session=N_SESSIONS - 1, prob=0.9)
        row = est[(est["level"] == "population") & (est["quantity"] == "change")].iloc[0]
        rows.append({"scenario": scenario, "replication": rep, "method": method,
                     "estimate": row["mean"], "sd": row["sd"], "ci_low": row["ci_low"],
                     "ci_high": row["ci_high"], "truth": TRUTH,
                     "dropout_rate": float((data.end_status == "dropout").mean()),
                     "max_rhat": fit.diagnostics.max_rhat,
                     "min_ess_bulk": fit.diagnostics.min_ess_bulk,
                     "min_ess_tail": fit.diagnostics.min_ess_tail,
                     "n_divergent": fit.diagnostics.n_divergent, "ok": fit.diagnostics.ok,
                     "failing": ";".join(fit.diagnostics.failing),
                     "n_warnings": len(caught), "seconds": time.perf_counter() - start,
                     "cpu_seconds": time.process_time() - cpu,
                     "compile_seconds": fit.diagnostics.seconds.get("compile", 0.0),
                     "draws": args.draws, "tune": args.tune, "coef_sd": args.coef_sd})
    return rows


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Bias, empirical SE, coverage (90%) with MCSEs per scenario and method."""
    out = []
    for (scenario, method), g in results.groupby(["scenario", "method"], sort=True):
        r = len(g)
        err = g["estimate"] - g["truth"]
        cover = ((g["ci_low"] <= g["truth"]) & (g["truth"] <= g["ci_high"])).mean()
        failed = float((~g["ok"].astype(bool)).mean() if "ok" in g else
                       ((g["n_warnings"] > 0) | (g["n_divergent"] > 0)).mean())
        # time after the one compilation of a PyMC model (its first fit compiles)
        secs = g["seconds"] - g.get("compile_seconds", 0.0)
        out.append({"scenario": scenario, "method": method, "replications": r,
                    "dropout_rate": g["dropout_rate"].mean(),
                    "bias": err.mean(), "bias_mcse": err.std(ddof=1) / math.sqrt(r),
                    "empirical_se": err.std(ddof=1),
                    "empirical_se_mcse": err.std(ddof=1) / math.sqrt(2 * (r - 1)),
                    "model_se": g["sd"].mean(), "coverage_90": cover,
                    "coverage_mcse": math.sqrt(cover * (1 - cover) / r),
                    "share_failing_checks": failed,
                    "share_failing_mcse": math.sqrt(failed * (1 - failed) / r),
                    "divergences": int(g["n_divergent"].sum()),
                    "mean_seconds": secs.mean(), "seconds_mcse": secs.std(ddof=1) / math.sqrt(r),
                    **({"mean_cpu_seconds": g.loc[g["compile_seconds"] == 0,
                                                  "cpu_seconds"].mean()}
                       if "cpu_seconds" in g else {})})
    table = pd.DataFrame(out)
    wide = results[results["method"].isin(["naive", "joint"])].pivot_table(
        index=["scenario", "replication"], columns="method", values="estimate").dropna()
    truth = results.groupby("scenario")["truth"].first()
    for scenario, g in wide.groupby(level=0):
        d = g["joint"] - g["naive"]
        # bias ratio joint / naive, MCSE by the delta method with the paired covariance
        ej, en = g["joint"] - truth[scenario], g["naive"] - truth[scenario]
        bj, bn, r = ej.mean(), en.mean(), len(g)
        cov = np.cov(ej, en, ddof=1)
        var = (cov[0, 0] / bn**2 - 2 * bj * cov[0, 1] / bn**3 + bj**2 * cov[1, 1] / bn**4) / r
        if abs(bn) < 2 * math.sqrt(cov[1, 1] / r):  # no naive bias to take a ratio of
            ratio = (math.nan, math.nan)
        else:
            ratio = (bj / bn, math.sqrt(var))
        table.loc[(table["scenario"] == scenario) & (table["method"] == "joint"),
                  ["paired_diff", "paired_diff_mcse", "bias_ratio", "bias_ratio_mcse"]] = [
            d.mean(), d.std(ddof=1) / math.sqrt(r), *ratio]
    return table


def markdown(table: pd.DataFrame) -> str:
    """A Markdown table (numbers to 3 decimals) without extra dependencies."""
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
             for row in table.itertuples(index=False)]
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells])


def main() -> None:
    """Run (or resume) the study, then print the summary table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=50)
    p.add_argument("--first", type=int, default=0,
                   help="first replication to run (split a study over processes: "
                        "--first 0 --reps 50 and --first 50 --reps 100, separate --out files)")
    p.add_argument("--patients", type=int, default=150)
    p.add_argument("--draws", type=int, default=1000, help="draws per chain (default: the "
                   "SamplerSettings default)")
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--latent-reps", type=int, default=0,
                   help="also fit the PyMC latent joint model (the pre-issue-16 sampler) in "
                        "the first N replications of each scenario")
    p.add_argument("--seed", type=int, default=20261122)
    p.add_argument("--coef-sd", type=float, default=1.0,
                   help="prior SD of the joint model's association coefficients (per SD of "
                        "the scores; DropoutSpec.coef_sd, default 1)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--out", default="benchmarks/dropout_validation.csv")
    p.add_argument("--summarise", metavar="CSV", help="only summarise an existing CSV")
    args = p.parse_args()
    if args.summarise:
        print(markdown(summarise(pd.read_csv(args.summarise))))
        return
    done = pd.read_csv(args.out) if os.path.exists(args.out) else pd.DataFrame()
    root = np.random.SeedSequence(args.seed)
    names = list(SCENARIOS)
    children = dict(zip(names, root.spawn(len(names)), strict=True))
    # Replication r of a scenario always gets the same seed, so a resumed run is identical.
    seeds = {s: children[s].spawn(args.reps) for s in names}
    for rep in range(args.first, args.reps):
        for scenario in args.scenarios.split(","):
            want = 3 if rep < args.latent_reps else 2
            if len(done) and ((done["scenario"] == scenario)
                              & (done["replication"] == rep)).sum() >= want:
                continue
            rows = pd.DataFrame(replicate(scenario, rep, seeds[scenario][rep], args))
            rows.to_csv(args.out, mode="a", header=not os.path.exists(args.out), index=False)
            done = pd.concat([done, rows], ignore_index=True)
            print(f"{scenario} rep {rep}: " + ", ".join(
                f"{m} {e:.2f} [{lo:.2f}, {hi:.2f}] {t:.0f}s" for m, e, lo, hi, t in
                rows[["method", "estimate", "ci_low", "ci_high", "seconds"]].to_numpy()),
                flush=True)
    print(markdown(summarise(done)))


if __name__ == "__main__":
    main()

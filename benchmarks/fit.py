"""Fitting benchmark: setback's fast path vs a latent PyMC model, bambi and lme4, in one run.

Usage::

    python -m benchmarks.fit [--workload W1,W2,W3] [--vs bambi,latent,lme4]
                             [--draws 1000 --tune 1000 --chains 2] [--timeout 1200]

Each tool runs in a fresh subprocess on the same CSV (written by
:mod:`benchmarks.generate`), timed end to end from process start (imports included) to
its summary table, with compilation and sampling timed separately. The Bayesian tools
use nutpie with ``chains`` x ``draws`` after ``tune`` tuning steps. Reported: wall time,
min bulk-ESS over the four random-effect SDs and the residual SD, ESS per second of wall
time, and ratios to bambi and lme4 (lme4 gives a REML point estimate only, so its ratio
is of wall times). A tool that exceeds ``--timeout`` seconds is stopped and reported as a
lower bound. Results are printed as a Markdown table and appended as JSON lines to
``benchmarks/results/fit.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.generate import WORKLOADS, simulate_workload

ROOT = Path(__file__).resolve().parents[1]
SD_NAMES = {  # the five variance parameters, per tool
    "setback": ["therapist_intercept_sd", "therapist_slope_sd", "patient_intercept_sd",
                "patient_slope_sd", "residual_sd"],
    "bambi": ["1|therapist_sigma", "lt|therapist_sigma", "1|patient_sigma", "lt|patient_sigma",
              "sigma"],
}
R_SCRIPT = """
t0 <- Sys.time()
suppressMessages(library(lme4))
d <- read.csv(commandArgs(TRUE)[1]); d$lt <- log1p(d$session)
t1 <- Sys.time()
m <- lmer(score ~ lt + (lt | therapist) + (lt | patient), data = d, REML = TRUE)
s <- summary(m)
t2 <- Sys.time()
vc <- as.data.frame(VarCorr(m))
cat(sprintf(paste0("JSON {\\"fit\\": %f, \\"import\\": %f, \\"intercept\\": %f, ",
                   "\\"slope\\": %f, \\"residual_sd\\": %f}\\n"),
    as.numeric(t2 - t1, units = "secs"), as.numeric(t1 - t0, units = "secs"),
    fixef(m)[1], fixef(m)[2], vc$sdcor[nrow(vc)]))
"""


def _child(tool: str, csv: str, draws: int, tune: int, chains: int) -> dict:
    """Run one tool in this process (called in a subprocess) and return its numbers."""
    start = time.perf_counter()
    import arviz as az
    import numpy as np
    import pandas as pd

    df = pd.read_csv(csv)
    if tool in ("setback", "latent"):
        from trajectories.data import TherapyData
        from trajectories.fit import fit_growth
        from trajectories.spec import GrowthSpec

        data = TherapyData.from_frame(df, patient="patient", therapist="therapist",
                                      session="session", score="score")
        spec = GrowthSpec(time="log", method="marginal" if tool == "setback" else "latent")
        fit = fit_growth(spec, data, draws=draws, tune=tune, chains=chains, seed=1)
        table = fit.summary().set_index("parameter")
        secs = fit.diagnostics.seconds
        names = SD_NAMES["setback"]
        means = {n: float(table.loc[n, "mean"]) for n in [*names, "intercept", "slope"]}
        ess = [float(table.loc[n, "ess_bulk"]) for n in names]
        out = {"compile": secs["compile"], "sample": secs["sample"],
               "patient_effects": secs.get("patient_effects", 0.0)}
    else:
        import bambi as bmb
        import nutpie

        df["lt"] = np.log1p(df["session"])
        model = bmb.Model("score ~ lt + (lt|therapist) + (lt|patient)", df)
        model.build()
        t = time.perf_counter()
        compiled = nutpie.compile_pymc_model(model.backend.model)
        t_compile = time.perf_counter() - t
        t = time.perf_counter()
        idata = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, seed=1,
                              progress_bar=False, save_warmup=False)
        t_sample = time.perf_counter() - t
        names = SD_NAMES["bambi"]
        table = az.summary(idata, var_names=[*names, "Intercept", "lt"], round_to="none")
        means = dict(zip([*SD_NAMES["setback"], "intercept", "slope"],
                         table["mean"].astype(float).tolist(), strict=True))
        ess = [float(table.loc[n, "ess_bulk"]) for n in names]
        out = {"compile": t_compile, "sample": t_sample}
    out |= {"wall": time.perf_counter() - start, "min_ess": min(ess), "means": means}
    return out


def _run(tool: str, csv: str, args: argparse.Namespace) -> dict:
    if tool == "lme4":
        with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
            fh.write(R_SCRIPT)
        cmd = ["Rscript", fh.name, csv]
    else:
        cmd = [sys.executable, "-m", "benchmarks.fit", "--child", tool, csv,
               "--draws", str(args.draws), "--tune", str(args.tune), "--chains", str(args.chains)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout,
                              cwd=ROOT, env=os.environ | {"PYTHONPATH": str(ROOT)})
    except FileNotFoundError:
        return {"note": "R not installed: skipped"}
    except subprocess.TimeoutExpired:
        return {"wall": args.timeout, "lower_bound": True,
                "note": f"stopped after {args.timeout:.0f} s"}
    wall = time.perf_counter() - start
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("JSON ")]
    if proc.returncode != 0 or not lines:
        return {"note": f"failed: {proc.stderr.strip().splitlines()[-1:]}"}
    res = json.loads(lines[-1][5:])
    res["wall"] = wall  # end to end, process start included
    return res


def _versions() -> str:
    from importlib.metadata import version

    names = ["pymc", "pytensor", "nutpie", "arviz", "numpy", "bambi"]
    parts = []
    for n in names:
        try:
            parts.append(f"{n} {version(n)}")
        except Exception:  # noqa: BLE001 - a missing optional peer is reported, not fatal
            parts.append(f"{n} absent")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the Markdown table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", default="W1,W2,W3")
    parser.add_argument("--vs", default="bambi,latent,lme4")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1200.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--child", nargs=2, metavar=("TOOL", "CSV"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        res = _child(args.child[0], args.child[1], args.draws, args.tune, args.chains)
        print("JSON " + json.dumps(res))
        return 0
    tools = ["setback"] + [t.strip() for t in args.vs.split(",") if t.strip()]
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(exist_ok=True)
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs; python "
          f"{platform.python_version()}; {_versions()}")
    print("| workload | tool | wall s | compile s | sample s | min ESS | ESS/s | "
          "ESS/s ratio vs bambi | wall ratio lme4/tool |")
    print("|---|---|---|---|---|---|---|---|---|")
    for w in args.workload.split(","):
        df = simulate_workload(*WORKLOADS[w], seed=args.seed)
        csv = str(out_dir / f"{w}.csv")
        df.to_csv(csv, index=False)
        results = {t: _run(t, csv, args) for t in tools}
        for r in results.values():
            r["ess_per_s"] = r["min_ess"] / r["wall"] if "min_ess" in r else None
        base = results.get("bambi", {})
        lme4 = results.get("lme4", {})
        for t, r in results.items():
            ratio = (f"{r['ess_per_s'] / base['ess_per_s']:.1f}"
                     if r.get("ess_per_s") and base.get("ess_per_s") else "")
            if r.get("ess_per_s") and base.get("lower_bound"):
                # bambi's ESS is at most its number of draws: an upper bound on its ESS/s
                bound = args.draws * args.chains / base["wall"]
                ratio = f">= {r['ess_per_s'] / bound:.1f}"
            lratio = f"{lme4['wall'] / r['wall']:.2f}" if "wall" in lme4 and "wall" in r else ""
            fmt = lambda k, r=r: f"{r[k]:.1f}" if isinstance(r.get(k), float) else ""  # noqa: E731
            wall = ("> " if r.get("lower_bound") else "") + fmt("wall")
            print(f"| {w} {WORKLOADS[w]} | {t} | {wall} | {fmt('compile')} | {fmt('sample')} | "
                  f"{fmt('min_ess')} | {fmt('ess_per_s')} | {ratio} | {lratio} | "
                  f"{r.get('note', '')}", flush=True)
            with open(out_dir / "fit.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"workload": w, "tool": t, **r}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

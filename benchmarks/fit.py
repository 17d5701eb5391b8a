"""Fitting benchmark: setback against lme4, bambi and a latent PyMC model, in one run.

Usage::

    python -m benchmarks.fit [--workload BTB,W1,W2,W3] [--vs cold,lme4,bambi,latent]
                             [--draws 1000 --tune 1000 --chains 2] [--timeout 1200]
                             [--write]

Every tool runs in a **fresh subprocess** on the same data, timed end to end from process
start (imports, reading the CSV, fitting, the summary table) to its last line; the
Bayesian tools run ``chains`` x ``draws`` after ``tune`` tuning steps. Tools:

- ``setback``: the fast path (``GrowthSpec(time="log")``, both random-effect levels and the
  fixed effects integrated out), with numba's on-disk cache warm: any run after the first
  on a machine.
- ``cold``: the same with an empty numba cache (``NUMBA_CACHE_DIR`` set to a new folder):
  the very first run on a new install, which compiles the kernels once.
- ``lme4``: ``lmer(..., REML = TRUE)`` (Debian's ``r-cran-lme4``): point estimates only, so
  its ratio is of wall times.
- ``bambi``: ``score ~ lt + (lt|therapist) + (lt|patient)`` compiled with nutpie.
- ``latent``: setback's latent path (a plain non-centred PyMC model, nutpie).

Workloads: ``W1``-``W3`` from :mod:`benchmarks.generate` (40 x 25, 200 x 50, 500 x 40
therapists x patients); ``BTB`` the bundled Beat the Blues trial with a random intercept
(``GrowthSpec(time="log", patient="intercept")``, ``lmer(score ~ lt + (1 | patient))``).
Reported: wall time, the smallest bulk ESS of the variance parameters, ESS per second of
wall time, and ratios. ``--write`` replaces the "Fitting" section of RESULTS.md.
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
from benchmarks.simulate import write_section

ROOT = Path(__file__).resolve().parents[1]
THREE_LEVEL = ["therapist_intercept_sd", "therapist_slope_sd", "patient_intercept_sd",
               "patient_slope_sd", "residual_sd"]
BAMBI = ["1|therapist_sigma", "lt|therapist_sigma", "1|patient_sigma", "lt|patient_sigma",
         "sigma"]
R_SCRIPT = """
t0 <- Sys.time()
suppressMessages(library(lme4))
d <- read.csv(commandArgs(TRUE)[1]); d$lt <- log1p(d$session)
form <- if (commandArgs(TRUE)[2] == "BTB") score ~ lt + (1 | patient) else
  score ~ lt + (lt | therapist) + (lt | patient)
m <- lmer(form, data = d, REML = TRUE)
s <- summary(m)
vc <- as.data.frame(VarCorr(m))
cat(sprintf("JSON {\\"intercept\\": %f, \\"slope\\": %f, \\"residual_sd\\": %f}\\n",
    fixef(m)[1], fixef(m)[2], vc$sdcor[nrow(vc)]))
"""


def _child(tool: str, csv: str, workload: str, draws: int, tune: int, chains: int) -> dict:
    """Run one tool in this (fresh) process and return its numbers."""
    start = time.perf_counter()
    import numpy as np
    import pandas as pd

    df = pd.read_csv(csv)
    if tool in ("setback", "cold", "latent"):
        from trajectories.data import TherapyData
        from trajectories.fit import fit_growth
        from trajectories.spec import GrowthSpec

        two_level = workload == "BTB"
        data = TherapyData.from_frame(df, patient="patient", session="session", score="score",
                                      therapist=None if two_level else "therapist")
        spec = GrowthSpec(time="log", patient="intercept" if two_level else "slopes",
                          method="latent" if tool == "latent" else "auto")
        fit = fit_growth(spec, data, draws=draws, tune=tune, chains=chains, seed=1)
        table = fit.summary().set_index("parameter")
        names = ["patient_intercept_sd", "residual_sd"] if two_level else THREE_LEVEL
        means = {n: float(table.loc[n, "mean"]) for n in [*names, "intercept", "slope"]}
        ess = [float(table.loc[n, "ess_bulk"]) for n in names]
        out = {"compile": fit.diagnostics.seconds.get("compile", 0.0),
               "sample": fit.diagnostics.seconds["sample"]}
    else:
        import arviz as az
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
        table = az.summary(idata, var_names=[*BAMBI, "Intercept", "lt"], round_to="none")
        means = dict(zip([*THREE_LEVEL, "intercept", "slope"],
                         table["mean"].astype(float).tolist(), strict=True))
        ess = [float(table.loc[n, "ess_bulk"]) for n in BAMBI]
        out = {"compile": t_compile, "sample": t_sample}
    out |= {"wall_inside": time.perf_counter() - start, "min_ess": min(ess), "means": means}
    return out


def _run(tool: str, csv: str, workload: str, args: argparse.Namespace) -> dict:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    if tool == "lme4":
        with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
            fh.write(R_SCRIPT)
        cmd = ["Rscript", fh.name, csv, workload]
    else:
        cmd = [sys.executable, "-m", "benchmarks.fit", "--child", tool, csv, workload,
               "--draws", str(args.draws), "--tune", str(args.tune), "--chains", str(args.chains)]
        if tool == "cold":
            env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="setback-numba-cold-")
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout,
                              cwd=ROOT, env=env)
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


def _machine() -> str:
    from importlib.metadata import version

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    names = ["pymc", "pytensor", "nutpie", "numba", "arviz", "numpy", "bambi"]
    parts = []
    for n in names:
        try:
            parts.append(f"{n} {version(n)}")
        except Exception:  # noqa: BLE001 - a missing optional peer is reported, not fatal
            parts.append(f"{n} absent")
    return (f"{cpu}, {os.cpu_count()} cores; {platform.platform()}; Python "
            f"{platform.python_version()}; " + ", ".join(parts))


def _data(workload: str, seed: int) -> object:
    if workload == "BTB":
        from trajectories.datasets import load_beat_the_blues

        return load_beat_the_blues().frame[["patient", "session", "score"]].dropna()
    return simulate_workload(*WORKLOADS[workload], seed=seed)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print (and with ``--write`` save) the Markdown table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", default="BTB,W1,W2,W3")
    parser.add_argument("--vs", default="cold,lme4,bambi")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1200.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--write", action="store_true", help="update RESULTS.md")
    parser.add_argument("--child", nargs=3, metavar=("TOOL", "CSV", "WORKLOAD"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        res = _child(*args.child, args.draws, args.tune, args.chains)
        print("JSON " + json.dumps(res))
        return 0
    peers = [t.strip() for t in args.vs.split(",") if t.strip()]
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(exist_ok=True)
    load_start = os.getloadavg()[0]
    header = ("| workload | tool | wall s | compile s | sample s | min ESS | ESS/s | "
              "ESS/s vs bambi | tool wall / lme4 wall |")
    rows = [header, "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    print(_machine())
    print("\n".join(rows), flush=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for w in args.workload.split(","):
        csv = str(out_dir / f"{w}.csv")
        _data(w, args.seed).to_csv(csv, index=False)
        tools = ["setback"] + [p for p in peers if not (w == "BTB" and p in ("bambi",))]
        results = {t: _run(t, csv, w, args) for t in tools}
        for r in results.values():
            r["ess_per_s"] = r["min_ess"] / r["wall"] if "min_ess" in r and "wall" in r else None
        base, lme4 = results.get("bambi", {}), results.get("lme4", {})
        for t, r in results.items():
            ratio = (f"{r['ess_per_s'] / base['ess_per_s']:.1f}"
                     if r.get("ess_per_s") and base.get("ess_per_s") else "")
            if r.get("ess_per_s") and base.get("lower_bound"):
                bound = args.draws * args.chains / base["wall"]  # ESS <= number of draws
                ratio = f">= {r['ess_per_s'] / bound:.1f}"
            lratio = f"{r['wall'] / lme4['wall']:.2f}" if "wall" in lme4 and "wall" in r else ""

            def fmt(k: str, r: dict = r) -> str:
                return f"{r[k]:.1f}" if isinstance(r.get(k), float) else ""

            wall = ("> " if r.get("lower_bound") else "") + fmt("wall")
            line = (f"| {w} | {t} | {wall} | {fmt('compile')} | {fmt('sample')} | "
                    f"{fmt('min_ess')} | {fmt('ess_per_s')} | {ratio} | {lratio} |")
            if r.get("note"):
                line += f" {r['note']}"
            rows.append(line)
            print(line, flush=True)
            with open(out_dir / "fit.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"workload": w, "tool": t, "started": started, **r}) + "\n")
    load_end = os.getloadavg()[0]
    if args.write:
        section = "\n".join([
            "## Fitting", "",
            f"`python -m benchmarks.fit --workload {args.workload} --vs {args.vs}` ({started}). "
            f"{_machine()}. 1-minute load average {load_start:.1f} at the start and "
            f"{load_end:.1f} at the end. Each tool in a fresh process; {args.chains} chains x "
            f"{args.draws} draws after {args.tune} tuning steps.", "", *rows, ""])
        write_section(section)
        print(f"updated {ROOT / 'benchmarks' / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

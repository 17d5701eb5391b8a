"""Per-replication cost of the built-in study tasks in a fresh worker process.

A simulation study's worker is a new process: what matters is the cost of its *first*
replication, not only of later ones. For each task this benchmark starts a fresh Python
process that imports the task and the libraries it fits with, times its first replication
(in a study this is what every worker pays once) and then ``--warm`` more replications
(median). The growth model's fast
path never compiles (its machine code is cached on disk once per install), so the first
replication should cost about what the later ones do.

Run ``python -m benchmarks.study_tasks [--warm 3] [--write]``; ``--write`` replaces the
"Study tasks: per-replication cost" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.simulate import write_section

ROOT = Path(__file__).resolve().parents[1]
CASES = [
    ("sbc (40 patients x 8 sessions, 2 x 200 draws)", "simulations.tasks.sbc:sbc_task",
     {"n_patients": 40, "n_sessions": 8, "draws": 200, "tune": 300, "L": 19}),
    ("monitor_study (train 400, test 400)", "simulations.tasks.monitor:monitor_study",
     {"n_train": 400, "n_test": 400, "caseload": 30}),
    ("trial_power (30 therapists x 20 patients, MixedLM)", "simulations.tasks.trial:trial_power",
     {"n_therapists": 30, "patients_per_therapist": 20, "p_act": 0.75}),
]


def _child(target: str, condition: dict, warm: int) -> dict:
    """In a fresh process: import the task, time the first and the later replications."""
    start = time.perf_counter()
    import importlib
    import warnings

    import numpy as np

    module, name = target.split(":")
    task = getattr(importlib.import_module(module), name)
    for lib in ("trajectories.fit", "nutpie", "arviz", "statsmodels.api"):
        importlib.import_module(lib)  # libraries a worker imports once, before any task
    imported = time.perf_counter() - start
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(1 + warm):
            t = time.perf_counter()
            task(condition, np.random.default_rng(100 + seed))
            times.append(time.perf_counter() - t)
    return {"import": imported, "first": times[0], "warm": float(np.median(times[1:]))}


def main(argv: list[str] | None = None) -> int:
    """Print (and with ``--write`` save) a Markdown table of per-replication times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=3, help="replications after the first")
    parser.add_argument("--write", action="store_true", help="update RESULTS.md")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print("JSON " + json.dumps(_child(args.child[0], json.loads(args.child[1]),
                                          args.warm)))
        return 0
    load_start = os.getloadavg()[0]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = ["| task | imports (s) | first replication (s) | later replications, median (s) |",
            "|---|---:|---:|---:|"]
    print("\n".join(rows), flush=True)
    for label, target, cond in CASES:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.study_tasks", "--warm",
                               str(args.warm), "--child", target, json.dumps(cond)],
                              capture_output=True, text=True, cwd=ROOT,
                              env=os.environ | {"PYTHONPATH": str(ROOT)})
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("JSON ")]
        if proc.returncode or not line:
            rows.append(f"| {label} | failed: {proc.stderr.strip().splitlines()[-1:]} | | |")
        else:
            r = json.loads(line[0][5:])
            rows.append(f"| {label} | {r['import']:.1f} | {r['first']:.2f} | {r['warm']:.2f} |")
        print(rows[-1], flush=True)
    load_end = os.getloadavg()[0]
    if args.write:
        write_section("\n".join([
            "## Study tasks: per-replication cost", "",
            f"`python -m benchmarks.study_tasks --warm {args.warm}` ({started}); each task in a "
            f"fresh process (a new worker), 1-minute load average {load_start:.1f} at the start "
            f"and {load_end:.1f} at the end. Sizes are those of the example study TOMLs.", "",
            *rows, ""]))
        print("updated RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

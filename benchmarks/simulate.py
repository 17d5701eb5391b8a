"""Simulator speed against the RNG bound, and peak memory.

For each policy (treatment as usual; feedback + alliance repair) the benchmark simulates
``--patients`` patients (default 1,000,000) for up to 20 sessions in outcomes-only mode
(``keep_sessions=False``: no long data is built), then, in the same process, times NumPy
drawing exactly the variates the run consumed (the same float32 normals and uniforms, in
calls of the same chunk size): the **RNG bound**. The ratio of the two is the overhead of
everything that is not random-number generation. Each policy runs in a fresh process so
that its peak resident memory (``ru_maxrss``) is its own.

Run ``python -m benchmarks.simulate`` (``--patients 100000`` for a quick run; ``--no-write``
to leave ``benchmarks/RESULTS.md`` alone).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import re
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
POLICIES = ("tau", "feedback+alliance-repair")
GOAL_RATIO, GOAL_MB = 3.0, 2048


def rng_bound(variates: dict[str, int], chunk: int, seed: int = 0) -> float:
    """Seconds NumPy needs to draw these float32 variates in calls of ``chunk``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for kind, total in variates.items():
        draw = rng.standard_normal if kind == "normal" else rng.random
        full, rest = divmod(total, chunk)
        for _ in range(full):
            draw(chunk, dtype=np.float32)
        if rest:
            draw(rest, dtype=np.float32)
    return time.perf_counter() - start


def measure(policy: str, n_patients: int, chunk: int, seed: int,
            repeats: int = 3) -> dict[str, float | str]:
    """Alternate simulation and RNG bound ``repeats`` times; keep the fastest of each (the
    least disturbed by other load on the machine). The monitor's reference curves are
    config set-up, computed (and cached) before timing."""
    from simulations import ClinicConfig, ExpectedRecoveryMonitor, simulate

    config = ClinicConfig(n_patients=n_patients, n_therapists=max(1, n_patients // 90))
    ExpectedRecoveryMonitor().bind(config)
    elapsed = bound = float("inf")
    sim = None
    for _ in range(repeats):
        sim = None  # free the previous run first: the peak is that of one run
        start = time.perf_counter()
        sim = simulate(config, policy, seed=seed, keep_sessions=False, chunk_size=chunk)
        elapsed = min(elapsed, time.perf_counter() - start)
        bound = min(bound, rng_bound(sim.variates, chunk))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"policy": policy, "patients": n_patients, "seconds": elapsed,
            "rng_seconds": bound, "ratio": elapsed / bound, "variates": sim.n_variates,
            "peak_mb": peak_mb, "dropout": float(sim.patients["dropout"].mean())}


def _machine() -> str:
    import numpy as np
    import pandas as pd

    cpu = platform.processor() or platform.machine()
    try:
        text = Path("/proc/cpuinfo").read_text()
        found = re.search(r"model name\s*:\s*(.+)", text)
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    n_cpu = len(os.sched_getaffinity(0))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{cpu}, {n_cpu} cores available (load average {load} at the end of the run); "
            f"{platform.system()} {platform.release()}; Python {platform.python_version()}, "
            f"NumPy {np.__version__}, pandas {pd.__version__}")


def format_section(rows: list[dict], machine: str, chunk: int, repeats: int) -> str:
    """The ``## Simulator`` section of RESULTS.md."""
    lines = [
        "## Simulator",
        "",
        f"`python -m benchmarks.simulate --patients {rows[0]['patients']}` "
        f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC). {machine}.",
        "",
        "Outcomes-only runs (`keep_sessions=False`) of up to 20 sessions per patient, chunks of "
        f"{chunk:,} patients. *RNG bound* = time NumPy needs to draw the same float32 normals "
        "and uniforms the run consumed, measured in the same process right after it; each "
        f"time is the fastest of {repeats} alternating repeats (the machine is shared). Peak "
        "memory is the process's maximum resident set size (each policy in its own process).",
        "",
        "| policy | patients | variates | time (s) | RNG bound (s) | ratio | peak memory (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['policy']} | {r['patients']:,} | {r['variates']:,} | "
                     f"{r['seconds']:.2f} | {r['rng_seconds']:.2f} | {r['ratio']:.2f} | "
                     f"{r['peak_mb']:.0f} |")
    worst = max(r["ratio"] for r in rows)
    peak = max(r["peak_mb"] for r in rows)
    verdict = ("meets" if worst <= GOAL_RATIO and peak < GOAL_MB else "misses")
    lines += ["", f"Goal: within {GOAL_RATIO:.0f}x of the RNG bound and under 2 GB; this run "
              f"{verdict} it (worst ratio {worst:.2f}, peak {peak:.0f} MB). Memory is bounded "
              "by the chunk size plus the per-patient outcome table (about 0.2 kB per "
              "patient), not by sessions x patients.", ""]
    return "\n".join(lines)


def write_section(section: str, path: Path = RESULTS) -> None:
    """Replace (or append) the section of RESULTS.md whose ``## `` heading opens
    ``section``, keeping every other section (shared by the benchmark scripts)."""
    heading = section.splitlines()[0]
    if not heading.startswith("## "):
        raise ValueError(f"a section starts with a '## ' heading, got {heading!r}")
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and update RESULTS.md."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.simulate",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats (fastest kept)")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    if args.patients < 1 or args.chunk_size < 1 or args.repeats < 1:
        parser.error("--patients, --chunk-size and --repeats must be positive")
    ctx = mp.get_context("spawn")
    rows = []
    for policy in POLICIES:
        with ctx.Pool(1) as pool:
            row = pool.apply(measure, (policy, args.patients, args.chunk_size, args.seed,
                                       args.repeats))
        rows.append(row)
        print(f"{policy:<26} {row['seconds']:7.2f} s  RNG bound {row['rng_seconds']:6.2f} s  "
              f"ratio {row['ratio']:5.2f}  peak {row['peak_mb']:6.0f} MB", flush=True)
    section = format_section(rows, _machine(), args.chunk_size, args.repeats)
    if not args.no_write:
        write_section(section)
        print(f"updated {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

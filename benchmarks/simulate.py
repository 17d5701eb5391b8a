"""Simulator speed against the RNG bound, and peak memory, on both paths.

*Engine path*: for each policy (treatment as usual; feedback + alliance repair) the benchmark
simulates ``--patients`` patients (default 1,000,000) to the common horizon in outcomes-only
mode (``keep_sessions=False``: no long data), then, in the same process, times NumPy drawing
exactly the variates the run consumed (the same float32 normals and uniforms, in calls of the
same chunk size): the **RNG bound**. Each policy runs in a fresh process so that its peak
resident memory (``ru_maxrss``) is its own.

*Session path*: the command a user runs, ``setback simulate --patients N --policy P`` (as
``python -m analyses simulate``, in a subprocess): simulating, building the observed long
frame, validating it as ``TherapyData`` and writing ``sessions.parquet``,
``patients.parquet`` and ``summary.json``. Its RNG bound is computed from the variates the
command records in ``summary.json``. The command's start-up (interpreter, imports, argument
parsing: ``setback simulate --help``) is measured too and shown apart.

Run ``python -m benchmarks.simulate`` (``--patients 100000`` for a quick run; ``--no-write``
to leave ``benchmarks/RESULTS.md`` alone).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
POLICIES = ("tau", "feedback+alliance-repair")
GOAL_ENGINE, GOAL_SESSIONS, GOAL_MB = 3.0, 5.0, 2048


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
    """Engine path: alternate simulation and RNG bound ``repeats`` times; keep the fastest
    of each (the least disturbed by other load). The monitor's reference curves are config
    set-up, computed (and cached) before timing."""
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
            "peak_mb": peak_mb}


def measure_command(policy: str, n_patients: int, seed: int,
                    repeats: int = 3) -> dict[str, float | str]:
    """Session path: run ``setback simulate`` ``repeats`` times in subprocesses (fastest
    wall time kept), its RNG bound, its start-up time and its peak memory."""
    command = [sys.executable, "-m", "analyses", "simulate"]
    elapsed = startup = bound = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([*command, "--help"], check=True, stdout=subprocess.DEVNULL)
        startup = min(startup, time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            subprocess.run([*command, "--patients", str(n_patients), "--policy", policy,
                            "--seed", str(seed), "--quiet", "--out", out], check=True,
                           stdout=subprocess.DEVNULL)
            elapsed = min(elapsed, time.perf_counter() - start)
            summary = json.loads((Path(out) / "summary.json").read_text())
            rows = _parquet_rows(Path(out) / "sessions.parquet")
        bound = min(bound, rng_bound(summary["variates"], 100_000))
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"policy": policy, "patients": n_patients, "sessions": rows, "seconds": elapsed,
            "startup": startup, "rng_seconds": bound, "ratio": elapsed / bound,
            "ratio_without_startup": (elapsed - startup) / bound,
            "variates": sum(summary["variates"].values()), "peak_mb": peak_mb}


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


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


def format_section(rows: list[dict], commands: list[dict], machine: str, chunk: int,
                   repeats: int) -> str:
    """The ``## Simulator`` section of RESULTS.md."""
    lines = [
        "## Simulator",
        "",
        f"`python -m benchmarks.simulate --patients {rows[0]['patients']}` "
        f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC). {machine}.",
        "",
        "*RNG bound* = time NumPy needs to draw the same float32 normals and uniforms the run "
        f"consumed, in calls of {chunk:,}; each time is the fastest of {repeats} repeats (the "
        "machine may be shared). Peak memory is the maximum resident set size of the process "
        "that ran the simulation.",
        "",
        "**Engine path** (outcomes only, `keep_sessions=False`; each policy in its own "
        "process; patients followed to the week-26 horizon):",
        "",
        "| policy | patients | variates | time (s) | RNG bound (s) | ratio | peak memory (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['policy']} | {r['patients']:,} | {r['variates']:,} | "
                     f"{r['seconds']:.2f} | {r['rng_seconds']:.2f} | {r['ratio']:.2f} | "
                     f"{r['peak_mb']:.0f} |")
    lines += [
        "",
        "**Session path** (`setback simulate --patients N --policy P --quiet --out DIR`: "
        "simulate, build the observed long frame, validate it as TherapyData, write "
        "sessions.parquet, patients.parquet and summary.json; start-up = `setback simulate "
        "--help`, interpreter and imports):",
        "",
        "| policy | patients | sessions | time (s) | of which start-up (s) | RNG bound (s) | "
        "ratio | ratio without start-up | peak memory (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in commands:
        lines.append(f"| {r['policy']} | {r['patients']:,} | {r['sessions']:,} | "
                     f"{r['seconds']:.2f} | {r['startup']:.2f} | {r['rng_seconds']:.2f} | "
                     f"{r['ratio']:.2f} | {r['ratio_without_startup']:.2f} | "
                     f"{r['peak_mb']:.0f} |")
    worst = max(r["ratio"] for r in rows)
    worst_cmd = max(r["ratio"] for r in commands) if commands else float("nan")
    peak = max(r["peak_mb"] for r in rows + commands)
    verdict = ("meets" if worst <= GOAL_ENGINE and worst_cmd <= GOAL_SESSIONS
               and peak < GOAL_MB else "misses")
    lines += ["", f"Goals: engine within {GOAL_ENGINE:.0f}x and `setback simulate` within "
              f"{GOAL_SESSIONS:.0f}x of the RNG bound, under 2 GB; this run {verdict} them "
              f"(worst ratios {worst:.2f} and {worst_cmd:.2f}, peak {peak:.0f} MB). Memory is "
              "bounded by the chunk size (the command writes each chunk while the next is "
              "simulated) plus the per-patient table, not by sessions x patients.", ""]
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


def _in_fresh_process(function, *args):  # noqa: ANN001, ANN202
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the tables and update RESULTS.md."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.simulate",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats (fastest kept)")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--engine-only", action="store_true", help="skip the session path")
    args = parser.parse_args(argv)
    if args.patients < 1 or args.chunk_size < 1 or args.repeats < 1:
        parser.error("--patients, --chunk-size and --repeats must be positive")
    rows, commands = [], []
    for policy in POLICIES:
        row = _in_fresh_process(measure, policy, args.patients, args.chunk_size, args.seed,
                                args.repeats)
        rows.append(row)
        print(f"engine   {policy:<26} {row['seconds']:7.2f} s  RNG bound "
              f"{row['rng_seconds']:6.2f} s  ratio {row['ratio']:5.2f}  peak "
              f"{row['peak_mb']:6.0f} MB", flush=True)
    if not args.engine_only:
        for policy in POLICIES:
            row = _in_fresh_process(measure_command, policy, args.patients, args.seed,
                                    args.repeats)
            commands.append(row)
            print(f"command  {policy:<26} {row['seconds']:7.2f} s (start-up "
                  f"{row['startup']:.2f} s)  RNG bound {row['rng_seconds']:6.2f} s  ratio "
                  f"{row['ratio']:5.2f} ({row['ratio_without_startup']:.2f} without start-up)"
                  f"  peak {row['peak_mb']:6.0f} MB", flush=True)
    section = format_section(rows, commands, _machine(), args.chunk_size, args.repeats)
    if not args.no_write:
        write_section(section)
        print(f"updated {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Per-replication cost of the built-in study tasks, with and without compiled-model reuse.

The Bayesian tasks (``monitor_study`` and ``sbc``) fit the growth model with nutpie in every
replication. :mod:`trajectories.fit` caches the compiled model by structure, so within a
worker process only the first replication compiles; later ones swap the new data in. This
benchmark times, in one process,

* *without reuse*: the cache is emptied before each replication (every fit compiles);
* *with reuse*: the cache is warm (one untimed replication first);

and the MixedLM ``trial_power`` task for comparison. Sizes are those of the example study
TOMLs in ``analyses/configs``. Times are medians; the machine may be shared.

Run ``python -m benchmarks.study_tasks`` (``--cold 2 --warm 5`` by default) and paste the
printed table into the ``## Study tasks: per-replication cost`` section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable

import numpy as np


def _time(task: Callable, condition: dict, seeds: range, clear: bool) -> list[float]:
    import trajectories.engine.sampling

    out = []
    for seed in seeds:
        if clear:
            trajectories.engine.sampling.clear_cache()
        start = time.perf_counter()
        task(condition, np.random.default_rng(seed))
        out.append(time.perf_counter() - start)
    return out


def main(argv: list[str] | None = None) -> None:
    """Print a Markdown table of per-replication times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=2, help="replications without reuse")
    parser.add_argument("--warm", type=int, default=5, help="replications with reuse")
    args = parser.parse_args(argv)
    from simulations.tasks.monitor import monitor_study
    from simulations.tasks.sbc import sbc_task
    from simulations.tasks.trial import trial_power

    cases = [
        ("sbc (40 patients x 8 sessions, 2 x 200 draws)", sbc_task,
         {"n_patients": 40, "n_sessions": 8, "draws": 200, "tune": 300, "L": 19}, True),
        ("monitor_study (train 400, test 400)", monitor_study,
         {"n_train": 400, "n_test": 400, "caseload": 30}, True),
        ("trial_power (30 therapists x 20 patients, MixedLM)", trial_power,
         {"n_therapists": 30, "patients_per_therapist": 20, "p_act": 0.75}, False),
    ]
    print("| task | without reuse (s) | with reuse (s) | ratio |")
    print("|---|---:|---:|---:|")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, task, cond, bayes in cases:
            cold = _time(task, cond, range(100, 100 + args.cold), clear=True) if bayes else []
            _time(task, cond, range(1), clear=False)  # warm the cache
            warm = _time(task, cond, range(200, 200 + args.warm), clear=False)
            c, w = (float(np.median(cold)) if cold else float("nan")), float(np.median(warm))
            cold_txt = f"{c:.1f}" if cold else "n/a"
            ratio = f"{c / w:.0f}x" if cold else "n/a"
            print(f"| {label} | {cold_txt} | {w:.2f} | {ratio} |", flush=True)
    print(f"\n1-minute load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

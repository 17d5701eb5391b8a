"""Cheap tasks for the runner's tests, importable by worker processes (module level)."""

from __future__ import annotations

import os
import time
import warnings

import numpy as np


def normal_mean(condition: dict, rng: np.random.Generator) -> list[dict]:
    """Mean of ``n`` N(mu, 1) draws: estimate, SE, 95% z-interval, and a median method."""
    mu = float(condition.get("mu", 0.0))
    x = rng.normal(mu, 1.0, size=int(condition["n"]))
    se = x.std(ddof=1) / np.sqrt(len(x))
    mean = float(x.mean())
    return [
        {"method": "mean", "estimand": "mu", "estimate": mean, "truth": mu, "se": float(se),
         "ci_low": mean - 1.96 * se, "ci_high": mean + 1.96 * se},
        {"method": "median", "estimand": "mu", "estimate": float(np.median(x)), "truth": mu},
    ]


def slow_mean(condition: dict, rng: np.random.Generator) -> list[dict]:
    """``normal_mean`` after a pause, so a test can kill the study mid-run."""
    time.sleep(float(os.environ.get("TOY_SLEEP", "0.02")))
    return normal_mean(condition, rng)


def flaky(condition: dict, rng: np.random.Generator) -> list[dict]:
    """Fails for a share ``p_fail`` of replications, warns in some, else ``normal_mean``."""
    u = rng.uniform()
    if u < condition["p_fail"]:
        raise RuntimeError(f"draw {u:.3f} below p_fail")
    if u > 0.9:
        warnings.warn("unstable estimate", UserWarning, stacklevel=2)
    return normal_mean(condition, rng)


# -- the lock race of test_store.py: contenders in worker processes ---------------------------
_BARRIER = None
_HELD: list = []  # stores whose lock this process won; kept open until the pool ends


def init_contender(barrier) -> None:  # noqa: ANN001
    """Worker initializer: the barrier that releases all contenders at once."""
    global _BARRIER
    _BARRIER = barrier
    import simulations.study.store  # noqa: F401  (imported before the race, not during it)


def claim_store_lock(path: str) -> bool:
    """Wait for every contender, then try to lock the store at ``path``."""
    from simulations.study.store import ParquetStore

    store = ParquetStore(path)
    _BARRIER.wait(timeout=30)
    try:
        store.lock()
    except RuntimeError:
        return False
    _HELD.append(store)
    return True


class _Panic(BaseException):
    """Stands for pyo3's PanicException (a BaseException) raised by a Rust sampler."""


def panics(condition: dict, rng: np.random.Generator) -> list[dict]:
    """Raises a BaseException that is not an interrupt in a share ``p_fail`` of replications."""
    if rng.uniform() < condition["p_fail"]:
        raise _Panic("called `Result::unwrap()` on an `Err` value")
    return normal_mean(condition, rng)


def t_test_power(condition: dict, rng: np.random.Generator) -> list[dict]:
    """One-sample t test of mean 0 on ``n`` N(``delta``, 1) draws: a power study with a known
    answer (the noncentral t)."""
    from scipy import stats

    x = rng.normal(float(condition["delta"]), 1.0, size=int(condition["n"]))
    test = stats.ttest_1samp(x, 0.0)
    return [{"method": "t", "estimand": "mean", "estimate": float(x.mean()),
             "p_value": float(test.pvalue)}]


def slow_flaky(condition: dict, rng: np.random.Generator) -> list[dict]:
    """``flaky`` after a pause (``TOY_SLEEP`` seconds), so a worker can be lost mid-chunk."""
    time.sleep(float(os.environ.get("TOY_SLEEP", "0")))
    return flaky(condition, rng)

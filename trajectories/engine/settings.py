"""`SamplerSettings`: how long and how to sample, the one argument every fit takes."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, replace
from typing import Literal

import numpy as np

__all__ = ["SamplerSettings"]


@dataclass(frozen=True)
class SamplerSettings:
    """Settings of one MCMC run (NUTS), shared by every fit in setback.

    Parameters
    ----------
    draws, tune : int
        Posterior draws and tuning (warm-up) steps per chain.
    chains : int
        Number of chains.
    cores : int, optional
        Chains run in parallel; default ``min(chains, available CPUs)``.
    target_accept : float
        Target acceptance rate of the step-size adaptation, in (0, 1); raise it (0.9, 0.95)
        when a fit reports divergent transitions.
    seed : int, optional
        Seeds the sampler and every draw made after it (effects, predictions). When not
        given, :meth:`resolved` draws one; the fit records it, so every result can be
        reproduced.
    progress : bool
        Show a progress bar while sampling.
    sampler : {"nutpie", "pymc"}
        nutpie (default) or PyMC's own NUTS. The fast collapsed path and the joint
        growth-dropout model's machine code always use nutpie.

    Examples
    --------
    >>> s = SamplerSettings(draws=500, seed=1)
    >>> s.draws, s.resolved().seed
    (500, 1)
    >>> SamplerSettings().resolved().seed is not None
    True
    """

    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    cores: int | None = None
    target_accept: float = 0.8
    seed: int | None = None
    progress: bool = False
    sampler: Literal["nutpie", "pymc"] = "nutpie"

    def __post_init__(self) -> None:
        for name in ("draws", "tune", "chains"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < (
                    0 if name == "tune" else 1):
                low = "a non-negative" if name == "tune" else "a positive"
                raise ValueError(f"SamplerSettings.{name} must be {low} integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        if self.cores is not None and (isinstance(self.cores, bool) or not isinstance(
                self.cores, int | np.integer) or self.cores < 1):
            raise ValueError(f"SamplerSettings.cores must be a positive integer, got "
                             f"{self.cores!r}")
        if not (isinstance(self.target_accept, int | float)
                and math.isfinite(self.target_accept) and 0.0 < self.target_accept < 1.0):
            raise ValueError(f"SamplerSettings.target_accept must be in (0, 1), got "
                             f"{self.target_accept!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(
                self.seed, int | np.integer) or self.seed < 0):
            raise ValueError(f"SamplerSettings.seed must be a non-negative integer or None, "
                             f"got {self.seed!r}")
        if self.seed is not None:
            object.__setattr__(self, "seed", int(self.seed))
        if self.sampler not in ("nutpie", "pymc"):
            raise ValueError(f"SamplerSettings.sampler must be 'nutpie' or 'pymc', got "
                             f"{self.sampler!r}")

    @property
    def n_cores(self) -> int:
        """Chains run at once: ``cores``, or ``min(chains, available CPUs)``."""
        if self.cores is not None:
            return min(self.cores, self.chains)
        available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else (os.cpu_count() or 1)
        return max(1, min(self.chains, available))

    def resolved(self) -> SamplerSettings:
        """Return these settings with a seed: the given one, or a freshly drawn one (recorded)."""
        if self.seed is not None:
            return self
        return replace(self, seed=int(np.random.SeedSequence().generate_state(1)[0]))

    def seeds(self, n: int) -> list[int]:
        """``n`` independent 32-bit seeds derived from :attr:`seed` (must be resolved)."""
        if self.seed is None:
            raise ValueError("call resolved() first: these settings have no seed yet")
        return [int(s) for s in np.random.SeedSequence(self.seed).generate_state(n)]

    def to_dict(self) -> dict:
        """Plain JSON-ready dictionary (``SamplerSettings(**d)`` inverts it)."""
        return asdict(self)

    @classmethod
    def for_notebooks(cls, **overrides: object) -> SamplerSettings:
        """Make settings for tutorials: short runs when ``FAST_NOTEBOOKS=1`` (the test suite).

        Examples
        --------
        >>> SamplerSettings.for_notebooks(seed=1).seed
        1
        """
        base = cls(draws=200, tune=200) if os.environ.get("FAST_NOTEBOOKS") == "1" else cls()
        return replace(base, **overrides)

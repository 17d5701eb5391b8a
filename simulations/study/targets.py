"""Monte Carlo SE targets: how many replications a study needs, per performance measure.

A target is per measure (``bias=0.01,coverage=0.005``): one target for all would ask a
percent-scale measure (:data:`PERCENT_METRICS`) for hundreds of millions of replications.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

__all__ = ["PERCENT_METRICS", "parse_targets", "replications_needed", "targets"]

#: Metrics on a percent scale (their MCSE targets are in percentage points).
PERCENT_METRICS = ("relerror_modse", "relprec")


def parse_targets(text: str, known: Collection[str] = ()) -> dict[str, float]:
    """Parse per-metric MCSE targets from ``"bias=0.01,coverage=0.005"``.

    A bare number is ``"*"`` (every metric). Names not in ``known`` (when given) are an error.

    Examples
    --------
    >>> parse_targets("bias=0.01, coverage=0.005", known=("bias", "coverage"))
    {'bias': 0.01, 'coverage': 0.005}
    >>> parse_targets("0.01")
    {'*': 0.01}
    """
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, value = part.rpartition("=")
        name = name.strip() if sep else "*"
        if known and name != "*" and name not in known:
            raise ValueError(f"unknown metric {name!r} in MCSE targets; choose from "
                             f"{', '.join(known)}")
        try:
            target = float(value)
        except ValueError:
            raise ValueError(f"MCSE target {part!r}: {value!r} is not a number") from None
        if not (math.isfinite(target) and target > 0):
            raise ValueError(f"MCSE target {part!r} must be a positive number")
        out[name] = target
    if not out:
        raise ValueError("no MCSE target given; write e.g. bias=0.01,coverage=0.005")
    return out


def targets(target_mcse: float | Mapping[str, float] | None,
            known: Collection[str] = ()) -> dict[str, float]:
    """MCSE targets as ``{metric or "*": target}``, checked (positive; names in ``known``).

    Examples
    --------
    >>> targets(0.01)
    {'*': 0.01}
    >>> targets({"bias": 0.02}, known=("bias", "coverage"))
    {'bias': 0.02}
    >>> try:
    ...     targets({"bais": 0.02}, known=("bias",))
    ... except ValueError as err:
    ...     print(err)
    target_mcse names unknown metric 'bais'
    """
    if target_mcse is None:
        return {}
    targets = dict(target_mcse) if isinstance(target_mcse, Mapping) else {"*": target_mcse}
    for name, value in targets.items():
        if known and name != "*" and name not in known:
            raise ValueError(f"target_mcse names unknown metric {name!r}")
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ValueError(f"target_mcse must be positive, got {name}={value!r}")
    return {k: float(v) for k, v in targets.items()}


def replications_needed(target_mcse: float, *, p: float | None = None,
                        sd: float | None = None) -> int:
    """Replications for a target Monte Carlo SE of a proportion or a mean.

    For a proportion ``p`` (coverage, rejection) the answer is ``p (1 - p) / target^2``;
    for a mean or bias of estimates with standard deviation ``sd`` it is
    ``sd^2 / target^2``, rounded up (Morris, White & Crowther, 2019).

    Examples
    --------
    >>> replications_needed(0.005, p=0.95)  # 95% coverage to +-0.5% MCSE
    1900
    >>> replications_needed(0.01, sd=0.2)
    400
    """
    if not target_mcse > 0:
        raise ValueError(f"target_mcse must be positive, got {target_mcse}")
    if (p is None) == (sd is None):
        raise ValueError("give exactly one of p (a proportion) or sd (an estimate's SD)")
    if p is not None:
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p}")
        variance = p * (1 - p)
    else:
        if not sd >= 0:
            raise ValueError(f"sd must be non-negative, got {sd}")
        variance = sd**2
    # round first: 0.95 * 0.05 / 0.005**2 is 1900.0000000000002 in floating point
    return max(1, math.ceil(round(variance / target_mcse**2, 9)))

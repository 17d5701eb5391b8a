"""Range checks shared by the clinic's configuration and policy classes.

Every error names the field and its allowed range, so that a bad value is reported before any
simulation starts.
"""

from __future__ import annotations

import math

__all__ = ["check", "check_all", "check_int", "check_prob"]


def check(name: str, value: float, low: float, high: float, *, open_low: bool = False) -> None:
    """Raise ``ValueError`` naming the field and its allowed range.

    Examples
    --------
    >>> check("alliance.persistence", 0.5, 0.0, 1.0)
    >>> check("alliance.persistence", 1.5, 0.0, 1.0)
    Traceback (most recent call last):
    ...
    ValueError: alliance.persistence must be in [0.0, 1.0], got 1.5
    """
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (low < value if open_low else low <= value) and value <= high
    if not ok:
        bracket = "(" if open_low else "["
        raise ValueError(f"{name} must be in {bracket}{low}, {high}], got {value!r}")


def check_all(obj: object, prefix: str, ranges: dict[str, tuple[float, float]]) -> None:
    """:func:`check` every field of ``obj`` named in ``ranges`` (``prefix.field`` in errors).

    Examples
    --------
    >>> from simulations.clinic.parameters import CourseConfig
    >>> check_all(CourseConfig(), "course", {"alliance_effect": (-5.0, 5.0)})
    >>> try:
    ...     check_all(CourseConfig(), "course", {"alliance_effect": (10.0, 20.0)})
    ... except ValueError as err:
    ...     print(str(err).split(" must")[0])
    course.alliance_effect
    """
    for name, (low, high) in ranges.items():
        check(f"{prefix}.{name}", getattr(obj, name), low, high)


def check_prob(name: str, value: float) -> None:
    """Check a probability in [0, 1].

    Examples
    --------
    >>> check_prob("p_act", 0.75)
    >>> try:
    ...     check_prob("p_act", 1.5)
    ... except ValueError as err:
    ...     print(err)
    p_act must be in [0.0, 1.0], got 1.5
    """
    check(name, value, 0.0, 1.0)


def check_int(name: str, value: int, low: int, high: int) -> None:
    """Check an integer (not a bool) in [low, high].

    Examples
    --------
    >>> check_int("max_sessions", 20, 1, 200)
    >>> try:
    ...     check_int("max_sessions", True, 1, 200)
    ... except ValueError as err:
    ...     print(err)
    max_sessions must be an integer in [1, 200], got True
    """
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")

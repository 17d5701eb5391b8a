"""`spec_from_formula`: a brms/bambi/lme4-style formula that builds a :class:`GrowthSpec`.

The formula is parsed by ``formulae`` (bambi's parser) and translated term by term;
``GrowthSpec`` stays the one representation of a model, the formula only builds it. What
setback fits, in formula terms (``session`` is the session number, 0 = intake)::

    score ~ TIME [* cov] [+ cov ...] + (TIME | therapist) + (TIME | patient)

with ``TIME`` one of ``session`` (linear), ``log1p(session)`` (log),
``session + I(session**2)`` (quadratic) or ``piecewise(session, 4)`` (two linear pieces
split at session 4). ``cov`` are data covariates (``intake`` is the centred intake score);
``cov:TIME`` (or ``TIME * cov``) lets a covariate change the slope. Random effects are
``(1 | g)`` (intercepts) or ``(TIME | g)`` (intercepts and slopes, correlated) for
``g`` = ``patient`` (required) and ``therapist`` (optional). Anything else is an error
naming the term that setback cannot fit.
"""

from __future__ import annotations

import re

from trajectories.spec import GrowthSpec

__all__ = ["spec_from_formula"]

_TIME_CALLS = {"session": "linear", "log1p(session)": "log", "I(session**2)": "quadratic"}
_PIECEWISE = re.compile(r"^piecewise\(session,([0-9.]+)\)$")


class _Unfittable(ValueError):
    pass


def _label(component: object) -> str:
    return str(getattr(component, "name", component)).replace(" ", "")


def _time_kind(label: str) -> tuple[str, float | None] | None:
    """(shape, breakpoint) of a time term, or None for a covariate."""
    if label in _TIME_CALLS:
        return _TIME_CALLS[label], None
    found = _PIECEWISE.match(label)
    if found:
        return "piecewise", float(found.group(1))
    if "session" in label:
        raise _Unfittable(f"term {label!r}: setback's time shapes are session, "
                          "log1p(session), session + I(session**2) and piecewise(session, B)")
    return None


def _resolve_time(labels: set[str], where: str) -> tuple[str, float | None]:
    kinds = {_time_kind(lab) for lab in labels}
    shapes = {k[0] for k in kinds}
    if shapes == {"linear", "quadratic"}:
        return "quadratic", None
    if len(kinds) != 1:
        raise _Unfittable(f"{where}: one time shape is needed, got {sorted(labels)}")
    shape, bp = kinds.pop()
    if shape == "quadratic":
        raise _Unfittable(f"{where}: I(session**2) needs session as well")
    return shape, bp


def spec_from_formula(formula: str, **options: object) -> GrowthSpec:
    """Return the :class:`GrowthSpec` of a mixed-model formula.

    Parameters
    ----------
    formula : str
        E.g. ``"score ~ log1p(session) * treatment + intake + (log1p(session) | therapist)
        + (log1p(session) | patient)"``.
    **options
        Other :class:`GrowthSpec` fields (``likelihood``, ``residual``, ``priors``,
        ``correlated``, ``dropout`` ...).

    Raises
    ------
    ValueError
        Naming the term setback cannot fit (or the parser's message for a malformed
        formula).

    Examples
    --------
    >>> spec = spec_from_formula("score ~ log1p(session) * treatment + intake"
    ...                          " + (1 | therapist) + (log1p(session) | patient)")
    >>> spec.time, spec.patient, spec.therapist, spec.covariates, spec.time_interactions
    ('log', 'slopes', 'intercept', ('treatment', 'intake'), ('treatment',))
    >>> spec_from_formula("score ~ session + (1 | patient)").therapist
    'none'
    """
    import formulae

    try:
        desc = formulae.model_description(formula)
    except Exception as exc:  # formulae raises its own parse errors
        raise ValueError(f"formula {formula!r} could not be parsed: {exc}") from exc
    try:
        fields = _translate(desc)
    except _Unfittable as exc:
        raise ValueError(f"formula {formula!r}: {exc}") from None
    clash = set(fields) & set(options)
    if clash:
        raise ValueError(f"{sorted(clash)} are given by the formula; do not pass them too")
    return GrowthSpec(**fields, **options)


def _translate(desc: object) -> dict:
    response = desc.response
    if response is None or _label(response.term.components[0]) != "score":
        raise _Unfittable("the response must be 'score' (TherapyData's outcome column; "
                          "map your column with TherapyData.from_frame(score=...))")
    terms = [t for t in desc.terms if type(t).__name__ != "GroupSpecificTerm"]
    groups = [t for t in desc.terms if type(t).__name__ == "GroupSpecificTerm"]
    if not any(type(t).__name__ == "Intercept" for t in terms):
        raise _Unfittable("setback's growth models have an intercept (remove '0 +' / '- 1')")
    time_labels: set[str] = set()
    covariates: list[str] = []
    interactions: dict[str, set[str]] = {}
    for term in terms:
        if type(term).__name__ == "Intercept":
            continue
        labels = [_label(c) for c in term.components]
        kinds = [_time_kind(lab) for lab in labels]
        times = [lab for lab, k in zip(labels, kinds, strict=True) if k]
        covs = [lab for lab, k in zip(labels, kinds, strict=True) if not k]
        if len(covs) > 1 or len(times) > 1:
            raise _Unfittable(f"term {':'.join(labels)!r}: setback fits covariates and "
                              "covariate x time interactions, not interactions between "
                              "covariates")
        if covs and times:
            interactions.setdefault(covs[0], set()).update(times)
        elif covs:
            covariates.append(covs[0])
        else:
            time_labels.update(times)
    if not time_labels:
        raise _Unfittable("a time term is needed (session, log1p(session), ...)")
    time, breakpoint = _resolve_time(time_labels, "fixed effects")
    for cov, labels in interactions.items():
        if labels != time_labels:
            raise _Unfittable(f"term '{cov}:...': a covariate changes every time term "
                              f"({sorted(time_labels)}), got {sorted(labels)}")
        if cov not in covariates:
            raise _Unfittable(f"term '{cov}:...': list {cov!r} as a main effect too "
                              f"(write TIME * {cov})")
    levels = _random_effects(groups, time_labels)
    if "patient" not in levels:
        raise _Unfittable("patient random effects are needed: add (1 | patient) or "
                          "(TIME | patient)")
    out = {"time": time, "patient": levels["patient"],
           "therapist": levels.get("therapist", "none"), "covariates": tuple(covariates),
           "time_interactions": tuple(c for c in covariates if c in interactions)}
    if breakpoint is not None:
        out["breakpoint"] = breakpoint
    return out


def _random_effects(groups: list, time_labels: set[str]) -> dict[str, str]:
    found: dict[str, set[str]] = {}
    for term in groups:
        factor = [_label(c) for c in term.factor.components]
        if factor not in (["patient"], ["therapist"]):
            raise _Unfittable(f"group {':'.join(factor)!r}: setback's levels are patient "
                              "and therapist")
        expr = term.expr
        if type(expr).__name__ == "Intercept":
            label = "1"
        else:
            labels = [_label(c) for c in expr.components]
            if len(labels) != 1 or labels[0] not in time_labels:
                raise _Unfittable(f"random effect ({':'.join(labels)} | {factor[0]}): only "
                                  "the intercept and the model's time terms vary by "
                                  "patient or therapist")
            label = labels[0]
        found.setdefault(factor[0], set()).add(label)
    out = {}
    for level, labels in found.items():
        if "1" not in labels:
            raise _Unfittable(f"({level}): random slopes come with random intercepts "
                              f"(drop '0 +' in the {level} term)")
        if labels == {"1"}:
            out[level] = "intercept"
        elif labels == {"1"} | time_labels:
            out[level] = "slopes"
        else:
            raise _Unfittable(f"({level}): give all time terms or none "
                              f"({sorted(time_labels)})")
    return out

"""The Methods section of a report, written from the fit itself.

It gives the model in words and as an equation, priors with their numbers, sampler, seed,
convergence in words, software.

Everything is read from what made the fit (``fit.spec``, ``fit.design``, ``fit.settings``,
``fit.diagnostics``), so the text cannot drift from the model that was run.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from trajectories.engine.convergence import ESS_PER_CHAIN, RHAT_MAX
from trajectories.fit import joint_uses_machine_code

if TYPE_CHECKING:
    from analyses.report import Report
    from trajectories.fit import GrowthFit

__all__ = ["add_methods", "convergence_text", "model_equation", "model_text", "prior_text",
           "sampler_text", "software_text"]

_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_VERSIONS = ("setback", "pymc", "nutpie", "arviz", "numpy", "scipy", "pandas")


def _sub(k: int) -> str:
    return str(k).translate(_SUB)


def _basis(fit: GrowthFit) -> list[str]:
    """Return the time terms f(t) of the growth coefficients after the intercept, as text."""
    t = fit.data.time_unit
    b = f"{fit.spec.breakpoint:g}"
    return {"linear": [t], "log": [f"log(1 + {t})"], "quadratic": [t, f"{t}²"],
            "piecewise": [f"min({t}, {b})", f"max({t} − {b}, 0)"]}[fit.spec.time]


def model_equation(fit: GrowthFit) -> str:
    """Return the fitted model as a two-line equation (Unicode), e.g. ``yᵢⱼ = (β₀ + v₀ᵢ) + ...``.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> from trajectories.fit import fit_from_draws
    >>> from trajectories.spec import GrowthSpec
    >>> draws = {"intercept": [22.0], "slope": [-3.0], "patient_intercept_sd": [8.0],
    ...          "patient_slope_sd": [2.0], "patient_corr": [[0.0]], "residual_sd": [6.0]}
    >>> fit = fit_from_draws(GrowthSpec(time="log"), load_beat_the_blues(), draws)
    >>> print(model_equation(fit))
    yᵢⱼ = (β₀ + v₀ᵢ) + (β₁ + v₁ᵢ)·log(1 + month) + εᵢⱼ
    vᵢ ~ Normal(0, Σᵥ),  εᵢⱼ ~ Normal(0, σ²)
    """
    spec, design = fit.spec, fit.design
    therapist = spec.therapist_coefficients(bool(design.q_t))
    terms = []
    for k, name in enumerate(spec.coefficients):
        parts = [f"β{_sub(k)}"]
        if name in therapist:
            parts.append(f"u{_sub(k)}ₜ")
        if name in spec.patient_coefficients:
            parts.append(f"v{_sub(k)}ᵢ")
        coef = f"({' + '.join(parts)})" if len(parts) > 1 else parts[0]
        terms.append(coef if k == 0 else f"{coef}·{_basis(fit)[k - 1]}")
    for j, term in enumerate(design.terms[len(spec.coefficients):], start=1):
        shown = term.replace(":", "·")
        for name, f in zip(spec.time_terms, _basis(fit), strict=True):
            shown = shown.replace(f"·{name}", f"·{f}")
        terms.append(f"γ{_sub(j)}·{shown}")
    noise = ("Student-t(ν, 0, σ)" if spec.likelihood == "student_t" else "Normal(0, σ²)")
    dists = ["vᵢ ~ Normal(0, Σᵥ)"] + (["uₜ ~ Normal(0, Σᵤ)"] if therapist else [])
    return (f"yᵢⱼ = {' + '.join(terms)} + εᵢⱼ\n"
            + ",  ".join([*dists, f"εᵢⱼ ~ {noise}"]))


def model_text(fit: GrowthFit) -> str:
    """Describe the model in words.

    Levels, time shape, random effects, covariates, residuals, dropout.

    Examples
    --------
    >>> model_text(small_fit)[:89]
    'The 380 BDI-II scores of 100 patients were analysed with a two-level (scores in patients)'
    """
    spec, design, data = fit.spec, fit.design, fit.data
    unit = data.time_unit
    therapist = spec.therapist_coefficients(bool(design.q_t))
    levels = ("three-level (scores in patients in therapists)" if therapist else
              "two-level (scores in patients)")
    shape = {"linear": f"changes linearly with the {unit} number",
             "log": f"changes with log(1 + {unit}): fast at first, then levelling off "
                    "(Finch, Lambert & Schaalje 2001)",
             "quadratic": f"follows a quadratic in the {unit} number",
             "piecewise": f"has an early slope up to {unit} {spec.breakpoint:g} and a late "
                          "slope after it"}[spec.time]

    def effects(names: tuple[str, ...]) -> str:
        return "intercepts" if names == ("intercept",) else (
            "intercepts and " + ", ".join(n.replace("_", " ") + "s" for n in names[1:]))

    n_obs = len(design.y)
    text = (f"The {n_obs:,} {data.score_label} scores of {data.n_patients:,} patients"
            + (f" seen by {len(design.therapists):,} therapists" if therapist else "")
            + f" were analysed with a {levels} Bayesian growth model. The expected score "
            f"{shape}. Patients' {effects(spec.patient_coefficients)} vary around it")
    if therapist:
        text += f", and so do therapists' {effects(therapist)}"
    if spec.correlated and (len(spec.patient_coefficients) > 1 or len(therapist) > 1):
        text += " (correlated within " + ("each level" if therapist else "patients") + \
            ", LKJ prior)"
    text += "."
    extra = [t.replace(":", " × ") for t in design.terms[len(spec.coefficients):]]
    if extra:
        text += (f" Fixed effects of {', '.join(extra)} are included (numeric covariates "
                 "centred, categorical ones coded against their first level).")
    text += (" Residuals follow a Student-t distribution, which resists outlying scores."
             if spec.likelihood == "student_t" else " Residuals are normal.")
    if spec.dropout is None:
        text += (" Dropout is not modelled: the model assumes that whether a score is "
                 "missing depends only on the scores observed (missing at random).")
    else:
        d = spec.dropout
        text += (f" Dropout is modelled jointly: a discrete-time {d.link} hazard with "
                 f"{d.n_bins if d.breaks is None else len(d.breaks)} baseline bins shares each "
                 f"patient's latent {', '.join(d.association)} with the growth model "
                 "(a shared-parameter model for informative dropout; Rizopoulos 2010).")
    return text


def prior_text(fit: GrowthFit) -> str:
    """Describe the priors with the numbers used for these data.

    Examples
    --------
    >>> text = prior_text(small_fit)
    >>> "Normal(" in text, "patient SDs ~ Half-Normal" in text
    (True, True)
    """
    spec, design = fit.spec, fit.design
    pri = spec.priors
    fixed = "; ".join(f"{name.replace(':', ' × ')} ~ Normal({design.prior_loc[j]:.3g}, "
                      f"{design.prior_scale[j]:.3g})" for j, name in enumerate(design.terms))
    parts = [fixed]
    for level, names, scales in (
            ("patient", spec.patient_coefficients, design.group_scale),
            ("therapist", spec.therapist_coefficients(bool(design.q_t)),
             design.therapist_scale)):
        if names:
            sds = ", ".join(f"{n} {float(scales[j]):.3g}" for j, n in enumerate(names))
            parts.append(f"{level} SDs ~ Half-Normal ({sds})")
    parts.append(f"residual SD ~ Half-Normal({design.residual_scale:.3g})")
    if spec.correlated and (len(spec.patient_coefficients) > 1 or design.q_t > 1):
        parts.append(f"correlation matrices ~ LKJ({pri.corr_eta:g})")
    if spec.likelihood == "student_t":
        parts.append(f"ν ~ Gamma({pri.nu_alpha:g}, {pri.nu_beta:g})")
    how = ("given in score units" if pri.scale == "absolute" else
           "weakly informative and scaled to these data (by the SD of the observed scores, "
           f"{float(np.std(design.y, ddof=1)):.3g}, and by the range of each time term)")
    return f"Priors, {how}: " + "; ".join(parts) + "."


def sampler_text(fit: GrowthFit) -> str:
    """How the posterior was sampled, with the seed that reproduces it.

    Examples
    --------
    >>> text = sampler_text(small_fit)
    >>> "fast collapsed path" in text, "seed 1" in text
    (True, True)
    """
    s, d, spec = fit.settings, fit.diagnostics, fit.spec
    if spec.dropout is not None and joint_uses_machine_code(spec):
        path = ("the joint growth-dropout model in compiled code: the patient effects were "
                "sampled relative to their exact Gaussian conditional distribution and then "
                "redrawn from it")
    elif spec.dropout is not None:
        path = "the joint growth-dropout model with latent patient effects (PyMC)"
    elif spec.resolved_method == "marginal":
        path = ("the fast collapsed path: patient, therapist and fixed effects were "
                "integrated out analytically, NUTS explored the variance parameters, and the "
                "effects were then drawn from their exact conditional distributions")
    else:
        path = "latent, non-centred patient and therapist effects (PyMC model)"
    sampler = d.sampler or s.sampler
    seconds = d.seconds.get("sample")
    took = f" Sampling took {seconds:.1f} s." if seconds else ""
    return (f"The posterior was sampled with the No-U-Turn sampler ({sampler}) on {path}: "
            f"{s.chains} chains of {s.draws:,} draws after {s.tune:,} tuning steps "
            f"({s.chains * s.draws:,} draws in all), target acceptance {s.target_accept:g}, "
            f"seed {s.seed} (the same seed gives the same numbers: seed={s.seed} in Python, "
            f"--seed {s.seed} on the command line).{took} Intervals are 95% equal-tailed "
            "posterior (credible) intervals unless a caption says otherwise.")


def convergence_text(fit: GrowthFit) -> tuple[str, str]:
    """Describe the convergence checks in words, as ``(kind, text)``.

    Kind is ``"warning"`` when they fail (and the text says whether the estimates can be used at
    all).

    Examples
    --------
    >>> kind, text = convergence_text(small_fit)  # 200 draws: below the ESS floor
    >>> kind, text.startswith("The growth-model fit may be unreliable")
    ('warning', True)
    """
    d, s = fit.diagnostics, fit.settings
    if not d.usable:
        return "warning", ("The chains disagree: the estimates are not usable. "
                           + (d.message or "") + " The estimates are therefore not shown.")
    if not d.ok:
        return "warning", d.message
    rhat = ("R-hat was not computed (one chain)" if not math.isfinite(d.max_rhat) else
            f"the largest R-hat is {d.max_rhat:.3f} (below {RHAT_MAX})")
    return "paragraph", (
        f"Convergence: all checks passed: {rhat}, the smallest bulk and tail effective "
        f"sample sizes are {d.min_ess_bulk:,.0f} and {d.min_ess_tail:,.0f} (at least "
        f"{ESS_PER_CHAIN * s.chains:,} needed), and there were no divergent transitions "
        "(criteria of Vehtari et al. 2021).")


def software_text(versions: dict[str, str], python: str) -> str:
    """One sentence naming the software and versions (from a report's provenance).

    Examples
    --------
    >>> software_text({"setback": "0.1.0", "pymc": "6.0.0"}, "3.12.1")  # doctest: +ELLIPSIS
    'Software: ...Python 3.12.1.'
    """
    named = [f"{name} {versions[name]}" for name in _VERSIONS if name in versions]
    return f"Software: {', '.join(named)}, Python {python}."


def add_methods(rep: Report, fit: GrowthFit, *, rci_note: str | None = None) -> None:
    """Add the Methods section of ``fit`` to ``rep``.

    Heading, words, equation, priors, sampler and seed, convergence, reliable change, software.

    Examples
    --------
    >>> from analyses.report import Report
    >>> rep = Report("Methods example")
    >>> add_methods(rep, small_fit, rci_note="reliable change: RCI 8.50")
    >>> rep._order[0]
    ('heading', 'Methods')
    """
    rep.add_heading("Methods")
    rep.add_text(model_text(fit))
    rep.add_text(model_equation(fit), kind="equation")
    rep.add_text(f"Here i is the patient, j the score, t the therapist and {fit.data.time_unit} "
                 "the time of the score (0 = intake)." if fit.design.q_t else
                 f"Here i is the patient, j the score and {fit.data.time_unit} the time of the "
                 "score (0 = intake).", kind="note")
    rep.add_text(prior_text(fit))
    rep.add_text(sampler_text(fit))
    kind, text = convergence_text(fit)
    rep.add_text(text, kind=kind)  # type: ignore[arg-type]
    if rci_note:
        rep.add_text(rci_note[0].upper() + rci_note[1:] + ".")
    rep.add_text(software_text(rep.meta.get("versions", {}), rep.meta.get("python", "")))

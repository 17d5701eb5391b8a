"""Report sections of the Bayesian workflow: posterior predictive check, contrasts, comparison."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from analyses.plots import plot_contrast, plot_predictive_check
from analyses.report import Report
from trajectories.checks import posterior_predictive
from trajectories.comparison import ModelComparison, compare
from trajectories.data import TherapyData
from trajectories.engine.settings import SamplerSettings
from trajectories.engine.tree import group
from trajectories.estimands import contrast
from trajectories.fit import GrowthFit, fit_growth
from trajectories.spec import GrowthSpec

__all__ = ["add_workflow_sections", "compare_time_shapes"]


def _contrast_covariate(fit: GrowthFit, by: str | None) -> str | None:
    """Choose the covariate to contrast: ``by``, else the first text covariate of the model."""
    if by is not None:
        return by
    for cov in fit.spec.covariates:
        if fit.design.encoding[cov]["kind"] == "categorical":
            return cov
    return None


def add_workflow_sections(rep: Report, fit: GrowthFit, *, by: str | None = None,
                          seed: int | None = None, draws: int = 200) -> GrowthFit:
    """Add the posterior predictive check and the contrast of ``by`` to a report.

    The predictive check replicates the scores from ``draws`` posterior draws (seeded by
    ``seed``, default the fit's own seed) and compares them with the observed scores per
    session and per patient's change. The contrast (default: the model's first text
    covariate, e.g. the arm) is tabulated and drawn at every fitted session; a model
    without such a covariate gets no contrast section.

    Returns
    -------
    GrowthFit
        The fit with its ``posterior_predictive`` group (for further checks).

    Examples
    --------
    >>> rep = Report("Workflow example")
    >>> checked = add_workflow_sections(rep, small_fit, by="treatment", seed=1, draws=20)
    >>> replicated = group(checked.idata, "posterior_predictive")["score"]
    >>> replicated.sizes["chain"] * replicated.sizes["draw"]  # 20 draws in all
    20
    >>> "contrast_treatment" in rep.figures
    True
    """
    seed = fit.settings.seed if seed is None else seed
    checked = posterior_predictive(fit, seed=seed, draws=draws)
    rep.add_heading("Posterior predictive check")
    rep.add_text(f"Scores replicated from {draws} posterior draws (seed "
                 f"{group(checked.idata, 'posterior_predictive').attrs['seed']}), censored at "
                 "the instrument's range like observed scores. Observed statistics outside "
                 "their replicated bands show what the model does not reproduce.")
    axes = plot_predictive_check(checked)
    rep.add_figure("predictive_check", axes[0].figure,
                   "Observed vs replicated scores per session and change per patient")
    covariate = _contrast_covariate(fit, by)
    if covariate is not None:
        sessions = fit.data.coords()["session"]
        table = contrast(fit, by=covariate, at_session=sessions)
        rep.add_heading(f"Contrast by {covariate}")
        rep.add_table(f"contrast_{covariate}", table,
                      f"Difference in expected score between levels of {covariate} "
                      "(latent scale; p_direction = P(difference < 0))")
        rep.add_figure(f"contrast_{covariate}", plot_contrast(table).figure,
                       f"Contrast by {covariate} over sessions with 95% credible band")
    return checked


def compare_time_shapes(data: TherapyData, spec: GrowthSpec, shapes: tuple[str, ...], *,
                        settings: SamplerSettings, fitted: GrowthFit | None = None,
                        out: str | Path | None = None) -> ModelComparison:
    """Fit ``spec`` with each time shape and compare them by leave-one-patient-out LOO.

    ``fitted`` (a fit of ``spec`` itself) is reused for its own shape. With ``out`` the
    table is written to ``out/model_comparison.csv``.

    Examples
    --------
    Each shape other than ``fitted``'s is fitted, so this runs in analyses, not here; two or
    more shapes are needed, which is checked before any sampling:

    >>> try:
    ...     compare_time_shapes(small_fit.data, small_fit.spec, ("log",),
    ...                         settings=SamplerSettings(), fitted=small_fit)
    ... except ValueError as err:
    ...     print(str(err).split(",")[0])
    compare needs a dict of at least two fits
    """
    fits = {}
    for shape in shapes:
        if fitted is not None and shape == spec.time:
            fits[shape] = fitted
        else:
            fits[shape] = fit_growth(replace(spec, time=shape), data, settings=settings)
    result = compare(fits)
    if out is not None:
        table = result.table.assign(message="")
        table.loc[0, "message"] = result.message
        pd.DataFrame(table).to_csv(Path(out) / "model_comparison.csv", index=False)
    return result

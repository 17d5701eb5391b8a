"""`fit_mixedlm`: a frequentist cross-check of the growth model with statsmodels MixedLM.

REML estimates of the same fixed effects and variance parameters, named as in the
Bayesian posterior, so the two can be compared row by row (the independent check of
issue 4). Two-level data give exactly the Bayesian model's structure (correlated patient
intercepts and slopes). With therapists, statsmodels nests patients as variance
components, so patient intercepts and slopes are then uncorrelated (stated in the
result's ``attrs["structure"]``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from trajectories.data import TherapyData
from trajectories.design import make_design
from trajectories.spec import GrowthSpec

__all__ = ["fit_mixedlm"]


def fit_mixedlm(spec: GrowthSpec, data: TherapyData) -> pd.DataFrame:
    """Fit the spec's growth model by REML with statsmodels and tabulate the estimates.

    Parameters
    ----------
    spec : GrowthSpec
        Time shape, covariates and random structure (normal likelihood).
    data : TherapyData
        The data.

    Returns
    -------
    pandas.DataFrame
        ``parameter``, ``estimate``, ``se`` (standard errors for fixed effects; NaN for
        variance parameters), with names as in :meth:`GrowthFit.summary`.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> table = fit_mixedlm(GrowthSpec(time="log"), load_beat_the_blues())
    >>> table["parameter"].tolist()[:3]
    ['intercept', 'slope', 'patient_intercept_sd']
    """
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    design = make_design(spec, data)
    if design.q_t and ((design.therapist_index < 0).any() or design.changes_therapist):
        raise ValueError("fit_mixedlm: statsmodels nests patients in therapist groups; it "
                         "cannot fit patients without a therapist or who change therapist")
    q = design.q
    names = list(spec.patient_coefficients)
    groups = design.patients[design.patient_index]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' convergence chatter; checked below
        if design.q_t == 0:
            model = sm.MixedLM(design.y, design.x, groups=groups, exog_re=design.x[:, :q])
            res = model.fit(reml=True)
            structure = "patients: correlated random effects (same as the Bayesian model)"
        else:
            df = pd.DataFrame(design.x, columns=[f"x{j}" for j in range(design.x.shape[1])])
            df["y"] = design.y
            df["patient"] = groups
            df["therapist"] = design.therapists[design.therapist_index[design.patient_index]]
            fe = " + ".join(df.columns[1:design.x.shape[1]])
            re = " + ".join(f"x{j}" for j in range(1, design.q_t))
            vc = {f"patient_{c}": "0 + C(patient)" + ("" if j == 0 else f":x{j}")
                  for j, c in enumerate(names)}
            model = smf.mixedlm(f"y ~ {fe}", df, groups="therapist",
                                re_formula=f"~{re}" if re else "~1", vc_formula=vc)
            res = model.fit(reml=True)
            structure = ("therapists: correlated random effects; patients: uncorrelated "
                         "variance components (statsmodels cannot nest a covariance)")
    if not res.converged:
        warnings.warn("MixedLM did not converge; treat its estimates with care",
                      UserWarning, stacklevel=2)
    p = design.x.shape[1]
    fe = np.asarray(res.fe_params)[:p]
    se = np.asarray(res.bse_fe)[:p]
    rows = [(t, float(b), float(s)) for t, b, s in zip(design.terms, fe, se, strict=True)]
    scale = float(res.scale)
    if design.q_t == 0:
        cov = np.asarray(res.cov_re)
        sds = np.sqrt(np.diag(cov))
        rows += [(f"patient_{c}_sd", float(sds[j]), np.nan) for j, c in enumerate(names)]
        rows += [(f"patient_corr[{a},{b}]", float(cov[i, j] / (sds[i] * sds[j])), np.nan)
                 for i, a in enumerate(names) for j, b in enumerate(names) if j > i]
    else:
        vcomp = dict(zip(res.model.exog_vc.names, np.asarray(res.vcomp), strict=True))
        rows += [(f"patient_{c}_sd", float(np.sqrt(vcomp[f"patient_{c}"])), np.nan)
                 for c in names]
        cov = np.asarray(res.cov_re)
        t_names = spec.therapist_coefficients(True)
        rows += [(f"therapist_{c}_sd", float(np.sqrt(cov[j, j])), np.nan)
                 for j, c in enumerate(t_names)]
    rows.append(("residual_sd", float(np.sqrt(scale)), np.nan))
    table = pd.DataFrame(rows, columns=["parameter", "estimate", "se"])
    table.attrs["structure"] = structure
    return table

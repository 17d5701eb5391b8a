"""The joint model's machine code: gradient, equality with the PyMC graph, effect refresh."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from trajectories.data import TherapyData
from trajectories.design import make_design
from trajectories.engine import sampling
from trajectories.engine.sampling import sample
from trajectories.engine.settings import SamplerSettings
from trajectories.joint import build_joint_model
from trajectories.joint_fit import joint_hazard_design, joint_problem
from trajectories.spec import DropoutSpec, GrowthSpec

CONFIGS = {
    "two-level": (GrowthSpec(time="log"), DropoutSpec(breaks=(0, 2)), False),
    "therapists": (GrowthSpec(time="log", therapist="slopes"),
                   DropoutSpec(breaks=(0, 1, 3), association=("level", "slope", "improvement",
                                                               "worsening")), True),
    "intercepts, cloglog, alliance": (
        GrowthSpec(time="linear", patient="intercept", therapist="intercept"),
        DropoutSpec(link="cloglog", n_bins=2, predictors=("alliance",),
                    association=("level", "worsening")), True),
    "quadratic, covariate": (GrowthSpec(time="quadratic", covariates=("arm",),
                                        time_interactions=("arm",), therapist="none"),
                             DropoutSpec(breaks=(0, 3), covariates=("arm",)), True),
    "no association": (GrowthSpec(time="log"), DropoutSpec(breaks=(0,), association=()),
                       False),
}


def _data(n: int = 14, seed: int = 0, therapists: bool = True) -> TherapyData:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        last = 1 + i % 5
        status = "dropout" if i % 3 == 0 else ("completed" if i % 3 == 1 else "ongoing")
        slope = rng.normal(-2, 1)
        for s in range(last + 1):
            rows.append({"p": f"p{i:02d}", "t": f"T{i % 3}", "s": s, "arm": "AB"[i % 2],
                         "al": rng.normal(5, 1),
                         "y": 20 + slope * math.log1p(s) + rng.normal(0, 2), "st": status})
    return TherapyData.from_frame(pd.DataFrame(rows), patient="p", session="s", score="y",
                                  end_status="st", therapist="t" if therapists else None,
                                  alliance="al", covariates=("arm",))


def _problem(name: str, **kw):  # noqa: ANN003, ANN202
    spec, dspec, therapists = CONFIGS[name]
    data = _data(therapists=therapists)
    design = make_design(spec, data)
    hdesign = joint_hazard_design(dspec, data)
    return spec, dspec, data, design, joint_problem(design, hdesign, data, **kw)


def _point(prob, seed: int) -> np.ndarray:  # noqa: ANN001
    return prob.initial_point(seed) + np.random.default_rng(seed).normal(0, 0.3, prob.ndim)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_gradient_matches_central_differences(name: str) -> None:
    *_, prob = _problem(name)
    x = _point(prob, 1)
    value, grad = prob.log_density(x)
    assert np.isfinite(value)
    step = 1e-6
    numeric = np.array([(prob.log_density(x + step * e)[0] - prob.log_density(x - step * e)[0])
                        / (2 * step) for e in np.eye(prob.ndim)])
    # central differences are accurate to O(step^2 f''') + rounding ~ 1e-10 / step
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-5)


def _pymc_point(model, prob, spec: GrowthSpec, x: np.ndarray) -> dict:  # noqa: ANN001
    """The PyMC joint model's value variables at the machine code's coordinates ``x``."""
    o = prob.offsets
    point, j = {}, 0
    names = [v.name for v in model.value_vars]

    def take(k: int) -> np.ndarray:
        nonlocal j
        out = x[j: j + k]
        j += k
        return out

    def level(prefix: str, coefs: list[str], start: int) -> None:
        nonlocal j
        j = start
        for c in coefs:
            point[f"{prefix}_{c}_sd_log__"] = take(1)[0]
        if f"{prefix}_corr_raw_logodds__" in names:
            k = len(coefs) * (len(coefs) - 1) // 2
            pc = 2.0 * take(k)  # logit((r + 1) / 2) = 2 atanh(r)
            point[f"{prefix}_corr_raw_logodds__"] = pc[0] if k == 1 else pc

    level("patient", list(spec.patient_coefficients), 1)
    point["residual_sd_log__"] = x[0]
    if prob.q_t:
        level("therapist", list(spec.therapist_coefficients(True)), o[0])
        point["therapist_effect_raw"] = x[o[2]: o[3]].reshape(prob.n_therapists, prob.q_t)
    beta = x[o[1]: o[2]]
    for k, c in enumerate(spec.coefficients):
        point[c] = beta[k]
    if len(beta) > len(spec.coefficients):
        point["covariate_effect"] = beta[len(spec.coefficients):]
    point["patient_effect_raw"] = x[o[3]: o[4]].reshape(prob.n_patients, prob.q)
    point["dropout_baseline"] = x[o[4]: o[5]]
    if o[6] > o[5]:
        point["dropout_coef"] = x[o[5]: o[6]]
    if o[7] > o[6]:
        point["dropout_association"] = x[o[6]: o[7]]
    if o[8] > o[7]:
        point["therapist_dropout_sd_log__"] = x[o[7]]
        point["therapist_dropout_raw"] = x[o[7] + 1: o[8]]
    assert set(point) == set(names), set(names) ^ set(point)
    return point


@pytest.mark.parametrize("name", list(CONFIGS))
def test_density_equals_the_pymc_joint_model(name: str) -> None:
    """Two implementations of the same density: they differ by a constant only."""
    spec, dspec, data, design, prob = _problem(name, centred=False)
    model = build_joint_model(spec, dspec, data, design=design)
    logp = model.compile_logp(mode="FAST_COMPILE")
    diffs = []
    for seed in range(3):
        x = _point(prob, seed)
        diffs.append(prob.log_density(x)[0] - float(logp(_pymc_point(model, prob, spec, x))))
    assert np.ptp(diffs) < 1e-8 * max(1.0, abs(diffs[0]))


def test_centring_only_moves_the_baseline() -> None:
    *_, plain = _problem("therapists", centred=False)
    *_, centred = _problem("therapists")
    assert np.abs(centred.centring).max() > 0.01
    o = plain.offsets
    x = _point(plain, 4)
    xc = x.copy()  # sampled: baseline + centring @ association
    xc[o[4]: o[5]] = x[o[4]: o[5]] + centred.centring @ x[o[6]: o[7]]
    assert centred.log_density(xc)[0] == pytest.approx(plain.log_density(x)[0], rel=1e-10)
    draws_plain, draws_centred = plain.unpack(x[None]), centred.unpack(xc[None])
    np.testing.assert_allclose(draws_centred["baseline"], draws_plain["baseline"], rtol=1e-12)


def test_refresh_draws_from_the_exact_conditional_of_a_patient() -> None:
    """MH refresh vs a 2-D grid of the tilted conditional of one patient's effects."""
    *_, prob = _problem("two-level")
    x = _point(prob, 2)
    one = prob.unpack(x[None])
    n_draws = 4000
    values = {k: np.repeat(v, n_draws, axis=0) for k, v in one.items()}
    v, acceptance = prob.refresh_effects(values, np.random.default_rng(7), steps=25)
    assert 0.05 < acceptance <= 1.0
    i = int(prob.row_patient[np.flatnonzero(prob.row_event)[0]])  # a patient who dropped out
    # the conditional: N(mu, A^-1) from the growth part times the patient's dropout likelihood
    mu = np.zeros(prob.q)
    cov = _growth_conditional(prob, one, i, mu)
    grid = np.linspace(-6, 6, 241)
    g0, g1 = np.meshgrid(grid, grid, indexing="ij")
    chol = np.linalg.cholesky(cov)
    pts = mu + np.stack([g0.ravel(), g1.ravel()], 1) @ chol.T
    logw = -0.5 * (g0.ravel() ** 2 + g1.ravel() ** 2) + _dropout_loglik(prob, one, i, pts)
    w = np.exp(logw - logw.max())
    exact = (w[:, None] * pts).sum(0) / w.sum()
    sd = np.sqrt((w[:, None] * (pts - exact) ** 2).sum(0) / w.sum())
    # 4000 nearly independent draws (25 steps each): MCSE of the mean about sd / 63
    assert np.all(np.abs(v[:, i].mean(0) - exact) < 4 * sd / math.sqrt(n_draws))
    # SE of an SD from n independent near-normal draws: sd / sqrt(2 n); allow 5 of them
    assert np.all(np.abs(v[:, i].std(0) - sd) < 5 * sd / math.sqrt(2 * n_draws))


def _growth_conditional(prob, one: dict, i: int, mu: np.ndarray) -> np.ndarray:  # noqa: ANN001
    s2 = one["sigma"][0] ** 2
    g = prob.gram[i]
    q, p = prob.q, prob.n_fixed
    a = np.linalg.inv(one["cov_v"][0]) + g[:q, :q] / s2
    c = (g[:q, p] - g[:q, :p] @ one["beta"][0]) / s2
    mu[:] = np.linalg.solve(a, c)
    return np.linalg.inv(a)


def _dropout_loglik(prob, one: dict, i: int, pts: np.ndarray) -> np.ndarray:  # noqa: ANN001
    rows = np.flatnonzero(prob.row_patient == i)
    total = np.zeros(len(pts))
    for r in rows:
        eta = one["baseline"][0][prob.row_bin[r]]
        for j, term in enumerate(prob.terms):
            src = {"level": 0, "slope": 1}.get(term, 2)
            val = prob.latent[src, r] @ one["beta"][0] + pts @ prob.latent[src, r, : prob.q]
            worse = prob.sign * val / prob.score_sd
            f = {"level": prob.sign * (val - prob.score_mean) / prob.score_sd,
                 "slope": worse, "improvement": np.maximum(-worse, 0),
                 "worsening": np.maximum(worse, 0)}[term]
            eta = eta + one["association"][0][j] * f
        h = expit(eta)
        total += np.log(h) if prob.row_event[r] else np.log1p(-h)
    return total


def test_machine_callback_and_python_interface_give_the_same_draws(monkeypatch) -> None:  # noqa: ANN001
    *_, prob = _problem("two-level")
    settings = SamplerSettings(draws=30, tune=30, chains=1, seed=3)
    first = sample(prob, settings).theta
    monkeypatch.setattr(sampling.machine, "available", lambda: False)
    second = sample(prob, settings).theta
    np.testing.assert_allclose(first, second, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_machine_code_and_pymc_latent_model_have_the_same_posterior() -> None:
    from trajectories.fit import fit_growth

    data = _data(n=60, seed=5, therapists=False)
    spec = GrowthSpec(time="log", dropout=DropoutSpec(breaks=(0, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = fit_growth(spec, data, seed=1, draws=2000)
        slow = fit_growth(replace(spec, method="latent"), data, seed=1, draws=2000)
    a, b = fast.summary().set_index("parameter"), slow.summary().set_index("parameter")
    for name in ("intercept", "slope", "residual_sd", "dropout_association[level]",
                 "dropout_baseline[0-1]"):
        # difference of two posterior means: within 4 combined Monte Carlo SEs
        tol = 4 * math.hypot(a.loc[name, "mcse_mean"], b.loc[name, "mcse_mean"])
        assert abs(a.loc[name, "mean"] - b.loc[name, "mean"]) < tol, name

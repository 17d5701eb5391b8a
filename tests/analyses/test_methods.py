"""The Methods text is written from the fit, and unusable fits say so instead of reporting."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from analyses.methods import (
    convergence_text,
    model_equation,
    model_text,
    prior_text,
    sampler_text,
)
from analyses.pipelines.analyze import add_model_sections
from analyses.pipelines.fit import run_fit
from analyses.report import Report, provenance
from trajectories.datasets import load_beat_the_blues
from trajectories.fit import fit_from_draws
from trajectories.spec import DropoutSpec, GrowthSpec


def _draws(n: int, shift: float = 0.0, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)

    def around(v: float) -> np.ndarray:
        return v + rng.normal(0, 0.05, n)

    return {"intercept": around(22.0 + shift), "slope": around(-3.0),
            "patient_intercept_sd": around(8.0), "patient_slope_sd": around(2.0),
            "patient_corr": around(0.0)[:, None], "residual_sd": around(6.0),
            "patient_effect": np.zeros((n, 100, 2))}


@pytest.fixture(scope="module")
def fit():  # noqa: ANN201
    spec = GrowthSpec(time="log", covariates=("treatment",), time_interactions=("treatment",))
    draws = _draws(400)
    draws["covariate_effect"] = np.zeros((400, 2))
    return fit_from_draws(spec, load_beat_the_blues(), draws, chains=2)


def test_equation_and_words_follow_the_spec(fit) -> None:  # noqa: ANN001
    eq = model_equation(fit)
    assert eq.splitlines()[0] == ("yᵢⱼ = (β₀ + v₀ᵢ) + (β₁ + v₁ᵢ)·log(1 + month) "
                                  "+ γ₁·treatment[TAU] + γ₂·treatment[TAU]·log(1 + month) + εᵢⱼ")
    assert "uₜ" not in eq  # two-level data: no therapist term
    words = model_text(fit)
    assert "380 BDI-II scores of 100 patients" in words and "two-level" in words
    assert "log(1 + month)" in words and "missing at random" in words
    assert "treatment[TAU] × slope" in words


def test_priors_state_the_numbers_used(fit) -> None:  # noqa: ANN001
    text = prior_text(fit)
    d = fit.design
    assert f"intercept ~ Normal({d.prior_loc[0]:.3g}, {d.prior_scale[0]:.3g})" in text
    assert f"residual SD ~ Half-Normal({d.residual_scale:.3g})" in text
    assert "LKJ(2)" in text


def test_unusable_fit_reports_no_estimates(fit, tmp_path) -> None:  # noqa: ANN001
    # two chains in different places: R-hat far above 1.1
    a, b = _draws(200, 0.0, seed=1), _draws(200, 15.0, seed=2)
    both = {k: np.concatenate([a[k], b[k]]) for k in a}
    bad = fit_from_draws(GrowthSpec(time="log"), load_beat_the_blues(), both, chains=2)
    assert not bad.diagnostics.usable
    kind, text = convergence_text(bad)
    assert kind == "warning" and text.startswith("The chains disagree: the estimates are not "
                                                 "usable")
    rep = Report("x", meta=provenance(seed=0))
    add_model_sections(rep, bad)
    assert set(rep.tables) == {"parameters"}  # nothing that looks like a result
    page = (rep.write(tmp_path / "rep") / "report.html").read_text()
    assert '<p class="warning">The chains disagree: the estimates are not usable' in page
    assert "NOT USABLE" in page


def test_run_fit_of_an_unusable_fit_writes_only_the_fit(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    a, b = _draws(200, 0.0, seed=1), _draws(200, 15.0, seed=2)
    bad = fit_from_draws(GrowthSpec(time="log"), load_beat_the_blues(),
                         {k: np.concatenate([a[k], b[k]]) for k in a}, chains=2)
    monkeypatch.setattr("analyses.pipelines.fit.fit_growth", lambda *a, **k: bad)
    out = run_fit(load_beat_the_blues(), GrowthSpec(time="log"), out=tmp_path / "f",
                  progress=False)
    assert sorted(out.files) == ["fit", "meta", "summary"]
    assert out.notes[0].startswith("the chains disagree: the estimates are not usable")
    meta = json.loads((tmp_path / "f" / "meta.json").read_text())
    assert meta["diagnostics"]["max_rhat"] > 1.1 and meta["seed"] == 0


@pytest.mark.parametrize(("spec", "says", "not_says"), [
    (GrowthSpec(dropout=DropoutSpec()), "compiled code", "PyMC"),
    (GrowthSpec(dropout=DropoutSpec(), method="latent"), "(PyMC)", "compiled code"),
    (GrowthSpec(dropout=DropoutSpec(), likelihood="student_t"), "(PyMC)", "compiled code"),
])
def test_sampler_text_names_the_path_the_joint_model_took(fit, spec, says, not_says) -> None:  # noqa: ANN001
    # the joint model runs in compiled code unless Student-t residuals or method="latent"
    text = sampler_text(SimpleNamespace(settings=fit.settings, diagnostics=fit.diagnostics,
                                        spec=spec))
    assert says in text and not_says not in text

"""Doctest fixtures: small fits shared by the docstring examples of the three packages.

The examples of methods and estimands need a fitted model; no example samples one itself.
Each fit below is made once per session, and only when a collected example names it, from
the bundled Beat the Blues data with short sampler settings, so ``--doctest-modules`` stays
fast.
"""

from __future__ import annotations

import re
import warnings

import matplotlib
import pytest

matplotlib.use("Agg")  # the plotting examples draw headless

#: Short runs: enough draws for an example's printed shapes and types, not for inference.
_DRAWS = {"draws": 100, "tune": 200, "chains": 2, "progress": False}


def _quiet(fit_function, *args):  # noqa: ANN001, ANN002, ANN202
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short runs may fail the ESS floor; examples show use
        return fit_function(*args, seed=1, **_DRAWS)


@pytest.fixture(scope="session")
def small_data():  # noqa: ANN201
    """Load the bundled Beat the Blues data (100 patients, two arms, end statuses)."""
    from trajectories.datasets import load_beat_the_blues

    return load_beat_the_blues()


@pytest.fixture(scope="session")
def small_fit(small_data):  # noqa: ANN001, ANN201
    """Fit a log-time growth model with the treatment arm as covariate (fast collapsed path)."""
    from trajectories.fit import fit_growth
    from trajectories.spec import GrowthSpec

    return _quiet(fit_growth, GrowthSpec(time="log", covariates=("treatment",)), small_data)


@pytest.fixture(scope="session")
def joint_fit(small_data):  # noqa: ANN001, ANN201
    """Fit the joint growth-dropout model (log time, default dropout spec)."""
    from trajectories.fit import fit_growth
    from trajectories.spec import DropoutSpec, GrowthSpec

    return _quiet(fit_growth, GrowthSpec(time="log", dropout=DropoutSpec()), small_data)


@pytest.fixture(scope="session")
def dropout_fit(small_data):  # noqa: ANN001, ANN201
    """Fit the standalone dropout hazard with its default spec."""
    from trajectories.dropout import fit_dropout
    from trajectories.spec import DropoutSpec

    return _quiet(fit_dropout, DropoutSpec(), small_data)


@pytest.fixture(scope="session")
def competing_fit(small_data):  # noqa: ANN001, ANN201
    """Fit the competing-endings hazard with its default spec."""
    from trajectories.competing import CompetingSpec, fit_competing

    return _quiet(fit_competing, CompetingSpec(), small_data)


@pytest.fixture(scope="session")
def linear_fit(small_data):  # noqa: ANN001, ANN201
    """Fit ``small_fit``'s model with linear time (a second model to compare with)."""
    from trajectories.fit import fit_growth
    from trajectories.spec import GrowthSpec

    return _quiet(fit_growth, GrowthSpec(time="linear", covariates=("treatment",)), small_data)


@pytest.fixture(scope="session")
def clinic_fit():  # noqa: ANN201
    """Fit a log-time growth model to a small simulated clinic (PHQ-9, 5 therapists)."""
    from simulations.clinic.config import ClinicConfig
    from simulations.clinic.simulate import simulate
    from trajectories.fit import fit_growth
    from trajectories.spec import GrowthSpec

    clinic = simulate(ClinicConfig(n_patients=100, n_therapists=5), "tau", seed=1)
    return _quiet(fit_growth, GrowthSpec(time="log", therapist="intercept"), clinic.data)


@pytest.fixture(scope="session")
def small_sampled(small_fit):  # noqa: ANN001, ANN201
    """Sample the collapsed problem of ``small_fit`` briefly (what ``fit_growth`` samples)."""
    from trajectories.engine.sampling import sample
    from trajectories.engine.settings import SamplerSettings

    settings = SamplerSettings(draws=50, tune=50, chains=1, seed=1, progress=False)
    return sample(small_fit.design.collapsed(), settings)


@pytest.fixture(scope="session")
def new_chunk():  # noqa: ANN201
    """Offer ``new_chunk()``: a fresh chunk of 50 patients of 5 therapists, patients drawn.

    The session loop's steps change a chunk in place, so each example makes its own.
    """
    import numpy as np

    from simulations.clinic.config import ClinicConfig
    from simulations.clinic.engine import setup
    from simulations.clinic.patients import draw_patients
    from simulations.clinic.state import Chunk

    def make(n_patients: int = 50, n_therapists: int = 5, seed: int = 1) -> Chunk:
        config = ClinicConfig(n_patients=n_patients, n_therapists=n_therapists)
        th, th_of = setup(config, seed=seed)
        chunk = Chunk(config, th, th_of, np.random.SeedSequence(seed), record=False)
        draw_patients(chunk)
        return chunk

    return make


@pytest.fixture(scope="session")
def policy_table():  # noqa: ANN201
    """Compare treatment as usual and feedback in a tiny clinic (60 patients, 3 therapists)."""
    from simulations.clinic.compare import compare_policies
    from simulations.clinic.config import ClinicConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 3 therapists: independent intervals, by design
        return compare_policies(ClinicConfig(n_patients=60, n_therapists=3),
                                ["tau", "feedback"], seed=1)


@pytest.fixture(scope="session")
def study_dir(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """Run a small coverage study of the t interval into a study folder (serially).

    Factors ``n`` (5, 30) and ``dist`` (normal, lognormal), 20 replications each.
    """
    from simulations.study.design import StudyDesign
    from simulations.study.run import run_study
    from simulations.study.store import ParquetStore

    folder = tmp_path_factory.mktemp("study")
    design = StudyDesign({"n": [5, 30], "dist": ["normal", "lognormal"]}, replications=20,
                         seed=1)
    run_study(design, "t_interval", store=ParquetStore(folder), executor="serial",
              progress=False)
    return folder


@pytest.fixture(scope="session")
def study_results(study_dir):  # noqa: ANN001, ANN201
    """Load the results of ``study_dir``'s study."""
    from simulations.study.run import load_results
    from simulations.study.store import ParquetStore

    return load_results(ParquetStore(study_dir))


_SHARED = ("small_data", "small_fit", "linear_fit", "clinic_fit", "small_sampled", "joint_fit",
           "dropout_fit", "competing_fit", "new_chunk", "policy_table", "study_dir",
           "study_results")


@pytest.fixture(autouse=True)
def _doctest_fits(request: pytest.FixtureRequest):  # noqa: ANN201
    """Put the shared fits an example names into its namespace (fitting each on first use).

    Figures an example drew are closed after it, so that memory does not grow.
    """
    dtest = getattr(request.node, "dtest", None)
    if dtest is None:  # not a doctest
        yield
        return
    source = "\n".join(example.source for example in dtest.examples)
    namespace = request.getfixturevalue("doctest_namespace")
    for name in _SHARED:
        if re.search(rf"\b{name}\b", source):
            namespace[name] = request.getfixturevalue(name)
    yield
    import matplotlib.pyplot as plt

    plt.close("all")

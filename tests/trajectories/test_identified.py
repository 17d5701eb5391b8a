"""Models the data cannot identify are refused in words before sampling (issue 17, item 4).

Before, constant scores gave "change -1.1 [-1.29, -0.92]" with R-hat 1e16 reported only as
"above 1.01": numbers that looked like results.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trajectories.data import DataValidationError, TherapyData
from trajectories.design import make_design
from trajectories.spec import GrowthSpec


def _data(scores=None, sessions=(0, 1, 2, 3), n=6, therapists=None, **cols) -> TherapyData:  # noqa: ANN001
    rng = np.random.default_rng(3)
    rows = pd.DataFrame([(p, s) for p in range(n) for s in sessions],
                        columns=["client", "week"])
    rows["phq"] = rng.normal(14, 4, len(rows)) if scores is None else scores
    extra = {}
    if therapists is not None:
        rows["clin"] = rows["client"].map(lambda p: therapists[p % len(therapists)])
        extra["therapist"] = "clin"
    for name, values in cols.items():
        rows[name] = rows["client"].map(lambda p, v=values: v[p % len(v)])
    return TherapyData.from_frame(rows, patient="client", session="week", score="phq",
                                  covariates=tuple(cols), **extra)


@pytest.mark.parametrize(("spec", "data", "message"), [
    (GrowthSpec(), _data(scores=7.0), "column 'phq': the scores do not vary (all 24 are 7)"),
    (GrowthSpec(), _data(sessions=(0,)), "column 'week': every score is at week 0, so change "
                                         "over weeks cannot be estimated"),
    (GrowthSpec(time="quadratic"), _data(sessions=(0, 4)), "a quadratic course needs scores "
                                                           "at 3 or more distinct weeks"),
    (GrowthSpec(time="piecewise", breakpoint=6), _data(),
     "piecewise time needs scores before and after the breakpoint (6)"),
    (GrowthSpec(), _data(therapists=["T1"]), "column 'clin': there is only one therapist"),
    (GrowthSpec(covariates=("site",)), _data(site=[3.0]), "term 'site': the column is "
                                                          "constant"),
    (GrowthSpec(covariates=("a", "b")), _data(a=[1.0, 2.0, 3.0], b=[2.0, 4.0, 6.0]),
     "term 'b' is a linear combination of ['intercept', 'slope', 'a']"),
])
def test_not_identified_is_refused_in_words(spec: GrowthSpec, data: TherapyData,
                                            message: str) -> None:
    with pytest.raises(DataValidationError, match=message.replace("(", r"\(").replace(
            ")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        make_design(spec, data)


def test_one_score_per_patient_is_refused() -> None:
    rows = pd.DataFrame({"client": range(8), "week": [0, 1] * 4,
                         "phq": np.arange(8, dtype=float)})
    data = TherapyData.from_frame(rows, patient="client", session="week", score="phq")
    with pytest.raises(DataValidationError, match="every patient has a single score"):
        make_design(GrowthSpec(patient="intercept"), data)


def test_identified_models_pass() -> None:
    make_design(GrowthSpec(), _data(therapists=["T1", "T2"]))
    make_design(GrowthSpec(time="piecewise", breakpoint=2), _data())
    make_design(GrowthSpec(therapist="none"), _data(therapists=["T1"]))  # one, not modelled
    make_design(GrowthSpec(covariates=("a",)), _data(a=[1.0, 2.0]))

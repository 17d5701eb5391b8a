"""TherapyData: canonical columns, validation errors that name column/patient/rule, no mutation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trajectories import DataValidationError, TherapyData


def frame(**overrides: object) -> pd.DataFrame:
    base = {
        "client": ["a", "a", "a", "b", "b", "c", "c", "c"],
        "clin": ["T1", "T1", "T1", "T1", "T1", "T2", "T2", "T2"],
        "week": [0, 1, 2, 0, 1, 0, 1, 2],
        "phq": [18.0, 15.0, 12.0, 20.0, 21.0, 11.0, 9.0, 6.0],
        "status": ["completed"] * 3 + ["dropout"] * 2 + ["completed"] * 3,
        "age": [30, 30, 30, 41, 41, 25, 25, 25],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def build(df: pd.DataFrame, **kw: object) -> TherapyData:
    args = dict(patient="client", therapist="clin", session="week", score="phq")
    args.update(kw)
    return TherapyData.from_frame(df, **args)


def test_canonical_columns_and_properties() -> None:
    data = build(frame(), end_status="status", covariates=("age",), instrument="phq9")
    f = data.frame
    assert list(f.columns[:5]) == ["source_row", "patient", "therapist", "session", "score"]
    assert "age" in f and "end_status" in f
    assert data.n_patients == 3 and data.n_therapists == 2 and data.n_observations == 8
    assert data.sessions_per_patient.to_dict() == {"a": 3, "b": 2, "c": 3}
    assert data.coords() == {"patient": ["a", "b", "c"], "therapist": ["T1", "T2"],
                             "session": [0, 1, 2]}
    assert data.end_status.to_dict() == {"a": "completed", "b": "dropout", "c": "completed"}
    assert data.therapist_of_patient.to_dict() == {"a": "T1", "b": "T1", "c": "T2"}
    np.testing.assert_array_equal(data.patient_index, [0, 0, 0, 1, 1, 2, 2, 2])
    assert f["session"].dtype == np.int64 and f["score"].dtype == float


def test_frame_is_a_copy_and_input_untouched() -> None:
    df = frame()
    before = df.copy(deep=True)
    data = build(df)
    copy = data.frame
    copy.loc[0, "score"] = -99.0
    assert data.frame.loc[0, "score"] == 18.0
    pd.testing.assert_frame_equal(df, before)


def test_sorting_is_recorded_in_source_row() -> None:
    df = frame().iloc[::-1].reset_index(drop=True)
    data = build(df)
    f = data.frame
    assert f["patient"].tolist() == ["a", "a", "a", "b", "b", "c", "c", "c"]
    # each canonical row points back at the caller's row it came from
    np.testing.assert_array_equal(df.loc[f["source_row"], "phq"].to_numpy(), f["score"])


def test_two_level_data_without_therapist() -> None:
    data = TherapyData.from_frame(frame(), patient="client", session="week", score="phq")
    assert data.n_therapists == 0 and not data.has_therapist
    assert "therapist" not in data.coords()


def test_inferred_end_status_is_documented() -> None:
    data = build(frame())
    # b's last session (1) is before the last session in the data (2): dropout
    assert data.end_status.to_dict() == {"a": "completed", "b": "dropout", "c": "completed"}
    assert "inferred" in data.end_status_source
    assert build(frame(), planned_sessions=3).end_status.eq("dropout").all()


@pytest.mark.parametrize(
    ("kwargs", "df", "match"),
    [
        ({"score": "nope"}, frame(), r"column 'nope': required column is missing"),
        ({}, frame().iloc[:0], r"empty"),
        ({}, frame(phq=["18", "x", 12, 20, 21, 11, 9, 6]),
         r"column 'phq': values must be numeric.*client='a', week=1"),
        ({}, frame(phq=[18, np.inf, 12, 20, 21, 11, 9, 6]),
         r"column 'phq': values must be finite.*client='a', week=1"),
        ({"instrument": "phq9"}, frame(phq=[18, 15, 12, 20, 28, 11, 9, 6]),
         r"column 'phq': scores must lie in the PHQ-9 range \[0, 27\].*client='b', week=1"),
        ({}, frame(week=[0, 1, 2, -1, 1, 0, 1, 2]),
         r"column 'week': sessions must be >= 0.*client='b', week=-1"),
        ({}, frame(week=[0, 1, 2, 0, 1.5, 0, 1, 2]),
         r"column 'week': sessions must be whole numbers.*client='b', week=1.5"),
        ({}, frame(week=[0, 1, 1, 0, 1, 0, 1, 2]),
         r"column 'week': each \(patient, session\) pair must appear once.*client='a', week=1"),
        ({}, frame(clin=["T1", "T1", "T2", "T1", "T1", "T2", "T2", "T2"]),
         r"column 'clin': each patient must be seen by one therapist.*'a'.*allow_therapist_change"),
        ({"end_status": "status"},
         frame(status=["completed"] * 3 + ["quit"] * 2 + ["completed"] * 3),
         r"column 'status': end status must be one of.*client='b', week=0, value='quit'"),
        ({"end_status": "status"},
         frame(status=["completed", "dropout"] + ["completed"] * 6),
         r"column 'status': patient 'a' has more than one end status \['completed', 'dropout'\]"),
        ({}, frame(phq=[18, np.nan, 12, 20, 21, 11, 9, 6]),
         r"column 'phq': scores may not be missing.*allow_missing_scores.*client='a', week=1"),
        ({}, frame(client=["a", None, "a", "b", "b", "c", "c", "c"]),
         r"column 'client': identifiers may not be missing"),
        ({"covariates": ("score",)}, frame(score=1), r"reserved name"),
    ],
)
def test_bad_input_is_rejected_with_named_column_and_rule(
    kwargs: dict, df: pd.DataFrame, match: str
) -> None:
    with pytest.raises(DataValidationError, match=match):
        build(df, **kwargs)


def test_validation_error_is_a_value_error() -> None:
    assert issubclass(DataValidationError, ValueError)


def test_error_lists_only_the_first_few_offenders() -> None:
    n = 20
    df = pd.DataFrame({"p": np.arange(n), "s": np.zeros(n), "y": np.full(n, np.inf)})
    with pytest.raises(DataValidationError, match=r"and 15 more"):
        TherapyData.from_frame(df, patient="p", session="s", score="y")


def test_options_allow_missing_scores_and_therapist_change() -> None:
    data = build(frame(phq=[18, np.nan, 12, 20, 21, 11, 9, 6]), allow_missing_scores=True)
    assert data.frame["score"].isna().sum() == 1  # kept, not dropped
    moved = build(frame(clin=["T1", "T1", "T2", "T1", "T1", "T2", "T2", "T2"]),
                  allow_therapist_change=True)
    assert moved.n_therapists == 2


def test_csv_and_parquet_round_trip(tmp_path) -> None:  # noqa: ANN001
    df = frame()
    df.to_csv(tmp_path / "d.csv", index=False)
    df.to_parquet(tmp_path / "d.parquet")
    kw = dict(patient="client", therapist="clin", session="week", score="phq",
              end_status="status")
    a = TherapyData.from_csv(tmp_path / "d.csv", **kw)
    b = TherapyData.from_file(tmp_path / "d.parquet", **kw)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert a.end_status.equals(b.end_status)


def test_alliance_and_subset_and_with_end_status() -> None:
    df = frame(wai=np.linspace(3, 6, 8))
    data = build(df, alliance="wai")
    assert data.has_alliance and data.frame["alliance"].iloc[-1] == 6.0
    sub = data.subset(["a", "c"])
    assert sub.n_patients == 2 and sub.n_observations == 6
    changed = data.with_end_status({"a": "referred", "b": "dropout", "c": "ongoing"})
    assert changed.end_status.to_dict() == {"a": "referred", "b": "dropout", "c": "ongoing"}
    with pytest.raises(DataValidationError, match="patient 'a' has 'gone'"):
        data.with_end_status({"a": "gone", "b": "dropout", "c": "ongoing"})


def test_patient_table() -> None:
    t = build(frame(), covariates=("age",)).patient_table()
    assert t["intake_score"].tolist() == [18.0, 20.0, 11.0]
    assert t["last_score"].tolist() == [12.0, 21.0, 6.0]
    assert t["age"].tolist() == [30, 41, 25]


def test_before_session_keeps_earlier_rows_and_marks_truncated_patients_ongoing() -> None:
    data = build(frame(), end_status="status")
    early = data.before_session(2)
    assert early.frame["session"].max() == 1 and early.n_observations == 6
    # a and c lost session 2, so they were still in treatment; b ended at session 1
    assert early.end_status.to_dict() == {"a": "ongoing", "b": "dropout", "c": "ongoing"}
    assert data.before_session(1).patients.tolist() == ["a", "b", "c"]
    with pytest.raises(DataValidationError, match="no session precedes"):
        data.before_session(0)


def test_end_status_marked_on_the_last_session_only() -> None:
    # The service records the ending on the session it happened; other rows are empty.
    data = build(frame(status=[None, "", "Completed", None, "dropout", None, "ongoing", None]),
                 end_status="status")
    assert data.end_status.to_dict() == {"a": "completed", "b": "dropout", "c": "ongoing"}


def test_dropout_followed_by_sessions_names_patient_and_session() -> None:
    with pytest.raises(DataValidationError,
                       match=r"column 'status': patient 'c' is marked 'dropout' at week=1 but "
                             r"attended later sessions \[2\]"):
        build(frame(status=["completed"] * 3 + ["dropout"] * 2 + [None, "dropout", None]),
              end_status="status")


def _sessions(values: list) -> pd.DataFrame:
    return pd.DataFrame({"id": pd.Series(["p1", "p1", "p2"]),
                         "week": pd.Series(values, dtype=object), "y": [1.0, 2.0, 3.0]})


@pytest.mark.parametrize(("week", "shown"), [
    (1e20, "week=100000000000000000000"),
    (2**63, "week=9223372036854775808"),
    (2**64 + 5, "week=18446744073709551621"),
    (10**12, "week=1000000000000"),
    (10_001, "week=10001"),
])
def test_huge_sessions_are_refused_before_any_cast(week: object, shown: str) -> None:
    # Issue 12, finding 5: 1e20 or 2**63 wrapped to a negative integer and was accepted;
    # 10**12 was accepted. The bound is checked on the values before the cast to int64.
    with pytest.raises(DataValidationError, match=rf"column 'week': sessions must be at most "
                       rf"10000 .*offending rows: \(id='p1', {shown}\)"):
        TherapyData.from_frame(_sessions([0, week, 0]), patient="id", session="week",
                               score="y")


def test_sessions_beyond_float_range_and_the_bound_itself() -> None:
    with pytest.raises(DataValidationError, match="column 'week': values must be finite"):
        TherapyData.from_frame(_sessions([0, 10**400, 0]), patient="id", session="week",
                               score="y")
    data = TherapyData.from_frame(_sessions([0, 10_000, 0]), patient="id", session="week",
                                  score="y")
    assert data.frame["session"].max() == 10_000 and data.frame["session"].dtype == np.int64


@pytest.mark.parametrize(("column", "values", "kinds"), [
    ("client", [1, "1", 1, 2, 2, 3, 3, 3], "int and str"),
    ("client", [1.0, "a", "a", "b", "b", "c", "c", "c"], "int and str"),  # 1.0 prints as 1
    ("client", [True, 1, 1, "b", "b", "c", "c", "c"], "bool and int and str"),
    ("clin", ["T1", "T1", "T1", 1, 1, "T2", "T2", "T2"], "int and str"),
])
def test_an_id_column_mixing_types_is_refused(column: str, values: list, kinds: str) -> None:
    # Issue 12, finding 5: in Python, 1 and "1" were two patients that print alike, and
    # mixed-type therapist ids crashed later with a TypeError
    df = frame(**{column: pd.Series(values, dtype=object)})
    with pytest.raises(DataValidationError, match=rf"column '{column}': identifiers must all "
                       rf"have one type, but the column mixes {kinds}"):
        build(df)


def test_ids_of_one_type_are_kept_as_given() -> None:
    ints = build(frame(client=[7, 7, 7, 10, 10, 3, 3, 3]))
    assert ints.coords()["patient"] == [3, 7, 10]
    cat = build(frame(client=pd.Categorical(["a", "a", "a", "b", "b", "c", "c", "c"])))
    assert cat.n_patients == 3


def test_csv_ids_stay_as_written(tmp_path) -> None:  # noqa: ANN001
    # Issue 12, finding 5: CSV patient ids 10 and 10.0 (or 007 and 7) were merged into one
    # patient, because the id column was parsed as numbers
    path = tmp_path / "ids.csv"
    path.write_text("patient,therapist,session,score\n"
                    "007,01,0,10\n007,01,1,9\n7,1,0,12\n7,1,1,11\n"
                    "10,01,0,8\n10,01,1,8\n10.0,01,0,14\n10.0,01,1,13\n")
    data = TherapyData.from_csv(path, patient="patient", therapist="therapist",
                                session="session", score="score")
    assert data.coords()["patient"] == ["007", "10", "10.0", "7"]
    assert data.coords()["therapist"] == ["01", "1"]
    assert data.patient_table().set_index("patient")["intake_score"].to_dict() == {
        "007": 10.0, "10": 8.0, "10.0": 14.0, "7": 12.0}

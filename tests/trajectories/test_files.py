"""Data files are recognised by content; what cannot be data is named, with the formats."""

from __future__ import annotations

import codecs
import gzip
import re
from pathlib import Path

import pandas as pd
import pytest

from trajectories.data import TherapyData
from trajectories.datasets import load_beat_the_blues
from trajectories.files import DataFileError, read_long_file, sniff_format

KW = {"patient": "patient", "session": "month", "score": "bdi"}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return load_beat_the_blues().frame.drop(columns=["source_row"]).rename(
        columns={"session": "month", "score": "bdi"})


def _same(a: TherapyData, b: TherapyData) -> None:
    pd.testing.assert_frame_equal(a.frame, b.frame)


@pytest.mark.parametrize("how", ["parquet named .csv", "gzip", "utf-16", "utf-8 with BOM",
                                 "semicolons", "tabs"])
def test_read_by_content_whatever_the_suffix(tmp_path: Path, frame, how: str) -> None:  # noqa: ANN001
    # issue 17: a Parquet file without the .parquet suffix was read as CSV ("Error
    # tokenizing data"); UTF-16 text gave "'utf-8' codec can't decode byte 0xff"
    reference = TherapyData.from_frame(frame.assign(patient=frame["patient"].astype(str)), **KW)
    path = tmp_path / "data.csv"
    text = frame.to_csv(index=False)
    if how == "parquet named .csv":
        frame.assign(patient=frame["patient"].astype(str)).to_parquet(path)
    elif how == "gzip":
        path.write_bytes(gzip.compress(text.encode()))
    elif how == "utf-16":
        path.write_bytes(text.encode("utf-16"))  # with its byte-order mark
    elif how == "utf-8 with BOM":
        path.write_bytes(codecs.BOM_UTF8 + text.encode())
    elif how == "semicolons":
        path.write_text(frame.to_csv(index=False, sep=";"))
    else:
        path.write_text(frame.to_csv(index=False, sep="\t"))
    _same(TherapyData.from_file(path, **KW), reference)
    _same(TherapyData.from_csv(path, **KW), reference)  # the content decides, not the method


def test_sniff_format_reports_what_it_found(tmp_path: Path, frame) -> None:  # noqa: ANN001
    frame.to_parquet(tmp_path / "a.bin")
    assert sniff_format(tmp_path / "a.bin") == ("parquet", None, None)
    (tmp_path / "b.txt").write_bytes(gzip.compress(b"\xff\xfe" + "a,b\n".encode("utf-16-le")))
    assert sniff_format(tmp_path / "b.txt") == ("csv", "utf-16", "gzip")


@pytest.mark.parametrize(("content", "message"), [
    (b"", "the file is empty"),
    (b"\n\n", "no columns"),
    (b"PK\x03\x04rest", "ZIP archive (an Excel .xlsx"),
    (b"\xd0\xcf\x11\xe0rest", "Excel 97-2003"),
    (b"\x89HDF\r\n\x1a\nrest", "netCDF/HDF5 file (a saved fit?"),
    (b"%PDF-1.7", "PDF document"),
    (b"a,b\n\x00\x01\x02", "binary content"),
    ("patient,score\nJosé,1\n".encode("cp1252"), "not UTF-8 text (byte 0xe9"),
    (b'a,b\n1,2\n"3,4\n5,6,7,8\n', "not a well-formed CSV file"),
])
def test_unreadable_files_are_named_with_the_formats_accepted(tmp_path: Path, content: bytes,
                                                              message: str) -> None:
    path = tmp_path / "input.csv"
    path.write_bytes(content)
    with pytest.raises(DataFileError, match=re.escape(message)) as info:
        read_long_file(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and text.endswith(
        "expected a long-format CSV file (UTF-8 or UTF-16 text, optionally gzip-compressed) "
        "or a Parquet file")
    assert "\n" not in text


def test_folder_missing_and_truncated_parquet(tmp_path: Path, frame) -> None:  # noqa: ANN001
    with pytest.raises(DataFileError, match="is a folder, not a data file"):
        read_long_file(tmp_path)
    with pytest.raises(FileNotFoundError, match="no-such.csv: no such file"):
        read_long_file(tmp_path / "no-such.csv")
    frame.to_parquet(tmp_path / "full.parquet")
    (tmp_path / "cut.parquet").write_bytes((tmp_path / "full.parquet").read_bytes()[:300])
    with pytest.raises(DataFileError, match="not a readable Parquet file .truncated or damaged"):
        read_long_file(tmp_path / "cut.parquet")

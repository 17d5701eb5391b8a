"""Reading long-format data files: recognised by their content, errors that name the file.

A file is read by what it holds, not by what its name says: a Parquet file named
``sessions.csv`` is read as Parquet, a gzip-compressed CSV is decompressed, UTF-16 text
(as some spreadsheet programs export) is decoded, and the delimiter of a CSV file (comma,
semicolon, tab or bar) is taken from its header line. A file that cannot be data (empty,
binary, an Excel workbook, a netCDF fit, a folder, text that is not UTF-8, a truncated
Parquet file) raises :class:`DataFileError`, one line that names the file, says what it
looks like and lists the formats accepted, before anything else is done with it.
"""

from __future__ import annotations

import codecs
import gzip
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import pandas as pd

__all__ = ["ACCEPTED_FORMATS", "DataFileError", "read_long_file", "sniff_format"]

#: What a data file may be, in the words of the error messages.
ACCEPTED_FORMATS = ("a long-format CSV file (UTF-8 or UTF-16 text, optionally gzip-compressed) "
                    "or a Parquet file")
_HEAD = 65536  # bytes looked at to recognise a file
_DELIMITERS = (",", ";", "\t", "|")
#: Leading bytes of formats that are not data files, and what to tell the user.
_FOREIGN = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx or OpenDocument spreadsheet?): save the "
                    "sheet as CSV (UTF-8) or Parquet"),
    (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 (.xls) workbook: save the sheet as CSV (UTF-8) "
                          "or Parquet"),
    (b"\x89HDF", "a netCDF/HDF5 file (a saved fit? read it with `setback report` or "
                 "GrowthFit.load)"),
    (b"CDF\x01", "a netCDF file"),
    (b"CDF\x02", "a netCDF file"),
    (b"%PDF", "a PDF document"),
    (b"SQLite format 3", "an SQLite database"),
)


class DataFileError(ValueError):
    """A data file that cannot be read; the message names it and the formats accepted.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     empty = Path(folder) / "empty.csv"
    ...     _ = empty.write_bytes(b"")
    ...     try:
    ...         read_long_file(empty)
    ...     except DataFileError as err:
    ...         print(isinstance(err, ValueError), "empty" in str(err))
    True True
    """


Format = Literal["csv", "parquet"]


def _fail(path: object, what: str) -> DataFileError:
    return DataFileError(f"{path}: {what}; expected {ACCEPTED_FORMATS}")


def sniff_format(path: str | os.PathLike) -> tuple[Format, str | None, str | None]:
    r"""Tell what a data file holds, ``(format, encoding, compression)``, judged by its bytes.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    DataFileError
        If it is a folder, empty, or not a CSV or Parquet file (the message says what it
        looks like).

    Examples
    --------
    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> folder = Path(tmp.name)
    >>> _ = (folder / "a.parquet").write_text("patient,session,score\n1,0,3\n")
    >>> sniff_format(folder / "a.parquet")  # the suffix is wrong: the content decides
    ('csv', 'utf-8', None)
    >>> _ = (folder / "empty.csv").write_bytes(b"")
    >>> sniff_format(folder / "empty.csv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    trajectories.files.DataFileError: .../empty.csv: the file is empty; expected ...
    >>> tmp.cleanup()
    """
    path = Path(path)
    if path.is_dir():
        raise _fail(path, "is a folder, not a data file")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    with path.open("rb") as fh:
        head = fh.read(_HEAD)
    if not head:
        raise _fail(path, "the file is empty")
    if head.startswith(b"PAR1"):
        return "parquet", None, None
    for magic, what in _FOREIGN:
        if head.startswith(magic):
            raise _fail(path, f"this is {what}")
    compression = None
    if head.startswith(b"\x1f\x8b"):
        compression = "gzip"
        try:
            with gzip.open(path, "rb") as fh:
                head = fh.read(_HEAD)
        except (OSError, EOFError) as exc:
            raise _fail(path, f"a damaged gzip file ({exc})") from None
        if not head:
            raise _fail(path, "the compressed file is empty")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "csv", "utf-16", compression
    encoding = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    if b"\x00" in head:
        raise _fail(path, "binary content (NUL bytes), not text (UTF-16 text needs its "
                          "byte-order mark)")
    try:  # an incremental decoder: a character cut at the end of the head is not an error
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None
    return "csv", encoding, compression


def _not_utf8(path: object, exc: UnicodeDecodeError) -> DataFileError:
    byte = exc.object[exc.start:exc.start + 1].hex()
    return _fail(path, f"not UTF-8 text (byte 0x{byte} at position {exc.start}; perhaps "
                       "Latin-1 or Windows-1252): save it as UTF-8 CSV")


def _delimiter(path: Path, encoding: str, compression: str | None) -> str:
    """Find the delimiter of a CSV file: the most frequent of , ; tab | in its header line."""
    opener = gzip.open if compression == "gzip" else open
    with opener(path, "rt", encoding=encoding, newline="") as fh:
        header = fh.readline()
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


def read_long_file(path: str | os.PathLike | io.IOBase, *,
                   id_columns: Sequence[str] = ("patient", "therapist"),
                   kind: Format | None = None) -> pd.DataFrame:
    r"""Read a long-format CSV or Parquet file, with identifier columns as written.

    The format is recognised by the file's content (:func:`sniff_format`), whatever its
    suffix. In a CSV file the ``id_columns`` (those present) are read as text, never parsed
    as numbers: ``007`` and ``7``, or ``10`` and ``10.0``, are different patients, as the
    user wrote them. Parquet files keep the types they were written with.

    Parameters
    ----------
    path : str, os.PathLike or file-like
        The file. A file-like object (e.g. ``io.StringIO``) is read as ``kind``.
    id_columns : sequence of str
        Columns holding identifiers.
    kind : {"csv", "parquet"} or None
        Format of a file-like ``path`` (default CSV); ignored for paths, whose content
        decides.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    DataFileError
        If the file cannot be read as data; the message names it, says what it holds and
        lists the formats accepted.

    Examples
    --------
    >>> read_long_file(io.StringIO("patient,session\n007,0\n7,0\n10.0,1\n"),
    ...                kind="csv")["patient"].tolist()
    ['007', '7', '10.0']
    """
    ids = dict.fromkeys(id_columns, str)
    if not isinstance(path, str | os.PathLike):
        return pd.read_parquet(path) if kind == "parquet" else pd.read_csv(path, dtype=ids)
    path = Path(path)
    fmt, encoding, compression = sniff_format(path)
    if fmt == "parquet":
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise _fail(path, f"not a readable Parquet file (truncated or damaged?): "
                              f"{_first_line(exc)}") from None
    assert encoding is not None
    try:
        sep = _delimiter(path, encoding, compression)
        return pd.read_csv(path, dtype=ids, sep=sep, encoding=encoding,
                           compression=compression)
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None
    except pd.errors.EmptyDataError:
        raise _fail(path, "no columns (the file holds only blank lines)") from None
    except pd.errors.ParserError as exc:
        raise _fail(path, f"not a well-formed CSV file ({_first_line(exc)})") from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

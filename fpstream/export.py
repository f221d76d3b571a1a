"""Write the whole ``tracks`` table as JSON Lines, one JSON array, or CSV.

Both formats carry every column **as stored**, in table order (``path``,
``status``, ``error``, ``size``, ``mtime_ns``, ``duration_s``, ``sample_rate``,
``channels``, ``analyzed_at``, ``fingerprint_version``, then the 25 values,
``warning`` and ``chromaprint``), one track per line, sorted by path. The
``chromaprint`` BLOB is written as base64 text of its raw little-endian uint32
sub-fingerprints (docs/duplicates.md). Rows are streamed: exporting a million
tracks needs no more memory than one.

- **jsonl**: one JSON object per line; numbers at full precision (Python's
  shortest round-tripping ``repr``), SQL NULL as ``null``.
- **csv**: RFC 4180 (``csv`` module, ``\\r\\n`` line ends, quoting where
  needed), a header line with the column names, NULL as an empty field,
  floats at full precision.

Examples
--------
>>> import sys
>>> conn = connect("fingerprints.db")               # doctest: +SKIP
>>> export(conn, "csv", sys.stdout)                 # doctest: +SKIP
path,status,error,size,...
"""

from __future__ import annotations

import csv
import json
import sqlite3
from typing import TextIO

from store.library import LibraryError, iter_rows, row_tuples, text_value

FORMATS = ("jsonl", "json", "csv")


def export(conn: sqlite3.Connection, fmt: str, out: TextIO) -> int:
    """Write every row of the library to ``out`` in ``fmt``; returns the row count."""
    if fmt == "jsonl":
        return write_jsonl(conn, out)
    if fmt == "csv":
        return write_csv(conn, out)
    if fmt == "json":
        return write_json(conn, out)
    raise ValueError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")


def _json_line(row: dict) -> str:
    try:
        return json.dumps(row, allow_nan=False, ensure_ascii=False)
    except ValueError:
        raise LibraryError(
            f"{row['path']} has a non-finite value, which JSON cannot carry; "
            "export --format csv keeps it, and re-analysing the file should fix it"
        ) from None


def write_jsonl(conn: sqlite3.Connection, out: TextIO) -> int:
    """One JSON object per row. Non-finite numbers are refused (JSON has none)."""
    n = 0
    for row in iter_rows(conn):
        out.write(_json_line(row))
        out.write("\n")
        n += 1
    return n


def write_json(conn: sqlite3.Connection, out: TextIO) -> int:
    """One JSON array of the row objects, streamed (``fpstream.output``'s json convention)."""
    n = 0
    out.write("[")
    for row in iter_rows(conn):
        out.write(("\n" if n == 0 else ",\n") + _json_line(row))
        n += 1
    out.write("\n]\n" if n else "]\n")
    return n


def write_csv(conn: sqlite3.Connection, out: TextIO, batch: int = 1000) -> int:
    """A header line with every column name, then one line per row.

    The ``csv`` module writes None as an empty field and a float as ``repr``
    (full precision), so rows go out as SQLite returns them.
    """
    rows = row_tuples(conn)
    writer = csv.writer(out)
    names = [d[0] for d in rows.description]
    writer.writerow(names)
    blob = names.index("chromaprint") if "chromaprint" in names else None
    n = 0
    while block := rows.fetchmany(batch):
        if blob is not None:  # the one BLOB column, as base64 text
            block = [(*row[:blob], text_value(row[blob]), *row[blob + 1 :]) for row in block]
        writer.writerows(block)
        n += len(block)
    return n

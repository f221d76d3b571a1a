"""One output convention for the query commands: ``--format table|json|jsonl|csv`` (as sqlite-utils).

A command produces *records* (dicts with the same keys, in column order):

- ``table``: aligned columns for people (floats with 4 decimals), or the command's own layout;
- ``json``: one JSON array of objects (streamed, so it can be large);
- ``jsonl``: one JSON object per line;
- ``csv``: RFC 4180 with a header line; None as an empty field.

Floats keep full precision in json, jsonl and csv. JSON has no NaN or infinity:
such a value is refused with a clear error rather than written as invalid JSON.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO

FORMATS: tuple[str, ...] = ("table", "json", "jsonl", "csv")


class OutputError(ValueError):
    """A record that cannot be written in the chosen format."""


def _json(record: dict[str, Any]) -> str:
    try:
        return json.dumps(record, allow_nan=False, ensure_ascii=False)
    except ValueError:
        raise OutputError(
            "a value is not finite (NaN or infinity), which JSON cannot carry: use --format csv"
        ) from None


def table_text(records: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Aligned columns: numbers right-aligned, floats with 4 decimals, the last column unpadded."""

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.4f}"
        return str(value)

    cells = [[cell(r[c]) for c in columns] for r in records]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r[c], int | float) or r[c] is None for r in records) for c in columns]

    def line(items: Sequence[str]) -> str:
        parts = []
        for i, item in enumerate(items):
            last = i == len(items) - 1
            parts.append(item.rjust(widths[i]) if numeric[i] else item if last else item.ljust(widths[i]))
        return "  ".join(parts).rstrip()

    return "\n".join([line(columns), *(line(row) for row in cells)]) + "\n"


def write_records(
    records: Iterable[dict[str, Any]],
    columns: Sequence[str],
    fmt: str,
    out: TextIO,
    table: Callable[[list[dict[str, Any]]], str] | None = None,
) -> int:
    """Write ``records`` (only the keys in ``columns``, in that order) to ``out``; returns the count.

    ``table``: the command's own layout for ``table`` (default :func:`table_text`).
    """
    if fmt == "table":
        listed = list(records)
        out.write(table(listed) if table else table_text(listed, columns) if listed else "")
        return len(listed)
    n = 0
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(columns)
        for n, record in enumerate(records, start=1):  # noqa: B007 (n is the count)
            writer.writerow([record[c] for c in columns])
        return n
    if fmt == "jsonl":
        for n, record in enumerate(records, start=1):  # noqa: B007
            out.write(_json({c: record[c] for c in columns}) + "\n")
        return n
    if fmt == "json":
        out.write("[")
        for n, record in enumerate(records, start=1):  # noqa: B007
            out.write(("\n" if n == 1 else ",\n") + _json({c: record[c] for c in columns}))
        out.write("\n]\n" if n else "]\n")
        return n
    raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")

"""A track's 25 values: from the library when its row is current, else computed here and stored.

"Current" is the rule ingest uses to skip a file (``ingest.skip``): a ``done`` row
for the same stored path with the same size, mtime (ns) and fingerprint version.
Otherwise the file is analysed in this process with the stack's own code
(:func:`fpstream.analyze_file.analyze_file`) and the row is written with the
sink's upsert, so the next run (and every query command) finds it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from audio.decode import DecodeError, file_identity
from audio.paths import stored_path
from fpstream.analyze_file import analyze_row
from store.db import Row, store_row
from store.library import current_values
from store.readonly import has_tracks, open_readonly


class FingerprintError(Exception):
    """The file could not be fingerprinted; the message says why."""


@dataclass(frozen=True)
class Fingerprint:
    values: dict[str, float]
    source: str  # 'library' or 'analyzed'
    stored: str | None = None  # why it was not stored, if it was not


def _from_library(db_path: Path, key: str, size: int, mtime_ns: int) -> dict[str, float] | None:
    if not db_path.is_file():
        return None
    try:
        conn = open_readonly(db_path, timeout=10)
        try:
            if not has_tracks(conn):
                return None
            return current_values(conn, key, size, mtime_ns)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise FingerprintError(f"cannot read the library {db_path}: {exc}") from None


def _store(db_path: Path, row: Row) -> str | None:
    """Upsert ``row``; returns why it could not be stored, or None."""
    try:
        store_row(db_path, row)
    except (sqlite3.Error, OSError) as exc:
        return f"fingerprint not stored in {db_path}: {exc}"
    return None


def fingerprint_of(path: str, db_path: Path) -> Fingerprint:
    """The fingerprint of ``path``: the library's row if current, else analysed now and stored."""
    try:
        size, mtime_ns = file_identity(path)
    except DecodeError as exc:
        raise FingerprintError(str(exc)) from None
    values = _from_library(db_path, stored_path(path), size, mtime_ns)
    if values is not None:
        return Fingerprint(values, "library")
    row = analyze_row(path)
    if row.status != "done" or row.values is None:
        raise FingerprintError(row.error or "no fingerprint")
    return Fingerprint(dict(row.values), "analyzed", _store(db_path, row))

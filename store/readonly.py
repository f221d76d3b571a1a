"""Reading the library file without writing it: shared by ingest (skip finished
files) and the user layer (queries). Only the sink writes the database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from base.fields import FINGERPRINT_VERSION

#: The table the sink keeps one row per path in.
TABLE = "tracks"


def open_readonly(path: Path, timeout: float = 5.0) -> sqlite3.Connection:
    """Open the SQLite file at ``path`` read-only (``mode=ro``: never creates it).

    Opening does not read the file: a file that is not a database raises
    :class:`sqlite3.DatabaseError` on the first query (e.g. :func:`has_tracks`).
    ``timeout``: seconds to wait for a lock, as in :func:`sqlite3.connect`.
    """
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout)


def has_tracks(conn: sqlite3.Connection) -> bool:
    """Whether the database has the ``tracks`` table (the sink creates it on start)."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,))
    return found.fetchone() is not None


def is_current(
    stored_size: int | None, stored_mtime_ns: int | None, stored_version: int | None, size: int, mtime_ns: int
) -> bool:
    """Whether a stored fingerprint still describes the file: the same size and mtime
    (nanoseconds) and the current fingerprint version. The one rule ingest (skip on
    re-run) and ``fpstream master`` (reuse the library's fingerprint) both apply."""
    return (stored_size, stored_mtime_ns, stored_version) == (size, mtime_ns, FINGERPRINT_VERSION)

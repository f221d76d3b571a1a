"""Reading the library file without writing it: shared by ingest (skip finished
files) and the user layer (queries). Only the sink writes the database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from base.fields import FINGERPRINT_VERSION, META_COLUMNS

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


def stored_meta(conn: sqlite3.Connection, path: str) -> dict[str, object] | None:
    """The content identity and cue columns of the row at ``path`` (None: no such row)."""
    found = conn.execute(f"SELECT {', '.join(META_COLUMNS)} FROM {TABLE} WHERE path = ?", (path,)).fetchone()
    return None if found is None else dict(zip(META_COLUMNS, found, strict=True))


def current_rows_with_content(conn: sqlite3.Connection, content_id: str) -> list[str]:
    """Paths of the ``done`` rows of the current fingerprint version whose content identity is
    ``content_id`` (index ``tracks_content``), sorted. A row without its Chromaprint (written
    before fpstream computed it) is not one: keeping it would never fill that in."""
    rows = conn.execute(
        f"SELECT path FROM {TABLE} WHERE content_id = ? AND status = 'done' AND fingerprint_version = ? "
        "AND chromaprint IS NOT NULL ORDER BY path",
        (content_id, FINGERPRINT_VERSION),
    )
    return [p for (p,) in rows]


def rows_under(conn: sqlite3.Connection, folder: str) -> list[tuple[str, str | None]]:
    """``(path, missing_since)`` of every ``done`` row whose path lies under ``folder`` (a
    directory): the rows queries use (a failed row has no fingerprint to suggest)."""
    prefix = folder.rstrip("/") + "/"
    rows = conn.execute(
        f"SELECT path, missing_since FROM {TABLE} WHERE status = 'done' AND substr(path, 1, ?) = ?",
        (len(prefix), prefix),
    )
    return [(p, m) for p, m in rows]


def cue_row_keys(conn: sqlite3.Connection, image: str) -> list[str]:
    """The keys of the stored tracks of ``image``'s CUE sheet (``<image>#<NN>``), sorted: a range
    of the primary key ('$' follows '#'), so one index seek."""
    rows = conn.execute(
        f"SELECT path FROM {TABLE} WHERE path > ? AND path < ? AND cue_track IS NOT NULL ORDER BY path",
        (image + "#", image + "$"),
    )
    return [p for (p,) in rows]


class SkipLookup:
    """What ingest's skip-on-rerun needs of one stored path, in one query a path.

    ``row(path)`` is ``(status, size, mtime_ns, fingerprint_version, error, tags_read,
    has_chromaprint)`` or None. A database the sink has not migrated yet lacks the newer columns:
    no row has its tags read (schema v7) or a Chromaprint (v6) then. Raises ``sqlite3.Error``.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        columns = {c[1] for c in conn.execute(f"PRAGMA table_info({TABLE})")}
        tags_read = "tags_read" if "tags_read" in columns else "0"
        has_print = "chromaprint IS NOT NULL" if "chromaprint" in columns else "0"
        self.query = (
            f"SELECT status, size, mtime_ns, fingerprint_version, error, {tags_read}, {has_print} "
            f"FROM {TABLE} WHERE path = ?"
        )

    def row(self, path: str) -> tuple | None:
        return self.conn.execute(self.query, (path,)).fetchone()


def failed_error(conn: sqlite3.Connection, path: str) -> str | None:
    """The stored error of ``path`` when its row is ``failed`` (None otherwise)."""
    query = f"SELECT error FROM {TABLE} WHERE path = ? AND status = 'failed'"
    found = conn.execute(query, (path,)).fetchone()
    return found[0] if found is not None and found[0] else None

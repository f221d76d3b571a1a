"""Skip-on-rerun: which paths the database already holds, done and unchanged.

Ingest reads the sink's database read-only (SQLite allows readers beside the
writer in WAL mode). A path is skipped when its row is ``done``, with the same
size and mtime (nanoseconds), by the current fingerprint version. Failed rows
are always retried: the file may have been fixed or the failure transient.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from base.fields import FINGERPRINT_VERSION
from base.readonly_db import has_tracks, open_readonly


class PreviousRun:
    def __init__(self, db_path: Path | None) -> None:
        """``db_path`` None (``--force``): skip nothing."""
        self.conn: sqlite3.Connection | None = None
        if db_path is None or not db_path.exists():
            return  # first run: nothing to skip
        try:
            conn = open_readonly(db_path, timeout=10)
            if not has_tracks(conn):
                conn.close()
                return  # the sink created the file but no schema yet
        except sqlite3.Error as exc:
            raise SystemExit(
                f"cannot read {db_path} to skip finished files: {exc} (use --force to ignore it)"
            ) from None
        self.conn = conn

    def unchanged(self, row_path: str, size: int, mtime_ns: int) -> bool:
        """True when ``row_path`` is already fingerprinted and the file has not changed since."""
        if self.conn is None:
            return False
        row = self.conn.execute(
            "SELECT size, mtime_ns, fingerprint_version FROM tracks WHERE path = ? AND status = 'done'",
            (row_path,),
        ).fetchone()
        return row is not None and tuple(row) == (size, mtime_ns, FINGERPRINT_VERSION)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

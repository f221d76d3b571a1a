"""Skip-on-rerun: which paths the database already holds, and whether to analyse them again.

Ingest reads the sink's database read-only (SQLite allows readers beside the
writer in WAL mode). For each path, :meth:`PreviousRun.decide` says:

- ``SKIP_DONE``: the row is ``done`` by the current fingerprint version, has its
  Chromaprint, and the file has the same size and mtime (nanoseconds): nothing
  would change. A row written before fpstream computed Chromaprints (NULL in
  that column, or a database without it) is analysed again, which fills it in.
- ``SKIP_FAILED``: the row is ``failed`` and the file is unchanged (same size
  and mtime, or still unreadable with the same error): analysing it again
  would fail again, so it is not retried unless ``retry_failed``
  (``--retry-failed``). A changed file is always retried.
- ``TAGS_ONLY``: as ``SKIP_DONE``, but the row has never had the file's tags read (a row
  from before schema v7, or from a database the sink has not migrated yet): ingest sends the
  tags alone (``protocol.TagsUpdate``), the audio is not analysed again.
- ``ANALYSE``: anything else (a new path, a changed file, a row written by an
  older fingerprint version).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from base.fields import FINGERPRINT_VERSION
from store.readonly import SkipLookup, cue_row_keys, failed_error, has_tracks, is_current, open_readonly

ANALYSE, SKIP_DONE, SKIP_FAILED, TAGS_ONLY = "analyse", "skip-done", "skip-failed", "tags-only"


log = logging.getLogger("ingest")


class PreviousRun:
    def __init__(self, db_path: Path | None, force: bool = False, retry_failed: bool = False) -> None:
        """``force`` (``--force``): skip nothing (the database is then only read for the summary)."""
        self.db_path = db_path
        self.retry_failed = retry_failed
        self.conn: sqlite3.Connection | None = None
        if force or db_path is None or not db_path.exists():
            return  # first run, or --force: nothing to skip
        try:
            conn = open_readonly(db_path, timeout=10)
            if not has_tracks(conn):
                conn.close()
                return  # the sink created the file but no schema yet
        except sqlite3.Error as exc:
            raise SystemExit(
                f"cannot read {db_path} to skip finished files: {exc} (use --force to ignore it)"
            ) from None
        try:
            self.lookup = SkipLookup(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise SystemExit(
                f"cannot read {db_path} to skip finished files: {exc} (use --force to ignore it)"
            ) from None
        self.conn = conn

    def decide(self, row_path: str, size: int | None, mtime_ns: int | None, error: str | None = None) -> str:
        """What to do with ``row_path``: ANALYSE, SKIP_DONE, SKIP_FAILED or TAGS_ONLY.

        ``size``/``mtime_ns`` are None when the file cannot be stat'ed now; ``error`` then says why.
        """
        if self.conn is None:
            return ANALYSE
        try:
            row = self.lookup.row(row_path)
        except sqlite3.Error as exc:
            # A database locked for longer than the timeout, or damaged after start: analysing a file
            # again costs seconds, stopping ingest mid-run would cost the run. Said once, then no skips.
            log.warning(
                "cannot read %s to skip finished files (%s): analysing every file from here",
                self.db_path,
                exc,
            )
            self.close()
            return ANALYSE
        if row is None:
            return ANALYSE
        status, old_size, old_mtime, version, old_error, tags_read, has_print = row
        if status == "done":
            if not is_current(old_size, old_mtime, version, size, mtime_ns) or not has_print:
                return ANALYSE  # changed, or from before Chromaprints: analysing fills it in
            return SKIP_DONE if tags_read else TAGS_ONLY
        if self.retry_failed or (version is not None and version != FINGERPRINT_VERSION):
            return ANALYSE
        if size is None:  # unreadable now: the same failure as before, or a new one
            return SKIP_FAILED if old_error == error else ANALYSE
        return SKIP_FAILED if (old_size, old_mtime) == (size, mtime_ns) else ANALYSE

    def cue_rows(self, image: str) -> list[str]:
        """The stored keys of the CUE sheet tracks of ``image`` (none without a database)."""
        if self.conn is None:
            return []
        try:
            return cue_row_keys(self.conn, image)
        except sqlite3.Error:
            return []  # decide() reports a database that cannot be read

    def unchanged(self, row_path: str, size: int, mtime_ns: int) -> bool:
        """True when ``row_path`` is already fingerprinted and the file has not changed since."""
        return self.decide(row_path, size, mtime_ns) in (SKIP_DONE, TAGS_ONLY)

    def errors(self, row_paths: list[str]) -> dict[str, str]:
        """The stored error of each failed path among ``row_paths`` (for the final summary)."""
        if self.db_path is None or not row_paths:
            return {}
        try:
            conn = self.conn or open_readonly(self.db_path, timeout=10)
        except sqlite3.Error:
            return {}
        try:
            found = {p: failed_error(conn, p) for p in row_paths}
            return {p: error for p, error in found.items() if error}
        except sqlite3.Error:
            return {}
        finally:
            if conn is not self.conn:
                conn.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

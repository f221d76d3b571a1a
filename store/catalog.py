"""What ``fpstream serve`` keeps in memory besides the vectors: every row's details and tags.

The service answers from memory and reloads only when the file changed:
:func:`data_version` is SQLite's ``PRAGMA data_version``, which changes on a
connection whenever *another* connection committed (the sink), and costs no I/O
beyond the file's lock page.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from base.fields import TAG_COLUMNS as LIBRARY_TAG_COLUMNS
from base.fields import TRACK_COLUMNS
from store.readonly import TABLE

#: Columns every row has (schema v1 on): the track columns of base.fields, less when it was analysed.
DETAIL_COLUMNS: tuple[str, ...] = tuple(c for c in TRACK_COLUMNS if c != "analyzed_at")
#: Tag columns: read when the table has them (store.library.TAG_COLUMNS), None otherwise.
TAG_COLUMNS = LIBRARY_TAG_COLUMNS


def data_version(conn: sqlite3.Connection) -> int:
    """SQLite's ``PRAGMA data_version`` on ``conn``: changes when another connection commits."""
    (version,) = conn.execute("PRAGMA data_version").fetchone()
    return int(version)


def table_columns(conn: sqlite3.Connection) -> set[str]:
    """The names of the ``tracks`` table's columns."""
    return {r[1] for r in conn.execute(f"PRAGMA table_info({TABLE})")}


def load_details(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every row's details (:data:`DETAIL_COLUMNS`) and tags (:data:`TAG_COLUMNS`, None when the
    table has no such column), in no particular order. About 0.3 s per 100 000 rows."""
    have = table_columns(conn)
    wanted = [c for c in (*DETAIL_COLUMNS, *TAG_COLUMNS) if c in have or c in DETAIL_COLUMNS]
    cursor = conn.cursor()
    cursor.row_factory = None
    rows = cursor.execute(f"SELECT {', '.join(wanted)} FROM {TABLE}").fetchall()
    missing = dict.fromkeys(c for c in TAG_COLUMNS if c not in wanted)
    return [{**dict(zip(wanted, r, strict=True)), **missing} for r in rows]


def watch_connection(path: Path) -> sqlite3.Connection:
    """A read-only connection to ask :func:`data_version` on from any thread (the caller serialises
    its use with a lock); it has read the schema once, so the next commit changes its version."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    try:
        conn.execute(f"SELECT 1 FROM {TABLE} LIMIT 1").fetchall()
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return conn

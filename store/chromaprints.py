"""Reads for ``fpstream duplicates``: the stored Chromaprints, and the details of the tracks that
matched.

The library is read in two passes so that memory and time follow what is needed:
:func:`load_windows` reads only the first bytes of every print (the index
window, ``substr`` on the BLOB), and :func:`load_prints` the whole prints of the
tracks the index paired. Tracks are named by ``rowid`` between the passes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from store.readonly import TABLE

#: Columns of a group member shown when the table has them (the tag columns come with schema 3).
DETAIL_COLUMNS: tuple[str, ...] = ("path", "size", "duration_s", "sample_rate", "channels")
TAG_COLUMNS: tuple[str, ...] = ("title", "artist", "album_artist", "album", "derived_from")
_BATCH = 500  # rowids per IN (...) query: below SQLite's variable limit


def table_columns(conn: sqlite3.Connection) -> set[str]:
    return {str(c[1]) for c in _plain(conn).execute(f"PRAGMA table_info({TABLE})")}


def _plain(conn: sqlite3.Connection) -> sqlite3.Cursor:
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: several times faster than sqlite3.Row
    return cursor


@dataclass(frozen=True)
class Windows:
    """The first ``items`` sub-fingerprints of every ``done`` track that has a Chromaprint."""

    rowids: np.ndarray  # int64
    durations: np.ndarray  # float64, seconds
    blobs: list[bytes]  # little-endian uint32 items, at most ``items`` each
    without_print: int  # done rows with no Chromaprint yet (written before fpstream computed it)


def load_windows(conn: sqlite3.Connection, items: int) -> Windows:
    """Every done track's rowid, duration and first ``items`` Chromaprint items (one pass)."""
    if "chromaprint" not in table_columns(conn):  # the sink has not migrated this database yet
        (n,) = _plain(conn).execute(f"SELECT COUNT(*) FROM {TABLE} WHERE status = 'done'").fetchone()
        return Windows(np.empty(0, np.int64), np.empty(0), [], int(n))
    cursor = _plain(conn)
    # (the sink stores whole uint32 items only; the length test keeps anything else out)
    cursor.execute(
        f"SELECT rowid, duration_s, substr(chromaprint, 1, ?) FROM {TABLE} "
        "WHERE status = 'done' AND chromaprint IS NOT NULL AND length(chromaprint) % 4 = 0",
        (4 * items,),
    )
    rowids: list[int] = []
    durations: list[float] = []
    blobs: list[bytes] = []
    while rows := cursor.fetchmany(20_000):
        ids, lengths, prints = zip(*rows, strict=True)
        rowids.extend(ids)
        durations.extend(lengths)
        blobs.extend(prints)
    (missing,) = (
        _plain(conn)
        .execute(f"SELECT COUNT(*) FROM {TABLE} WHERE status = 'done' AND chromaprint IS NULL")
        .fetchone()
    )
    return Windows(
        np.array(rowids, dtype=np.int64), np.array(durations, dtype=np.float64), blobs, int(missing)
    )


def load_prints(conn: sqlite3.Connection, rowids: Sequence[int]) -> list[bytes]:
    """The whole stored Chromaprint of each of ``rowids``, in that order."""
    found: dict[int, bytes] = {}
    ids = [int(r) for r in rowids]
    for i in range(0, len(ids), _BATCH):
        batch = ids[i : i + _BATCH]
        query = f"SELECT rowid, chromaprint FROM {TABLE} WHERE rowid IN ({', '.join('?' * len(batch))})"
        for rowid, blob in _plain(conn).execute(query, batch):
            found[int(rowid)] = bytes(blob or b"")
    return [found.get(r, b"") for r in ids]


def load_details(conn: sqlite3.Connection, rowids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Path, size, duration, rate, channels and, where the table has them, the tag columns and
    ``derived_from`` of each of ``rowids`` (absent columns are None)."""
    present = table_columns(conn)
    optional = [c for c in TAG_COLUMNS if c in present]
    columns = [*DETAIL_COLUMNS, *optional]
    ids = [int(r) for r in rowids]
    out: dict[int, dict[str, Any]] = {}
    for i in range(0, len(ids), _BATCH):
        batch = ids[i : i + _BATCH]
        query = (
            f"SELECT rowid, {', '.join(columns)} FROM {TABLE} WHERE rowid IN ({', '.join('?' * len(batch))})"
        )
        for row in _plain(conn).execute(query, batch):
            record = dict.fromkeys(TAG_COLUMNS)
            record.update(zip(columns, row[1:], strict=True))
            out[int(row[0])] = record
    return out

"""Read access to the fingerprint database (the ``tracks`` table the sink writes).

Every query command (``show``, ``similar``, ``export``, ``status``) goes through
this module, so the rules are the same everywhere:

- The database is opened **read-only** (``mode=ro``): a query never creates an
  empty database by mistake, and it can run while the sink is writing (WAL).
- A missing file, or a file without a ``tracks`` table, is a
  :class:`LibraryError` whose message says what to do, never a traceback.
- Paths are looked up by the key ingest stored them under: the caller makes it
  with ``audio.paths.stored_path`` (``os.path.abspath``, symlinks *not* resolved).

Examples
--------
>>> lib = load_features("fingerprints.db")             # doctest: +SKIP
>>> lib.matrix.shape                                   # doctest: +SKIP
(54756, 25)
"""

from __future__ import annotations

import base64
import os
import shlex
import sqlite3
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from base.fields import FEATURES, FINGERPRINT_VERSION, TAG_COLUMNS
from store.readonly import TABLE, has_tracks, is_current, open_readonly

if TYPE_CHECKING:
    import numpy as np


class LibraryError(Exception):
    """A problem with the database a user can fix; the message says how."""


def connect(db_path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open the database read-only; :class:`LibraryError` if it is missing or not ours.

    Rows come back as :class:`sqlite3.Row` (index by column name).
    """
    path = Path(db_path)
    if not path.exists():
        raise LibraryError(
            f"no database at {path}: run `make run` first, or set FPSTREAM_DB to the database file"
        )
    if path.is_dir():
        raise LibraryError(f"{path} is a directory: set FPSTREAM_DB to the database file")
    try:
        conn = open_readonly(path)
    except sqlite3.DatabaseError as exc:
        raise LibraryError(f"cannot read {path} as an SQLite database: {exc}") from None
    try:
        found = has_tracks(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise LibraryError(f"cannot read {path} as an SQLite database: {exc}") from None
    if not found:
        conn.close()
        raise LibraryError(
            f"{path} has no `{TABLE}` table: it is not an fpstream database "
            "(check FPSTREAM_DB, or let `make run` create it)"
        )
    conn.row_factory = sqlite3.Row
    return conn


def text_value(value: Any) -> Any:
    """A stored value as text can carry it: a BLOB (the raw ``chromaprint``) as base64, the rest as is."""
    return base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value


def _as_text(row: sqlite3.Row) -> dict[str, Any]:
    return {key: text_value(row[key]) for key in row.keys()}


def get_row(conn: sqlite3.Connection, key: str) -> dict[str, Any]:
    """The row stored under ``key`` (``audio.paths.stored_path`` of what the user typed) as a dict,
    a BLOB as base64 text (:func:`text_value`).

    Raises :class:`LibraryError` if the path is not in the library.
    """
    row = conn.execute(f"SELECT * FROM {TABLE} WHERE path = ?", (key,)).fetchone()
    if row is None:
        raise LibraryError(
            f"{key} is not in the library: check the path, or add it with "
            f"`echo {shlex.quote(key)} | fpstream feed` while a stack runs"
        )
    return _as_text(row)


_ALL_ROWS = f"SELECT * FROM {TABLE} ORDER BY path"


def iter_rows(conn: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    """Every row, ordered by path, streamed (constant memory on a million rows); a BLOB as base64."""
    for row in conn.execute(_ALL_ROWS):
        yield _as_text(row)


def row_tuples(conn: sqlite3.Connection) -> sqlite3.Cursor:
    """Every row as a plain tuple, in table column order, ordered by path, streamed.

    The column names are in the cursor's ``description`` (``d[0]`` of each item).
    """
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: several times faster than sqlite3.Row
    return cursor.execute(_ALL_ROWS)


def stored_paths(conn: sqlite3.Connection, under: str | None = None) -> Iterator[str]:
    """Every stored path, sorted; only those below the folder ``under`` (a stored path) if given."""
    if under is None:
        rows = conn.execute(f"SELECT path FROM {TABLE} ORDER BY path")
    else:
        prefix = under.rstrip("/") + "/"
        rows = conn.execute(
            f"SELECT path FROM {TABLE} WHERE substr(path, 1, ?) = ? ORDER BY path", (len(prefix), prefix)
        )
    for (path,) in rows:
        yield path


SummaryRow = tuple[str, str, str | None, float | None, int | None, int | None]


def summary_rows(conn: sqlite3.Connection) -> Iterator[SummaryRow]:
    """``(path, status, error, duration_s, sample_rate, channels)`` of every row whose file is there
    (rows a run found missing are left out), streamed as plain tuples: the report's summary."""
    cursor = conn.cursor()
    cursor.row_factory = None
    present = "WHERE missing_since IS NULL" if has_column(conn, "missing_since") else ""
    yield from cursor.execute(
        f"SELECT path, status, error, duration_s, sample_rate, channels FROM {TABLE} {present}"
    )


def details(conn: sqlite3.Connection, columns: str) -> dict[str, tuple]:
    """``{path: (the other columns…)}`` of every row, for ``columns`` (a comma-separated list
    starting with ``path``)."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return {r[0]: r[1:] for r in cursor.execute(f"SELECT {columns} FROM {TABLE}")}


def other_versions(conn: sqlite3.Connection) -> int:
    """How many ``done`` rows carry another fingerprint version than this program's."""
    (n,) = conn.execute(
        f"SELECT COUNT(*) FROM {TABLE} WHERE status = 'done' AND fingerprint_version IS NOT ?",
        (FINGERPRINT_VERSION,),
    ).fetchone()
    return int(n)


def current_values(conn: sqlite3.Connection, key: str, size: int, mtime_ns: int) -> dict[str, float] | None:
    """The 25 stored values of ``key`` if its row is ``done`` and still describes the file (same
    size and mtime, this fingerprint version: :func:`store.readonly.is_current`), else None."""
    row = conn.execute(
        f"SELECT size, mtime_ns, fingerprint_version, {', '.join(FEATURES)} FROM {TABLE} "
        "WHERE path = ? AND status = 'done'",
        (key,),
    ).fetchone()
    if row is None or not is_current(*row[:3], size, mtime_ns) or None in row[3:]:
        return None
    return dict(zip(FEATURES, (float(v) for v in row[3:]), strict=True))


def not_current_version(path: str) -> str:
    """The message for a track whose stored fingerprint is not of this program's version."""
    return (
        f"{path} has no fingerprint of the current version ({FINGERPRINT_VERSION}) in the library: "
        f"re-analyse it with `echo {shlex.quote(path)} | fpstream feed --force`"
    )


def has_column(conn: sqlite3.Connection, name: str) -> bool:
    """Whether ``tracks`` has the column ``name`` (a database the sink has not migrated yet may not)."""
    return any(row[1] == name for row in conn.execute(f"PRAGMA table_info({TABLE})"))


def status_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows per ``status`` (``done``, ``failed``), zeros included."""
    counts = {"done": 0, "failed": 0}
    for status, n in conn.execute(f"SELECT status, COUNT(*) FROM {TABLE} GROUP BY status"):
        counts[str(status)] = int(n)
    return counts


@dataclass(frozen=True)
class Features:
    """The 25 values of every analysed track, ready for numpy.

    ``paths[i]`` is the track of ``matrix[i]``; rows are sorted by path
    (so :meth:`index_of` is a binary search).
    ``stale`` counts ``done`` rows left out because their
    ``fingerprint_version`` is not this program's (their numbers mean
    something else and must not be mixed in).
    """

    paths: list[str]
    matrix: np.ndarray  # (n, 25) float64, columns in FEATURES order
    stale: int

    def index_of(self, path: str) -> int:
        """Row index of ``path`` (already resolved); ``LibraryError`` if absent."""
        i = bisect_left(self.paths, path)
        if i < len(self.paths) and self.paths[i] == path:
            return i
        raise LibraryError(not_current_version(path))


def load_features(conn: sqlite3.Connection | str | os.PathLike[str], batch: int = 20_000) -> Features:
    """Load the ``done`` rows of the current fingerprint version into a matrix.

    ``conn``: an open connection (:func:`connect`), or the database file's path
    (opened read-only with :func:`connect` and closed again).

    Rows whose file a run found gone (``missing_since`` set) are left out until it is back:
    a moved file's row is taken over by its new path, a deleted one must not be suggested.

    Streams the rows in batches (memory stays near the size of the matrix,
    8 bytes x 25 per track) and sorts by path in Python, which is faster than
    ``ORDER BY`` over the primary-key index: about 0.4 s per 100 000 rows.
    A ``done`` row with an empty (NULL) value cannot be compared and raises
    :class:`LibraryError` (the sink never writes one). What was read is cached beside the
    library (:mod:`store.cache`) until the library changes.
    """
    if not isinstance(conn, sqlite3.Connection):
        if not isinstance(conn, str | os.PathLike):
            raise TypeError(f"load_features needs a database path or connection, not {type(conn).__name__}")
        with closing(connect(conn)) as opened:
            return load_features(opened, batch)
    from store.cache import cached_features

    return cached_features(conn, lambda c: _read_features(c, batch))


def _read_features(conn: sqlite3.Connection, batch: int) -> Features:
    import numpy as np  # here, not at the top: the command line imports this module to parse

    cols = ", ".join(FEATURES)
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: several times faster than sqlite3.Row here
    present = "AND missing_since IS NULL" if has_column(conn, "missing_since") else ""
    cursor.execute(
        f"SELECT path, {cols} FROM {TABLE} WHERE status = 'done' AND fingerprint_version = ? {present}",
        (FINGERPRINT_VERSION,),
    )
    paths: list[str] = []
    blocks: list[np.ndarray] = []
    while rows := cursor.fetchmany(batch):
        paths.extend(r[0] for r in rows)
        blocks.append(np.array([r[1:] for r in rows], dtype=np.float64))  # NULL -> nan
    matrix = np.concatenate(blocks) if blocks else np.empty((0, len(FEATURES)))
    bad = np.flatnonzero(np.isnan(matrix).any(axis=1))
    if bad.size:
        raise LibraryError(f"{paths[bad[0]]} is 'done' but has empty fingerprint values: re-analyse it")
    order = sorted(range(len(paths)), key=paths.__getitem__)
    paths = [paths[i] for i in order]
    matrix = matrix[order]
    (stale,) = conn.execute(
        f"SELECT COUNT(*) FROM {TABLE} WHERE status = 'done' AND fingerprint_version IS NOT ?",
        (FINGERPRINT_VERSION,),
    ).fetchone()
    return Features(paths=paths, matrix=matrix, stale=int(stale))


# The tag columns (base.fields.TAG_COLUMNS, imported above; store.db adds them in schema v7). A
# library written before them has none: readers get ``None`` for each, as for an untagged file.

#: What playlist steering needs per analysed track (``fpstream.steering``), after the path.
LISTING_COLUMNS: tuple[str, ...] = ("duration_s", *TAG_COLUMNS)


def table_columns(conn: sqlite3.Connection) -> set[str]:
    """The names of the ``tracks`` table's columns (they differ between schema versions)."""
    return {str(r[1]) for r in conn.execute(f"PRAGMA table_info({TABLE})")}


def load_listing(conn: sqlite3.Connection) -> dict[str, tuple[Any, ...]]:
    """``{path: (duration_s, *TAG_COLUMNS)}`` for every analysed row of the current version.

    A tag column the table does not have yet reads ``None``. About 0.3 s per
    100 000 rows (one streamed SELECT of plain tuples).
    """
    present = table_columns(conn)
    exprs = ", ".join(c if c in present else "NULL" for c in LISTING_COLUMNS)
    cursor = conn.cursor()
    cursor.row_factory = None
    cursor.execute(
        f"SELECT path, {exprs} FROM {TABLE} WHERE status = 'done' AND fingerprint_version = ?",
        (FINGERPRINT_VERSION,),
    )
    return {r[0]: r[1:] for r in cursor}


#: What names a track for people (fpstream.names): its tags, and the row's state.
NAME_COLUMNS: tuple[str, ...] = (
    "path",
    "status",
    "title",
    "artist",
    "album_artist",
    "album",
    "track_number",
    "disc_number",
    "date",
    "duration_s",
)


def name_rows(conn: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    """Every row's :data:`NAME_COLUMNS`, ordered by path, streamed (the matching is done in
    Python: accent-insensitive comparison needs Unicode decomposition, which SQLite lacks).

    A database from before the tag columns (schema v3) gives None for every tag."""
    have = {r[1] for r in conn.execute(f"PRAGMA table_info({TABLE})")}
    cols = ", ".join(c if c in have else f"NULL AS {c}" for c in NAME_COLUMNS)
    cursor = conn.cursor()
    cursor.row_factory = None
    for row in cursor.execute(f"SELECT {cols} FROM {TABLE} ORDER BY path"):
        yield dict(zip(NAME_COLUMNS, row, strict=True))


def row_exists(conn: sqlite3.Connection, key: str) -> bool:
    """Whether a row is stored under the path ``key``."""
    return conn.execute(f"SELECT 1 FROM {TABLE} WHERE path = ?", (key,)).fetchone() is not None


def tags_by_path(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """``{path: {title, artist, album_artist, album, track_number}}`` of every row (the tags the
    query commands show beside a path)."""
    return {r["path"]: {k: r[k] for k in NAME_COLUMNS[2:7]} for r in name_rows(conn)}


def tags_of(conn: sqlite3.Connection, paths: list[str]) -> dict[str, dict[str, Any]]:
    """:func:`tags_by_path` for ``paths`` only (a query's answers: looked up by key, not a scan).
    A path without a row, or a database from before tags, gives None for every tag."""
    have = {r[1] for r in conn.execute(f"PRAGMA table_info({TABLE})")}
    cols = NAME_COLUMNS[2:7]
    select = ", ".join(c if c in have else f"NULL AS {c}" for c in cols)
    out = {p: dict.fromkeys(cols) for p in paths}
    cursor = conn.cursor()
    cursor.row_factory = None
    for i in range(0, len(paths), 500):
        batch = paths[i : i + 500]
        marks = ", ".join("?" * len(batch))
        query = f"SELECT path, {select} FROM {TABLE} WHERE path IN ({marks})"
        for path, *values in cursor.execute(query, batch):
            out[path] = dict(zip(cols, values, strict=True))
    return out

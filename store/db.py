"""The SQLite store: schema, migrations, and the idempotent upsert of one row per path.

One table, ``tracks``, keyed by path. Writing the same track twice (a re-sent
track, a re-run with ``--force``) replaces the row, so a path never has two.
The schema version lives in ``PRAGMA user_version``; ``MIGRATIONS[n]`` takes a
database from version ``n - 1`` to ``n``.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from base.fields import (
    ADDED_COLUMNS,
    FEATURES,
    FINGERPRINT_VERSION,
    INTEGER_TAGS,
    META_COLUMNS,
    TAG_COLUMNS,
    TRACK_COLUMNS,
)
from base.protocol import TrackRef

COLUMNS: tuple[str, ...] = TRACK_COLUMNS + FEATURES + ADDED_COLUMNS

_TRACKS_V1 = (
    "CREATE TABLE tracks (\n"
    "  path TEXT PRIMARY KEY,\n"
    "  status TEXT NOT NULL CHECK (status IN ('done', 'failed')),\n"
    "  error TEXT,\n"
    "  size INTEGER,\n"
    "  mtime_ns INTEGER,\n"
    "  duration_s REAL,\n"
    "  sample_rate INTEGER,\n"
    "  channels INTEGER,\n"
    "  analyzed_at TEXT,\n"
    "  fingerprint_version INTEGER,\n" + ",\n".join(f"  {name} REAL" for name in FEATURES) + "\n)"
)

# The names that claimed audio when v7 was written (audio/not_audio.py AUDIO_SUFFIXES is the live rule):
# a failed row of a file not named so was a cover, a cue sheet, a text..., which v7 no longer stores.
_V6_AUDIO_SUFFIXES = (
    "mp3 mp2 mp1 mpga flac fla ogg oga ogx opus spx wav wave bwf rf64 w64 aif aiff aifc m4a m4b m4p "
    "mp4 aac adts alac wma asf wv ape mpc mp+ tak ofr ofs tta shn dsf dff caf au snd amr ac3 eac3 dts "
    "voc mka webm weba mkv"
).split()
_V6_CLAIMS_AUDIO = " OR ".join(f"lower(path) LIKE '%.{s}'" for s in _V6_AUDIO_SUFFIXES)
_V7_DROP_NOT_AUDIO = (
    "DELETE FROM tracks WHERE status = 'failed' AND (error LIKE 'is a directory%' OR "
    f"((error LIKE 'not an audio file%' OR error LIKE 'empty file%') AND NOT ({_V6_CLAIMS_AUDIO})))"
)

MIGRATIONS: dict[int, Sequence[str]] = {
    1: (_TRACKS_V1, "CREATE INDEX tracks_status ON tracks (status)"),
    # v2: decoding's warning on a done row (a truncated file, skipped undecodable packets)
    2: ("ALTER TABLE tracks ADD COLUMN warning TEXT",),
    # v3: a counter every change of ``tracks`` increases (triggers), so a reader can tell in one
    # query whether what it cached of the library (store.cache) is still the library
    3: (
        "CREATE TABLE library_state (generation INTEGER NOT NULL)",
        "INSERT INTO library_state (generation) VALUES (0)",
        *(
            f"CREATE TRIGGER tracks_{event.lower()} AFTER {event} ON tracks "
            "BEGIN UPDATE library_state SET generation = generation + 1; END"
            for event in ("INSERT", "UPDATE", "DELETE")
        ),
    ),
    # v4: content identity, missing files, CUE sheet tracks (docs/cue-and-moves.md)
    4: (
        "ALTER TABLE tracks ADD COLUMN content_id TEXT",
        "ALTER TABLE tracks ADD COLUMN missing_since TEXT",
        "ALTER TABLE tracks ADD COLUMN cue_track INTEGER",
        "ALTER TABLE tracks ADD COLUMN cue_start INTEGER",
        "ALTER TABLE tracks ADD COLUMN cue_end INTEGER",
        "ALTER TABLE tracks ADD COLUMN cue_title TEXT",
        "ALTER TABLE tracks ADD COLUMN cue_performer TEXT",
        "CREATE INDEX tracks_content ON tracks (content_id)",
    ),
    # v5: the source of a file fpstream master wrote, when it is fed on purpose
    # (ingest --include-derived; audio.derived)
    5: ("ALTER TABLE tracks ADD COLUMN derived_from TEXT",),
    # v6: the identity fingerprint (Chromaprint, audio/chromaprint.py) of a done row; NULL on older
    # rows until they are re-fed
    6: ("ALTER TABLE tracks ADD COLUMN chromaprint BLOB",),
    # v7: the file's tags (audio/tags.py), and whether they were read for this row: rows from before
    # have tags_read 0 and get their tags from the next run without analysis (a ``tags`` message).
    # Directories and files that are not audio and not named as audio are no longer rows at all.
    7: (
        *(
            f"ALTER TABLE tracks ADD COLUMN {c} {'INTEGER' if c in INTEGER_TAGS else 'TEXT'}"
            for c in TAG_COLUMNS
        ),
        "ALTER TABLE tracks ADD COLUMN tags_read INTEGER DEFAULT 0",
        _V7_DROP_NOT_AUDIO,
    ),
}
SCHEMA_VERSION = max(MIGRATIONS)

UPSERT = (
    f"INSERT INTO tracks ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})\n"
    "ON CONFLICT (path) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "path")
)


class SchemaError(Exception):
    """The database was written by a newer fpstream (or is not ours)."""


async def open_database(path: Path) -> aiosqlite.Connection:
    """Open (creating if needed) and migrate the database; WAL, synchronous=NORMAL."""
    db = await aiosqlite.connect(path)
    try:
        await db.execute("PRAGMA busy_timeout = 10000")
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        await migrate(db)
    except BaseException:
        await db.close()
        raise
    return db


def _check_version(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise SchemaError(f"database schema version {version} is newer than this fpstream ({SCHEMA_VERSION})")


async def migrate(db: aiosqlite.Connection) -> int:
    """Bring the schema to SCHEMA_VERSION, one transaction per step; returns the version."""
    async with db.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    version = int(row[0]) if row else 0
    _check_version(version)
    for target in range(version + 1, SCHEMA_VERSION + 1):
        if target not in MIGRATIONS:
            continue  # a version another branch uses (CONTRACTS.md): renumbered at merge
        await db.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[target]:
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {target}")
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
    return SCHEMA_VERSION


def create_schema(conn: sqlite3.Connection) -> None:
    """:func:`migrate` for a plain ``sqlite3`` connection (tools, benchmarks, tests).

    Runs the same statements, one transaction per step, and sets the same
    ``user_version``, so the result is exactly the table and index the sink
    creates. Journal mode and other connection settings are left to the caller.
    """
    row = conn.execute("PRAGMA user_version").fetchone()
    version = int(row[0]) if row else 0
    _check_version(version)
    for target in range(version + 1, SCHEMA_VERSION + 1):
        if target not in MIGRATIONS:
            continue  # a version another branch uses (CONTRACTS.md): renumbered at merge
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[target]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")
            conn.commit()
        except BaseException:
            conn.rollback()
            raise


TAGS_UPDATE = (
    "UPDATE tracks SET " + ", ".join(f"{c} = ?" for c in TAG_COLUMNS) + ", tags_read = 1 WHERE path = ?"
)


def tags_update(path: str, tags: dict[str, str | int]) -> tuple[Any, ...]:
    """Parameters of TAGS_UPDATE: a row already analysed gets its tags, and nothing else changes."""
    return (*(tags.get(c) for c in TAG_COLUMNS), path)


async def upsert(
    db: aiosqlite.Connection, rows: Sequence[Row], tag_updates: Sequence[tuple[Any, ...]] = ()
) -> None:
    """Write rows (as made by done_row/failed_row) and tags-only updates (:func:`tags_update`)
    in one transaction.

    A track of a CUE sheet replaces the row of its image as one file (stored before the
    sheet was there): the image is not also a track."""
    await db.executemany(UPSERT, [row.as_tuple() for row in rows])
    if tag_updates:
        await db.executemany(TAGS_UPDATE, tag_updates)
    images = {(cue_image(row.path),) for row in rows if row.cue_track is not None}
    if images:
        await db.executemany("DELETE FROM tracks WHERE path = ?", sorted(images))
    await db.commit()


def cue_key(image: str, number: int) -> str:
    """The row key of track ``number`` of the CUE sheet of ``image``: ``<image>#<NN>``."""
    return f"{image}#{number:02d}"


def cue_image(key: str) -> str:
    """The image path of a cue track's row key (:func:`cue_key`)."""
    return key.rsplit("#", 1)[0]


_UPDATE = (
    "UPDATE tracks SET path = ?, size = ?, mtime_ns = ?, missing_since = NULL, "
    + ", ".join(f"{c} = ?" for c in META_COLUMNS)
    + " WHERE path = ?"
)


async def apply_update(db: aiosqlite.Connection, ref: TrackRef, old_path: str) -> str | None:
    """Give the row of ``old_path`` to ``ref`` (a moved file, or new tags on the same audio):
    new path, size, mtime and meta, values kept. Returns the row's status, or None when there
    is no row at ``old_path`` (nor one already moved to ``ref.path`` with the same content):
    the caller then has nothing to keep. One transaction."""
    meta = [ref.meta.get(c) for c in META_COLUMNS]
    try:
        if old_path != ref.path:
            async with db.execute("SELECT 1 FROM tracks WHERE path = ?", (old_path,)) as cur:
                if await cur.fetchone() is not None:
                    # a failed row (or an old one) at the new path gives way to the moved one
                    await db.execute("DELETE FROM tracks WHERE path = ?", (ref.path,))
        await db.execute(_UPDATE, (ref.path, _known(ref.size), _known(ref.mtime_ns), *meta, old_path))
        async with db.execute(
            "SELECT status, content_id FROM tracks WHERE path = ?", (ref.path,)
        ) as cur:
            found = await cur.fetchone()
        await db.commit()
    except BaseException:
        await db.rollback()
        raise
    if found is None or found[1] != ref.meta.get("content_id"):
        return None
    return str(found[0])


async def mark_missing(
    db: aiosqlite.Connection, missing: Sequence[str], found: Sequence[str], since: str
) -> None:
    """Set ``missing_since`` on the rows of ``missing`` (kept if already set), clear it on ``found``."""
    try:
        await db.executemany(
            "UPDATE tracks SET missing_since = COALESCE(missing_since, ?) WHERE path = ?",
            [(since, p) for p in missing],
        )
        await db.executemany("UPDATE tracks SET missing_since = NULL WHERE path = ?", [(p,) for p in found])
        await db.commit()
    except BaseException:
        await db.rollback()
        raise


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _known(n: int) -> int | None:
    return n if n >= 0 else None  # ingest sends -1 for a size/mtime it could not read


@dataclass(frozen=True)
class Row:
    """One row of ``tracks`` as the sink (and ``fpstream analyze``, and ``master``) writes it.

    ``values`` holds the 25 values of a ``done`` row (None for a ``failed`` one); every later
    column (:data:`base.fields.ADDED_COLUMNS`) is a field of its own. :meth:`as_tuple` is the
    row in :data:`COLUMNS` order, as the upsert takes it; :meth:`as_dict` the same by name.
    """

    path: str
    status: str  # 'done' or 'failed'
    error: str | None
    size: int | None
    mtime_ns: int | None
    duration_s: float | None
    sample_rate: int | None
    channels: int | None
    analyzed_at: str
    fingerprint_version: int
    values: dict[str, float] | None = None
    warning: str | None = None
    content_id: str | None = None  # v4: what a moved or re-tagged file keeps (audio/identity.py)
    missing_since: str | None = None  # v4: set by a run's sweep; a row written now has its file
    cue_track: int | None = None  # v4: a track of a CUE sheet (path "<image>#<NN>")
    cue_start: int | None = None
    cue_end: int | None = None
    cue_title: str | None = None
    cue_performer: str | None = None
    derived_from: str | None = None  # the source of a file fpstream master wrote (audio.derived)
    # the file's tags (None: the file has none); tags_read 1: they were read for this row
    title: str | None = None
    artist: str | None = None
    album_artist: str | None = None
    album: str | None = None
    track_number: int | None = None
    disc_number: int | None = None
    date: str | None = None
    genre: str | None = None
    musicbrainz_recording_id: str | None = None
    musicbrainz_release_id: str | None = None
    tags_read: int = 1
    chromaprint: bytes | None = None  # raw Chromaprint: b"" too short to have one, None not computed

    def with_tags(self, tags: dict[str, str | int] | None) -> Row:
        """This row with the file's tags (``audio.tags.read_tags``): stored beside the values,
        never part of them."""
        return replace(self, **{c: (tags or {}).get(c) for c in TAG_COLUMNS})

    def as_tuple(self) -> tuple[Any, ...]:
        head = tuple(getattr(self, name) for name in TRACK_COLUMNS)
        values = self.values or {}
        return head + tuple(values.get(name) for name in FEATURES) + tuple(
            getattr(self, name) for name in ADDED_COLUMNS
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(zip(COLUMNS, self.as_tuple(), strict=True))


# Every column has its field: a column added to the schema without one would be written as NULL.
assert all(name in Row.__dataclass_fields__ for name in TRACK_COLUMNS + ADDED_COLUMNS)


def done_row(
    ref: TrackRef,
    duration_s: float,
    sample_rate: int,
    channels: int,
    values: dict[str, float],
    warning: str | None = None,
    derived_from: str | None = None,
    chromaprint: bytes | None = None,
) -> Row:
    """A ``done`` row; raises ValueError unless all 25 values are present and finite.

    ``warning`` is what decoding noticed (a truncated file, say): the row is
    still done, its values describe the audio that decoded. ``chromaprint``: the
    raw Chromaprint (``b""``: too short to have one; None: not computed)."""
    missing = [name for name in FEATURES if name not in values]
    if missing:
        raise ValueError(f"fingerprint lacks {', '.join(missing)}")
    floats = {name: float(values[name]) for name in FEATURES}
    bad = [name for name, v in floats.items() if not math.isfinite(v)]
    if bad or not math.isfinite(duration_s):
        raise ValueError(f"fingerprint has non-finite values: {', '.join(bad) or 'duration_s'}")
    return Row(
        path=ref.path,
        status="done",
        error=None,
        size=_known(ref.size),
        mtime_ns=_known(ref.mtime_ns),
        duration_s=float(duration_s),
        sample_rate=sample_rate,
        channels=channels,
        analyzed_at=now_utc(),
        fingerprint_version=FINGERPRINT_VERSION,
        values=floats,
        warning=warning or None,
        derived_from=derived_from or None,
        chromaprint=chromaprint,
        **_meta(ref),
    )


def _meta(ref: TrackRef) -> dict[str, Any]:
    """The row's ``content_id`` and cue columns, from the track's ``meta``."""
    return {name: ref.meta.get(name) for name in META_COLUMNS}


def failed_row(ref: TrackRef, error: str) -> Row:
    return Row(
        path=ref.path,
        status="failed",
        error=error,
        size=_known(ref.size),
        mtime_ns=_known(ref.mtime_ns),
        duration_s=None,
        sample_rate=None,
        channels=None,
        analyzed_at=now_utc(),
        fingerprint_version=FINGERPRINT_VERSION,
        **_meta(ref),
    )


class Fingerprinted(Protocol):
    """What the DSP library's merge gives (``dsp.fingerprint.Fingerprint``)."""

    duration_s: float
    values: dict[str, float]
    warning: str | None
    derived_from: str | None
    chromaprint: bytes | None


def track_row(
    ref: TrackRef,
    sample_rate: int,
    channels: int,
    result: Fingerprinted | str,
    tags: dict[str, str | int] | None = None,
) -> Row:
    """The row stored for a track whose partials were merged: ``done`` with its 25 values (and
    the file's ``tags``), or ``failed`` with ``result`` when it is the reason the merge failed,
    or with the value that was missing or not finite. Never raises."""
    if isinstance(result, str):
        return failed_row(ref, result)
    try:
        row = done_row(
            ref,
            result.duration_s,
            sample_rate,
            channels,
            result.values,
            result.warning,
            result.derived_from,
            result.chromaprint,
        )
    except ValueError as exc:
        return failed_row(ref, f"fingerprint failed: ValueError: {exc}")
    return row.with_tags(tags)


def store_row(db_path: Path, row: Row) -> None:
    """Upsert one row from outside the sink (``fpstream master`` stores the fingerprint it
    computed), creating and migrating the database if needed. Raises ``sqlite3.Error``/``OSError``.

    The sink may be writing at the same time: WAL and a 10 s busy timeout let both through."""
    conn = sqlite3.connect(db_path, timeout=10)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        create_schema(conn)
        with conn:
            conn.execute(UPSERT, row.as_tuple())
    finally:
        conn.close()


def store_rows(db_path: Path, rows: Iterable[Row]) -> None:
    """Upsert many rows in one transaction from outside the sink (benchmarks and tools that make a
    library), creating and migrating the database if needed."""
    conn = sqlite3.connect(db_path, timeout=10)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        create_schema(conn)
        with conn:
            conn.executemany(UPSERT, (row.as_tuple() for row in rows))
    finally:
        conn.close()


def delete_paths(db_path: Path, paths: Sequence[str]) -> int:
    """Remove the rows of ``paths`` in one transaction (``fpstream prune --delete``); returns
    how many went. Raises ``sqlite3.Error``."""
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        with conn:
            n = 0
            for i in range(0, len(paths), 500):
                batch = list(paths[i : i + 500])
                cur = conn.execute(f"DELETE FROM tracks WHERE path IN ({', '.join('?' * len(batch))})", batch)
                n += cur.rowcount
        return n
    finally:
        conn.close()

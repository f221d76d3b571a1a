"""The library held in memory, and seen anew when a feed commits rows (no restart).

A :class:`Snapshot` is a :class:`fpstream.api.Library` whose rows are read once:
the 25 values (``store.library.load_features``), every row's details and tags
(``store.catalog``), lower-cased search text, and the steering catalogue
(``fpstream.steering``). The vectors and the choice of tracks then come from memory
(only the few rows answered are read back), so the numbers are the CLI's.

:class:`LiveLibrary` keeps the current snapshot and one read-only connection;
:meth:`LiveLibrary.changed` asks SQLite's ``PRAGMA data_version`` (and the
file's inode, for a file replaced by another) — microseconds — and
:meth:`LiveLibrary.reload` builds the next snapshot while the old one answers.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from contextlib import closing
from functools import cached_property
from pathlib import Path
from typing import Any

from audio.paths import stored_path
from base.fields import FINGERPRINT_VERSION
from fpstream.api import Library
from store.catalog import data_version, load_details, watch_connection
from store.library import LibraryError, connect, load_features, not_current_version

#: A changed library is read again at most every RELOAD_FACTOR x its last load time.
RELOAD_FACTOR = 4.0

def display_name(row: dict[str, Any]) -> str:
    """``Artist - Title`` from tags, else the file name without its extension (``Track.display_name``)."""
    if row.get("title"):
        artist = row.get("artist") or row.get("album_artist")
        return f"{artist} - {row['title']}" if artist else str(row["title"])
    return Path(row["path"]).stem


class Snapshot(Library):
    """A :class:`~fpstream.api.Library` read into memory at one moment (``version``)."""

    def __init__(
        self, path: str | os.PathLike[str], weights: dict[str, float] | None = None, version: Any = None
    ) -> None:
        super().__init__(path, weights)
        started = time.monotonic()
        with closing(connect(self.path)) as conn:
            features = load_features(conn)
            details = load_details(conn)
        details.sort(key=lambda r: r["path"])
        self.__dict__["features"] = features  # the cached_property, filled from this one read
        self.version = version
        self.rows: dict[str, dict[str, Any]] = {r["path"]: r for r in details}
        self.all_paths: list[str] = [r["path"] for r in details]
        self.search_text: list[str] = [
            " ".join(
                str(r[c]) for c in ("path", "title", "artist", "album_artist", "album", "genre") if r[c]
            ).lower()
            for r in details
        ]
        if features.paths:
            _ = self.embedded, self.catalogue  # scale and read the steering listing now, not in a request
        self.load_s = time.monotonic() - started

    # ------------------------------------------------------------ Library, from memory

    def _details(self) -> dict[str, tuple[Any, ...]]:
        return self._detail_tuples

    @cached_property
    def _detail_tuples(self) -> dict[str, tuple[Any, ...]]:
        return {
            p: (r["size"], r["duration_s"], r["sample_rate"], r["channels"]) for p, r in self.rows.items()
        }

    def key(self, path: str) -> str:
        """The stored key of ``path`` as typed (made absolute as ingest does)."""
        return stored_path(os.path.expanduser(path))

    def detail(self, path: str) -> dict[str, Any]:
        """The in-memory details of ``path``; :class:`LibraryError` if it is not a row."""
        found = self.rows.get(self.key(path))
        if found is None:
            raise LibraryError(f"{self.key(path)} is not in the library")
        return found

    def _index(self, path: str) -> int:
        row = self.detail(path)
        if row["status"] != "done":
            raise LibraryError(f"{row['path']} failed analysis ({row['error']}), so it has no fingerprint")
        if row["fingerprint_version"] != FINGERPRINT_VERSION:
            raise LibraryError(not_current_version(row["path"]))
        return self.features.index_of(row["path"])

    def index(self, path: str) -> int:
        """Row of ``path`` in the matrix (an analysed track of the current version)."""
        return self._index(path)

    def search(self, text: str, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """Rows whose path or tags contain every word of ``text`` (case-insensitive; ``"a b"`` in
        double quotes is one phrase), by path. Returns the number of matches and the ``limit`` rows
        from ``offset``.
        """
        words = [a or b for a, b in re.findall(r'"([^"]+)"|(\S+)', text.lower())]
        hay = self.search_text
        hits: Sequence[int] = range(len(hay))
        for word in sorted(words, key=len, reverse=True):  # the longest word first: fewest hits
            hits = [i for i in hits if word in hay[i]]
        page = [self.rows[self.all_paths[i]] for i in hits[offset : offset + limit]]
        return len(hits), page


class LiveLibrary:
    """The current :class:`Snapshot` of the database at ``path``, reloaded when it changes."""

    def __init__(self, path: Path, weights: dict[str, float] | None = None) -> None:
        self.path = path
        self.weights = weights
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._inode: tuple[int, int] | None = None
        self.snapshot = Snapshot(path, weights, version=self._version())
        self.loaded_at = time.monotonic()
        self.reloads = 0

    def _version(self) -> tuple[int, int, int]:
        """(device, inode, data_version): changes on a commit by another connection or a new file."""
        with self._lock:
            st = os.stat(self.path)
            if self._conn is None or self._inode != (st.st_dev, st.st_ino):
                if self._conn is not None:
                    self._conn.close()
                self._conn = watch_connection(self.path)
                self._inode = (st.st_dev, st.st_ino)
            return (st.st_dev, st.st_ino, data_version(self._conn))

    def changed(self) -> Any | None:
        """The database's new version when it differs from the snapshot's and a reload is due, else
        None. While a feed commits every second, a large library is read again at most every
        :data:`RELOAD_FACTOR` times its load time (a 100 000-track library takes seconds to read,
        and reading it back to back would starve the requests of CPU)."""
        if time.monotonic() - self.loaded_at < RELOAD_FACTOR * self.snapshot.load_s:
            return None
        version = self._version()
        return version if version != self.snapshot.version else None

    def reload(self, version: Any) -> Snapshot:
        """Read the database into a new snapshot and make it current (the old one keeps answering
        the requests that hold it)."""
        fresh = Snapshot(self.path, self.weights, version=version)
        self.snapshot = fresh
        self.loaded_at = time.monotonic()
        self.reloads += 1
        return fresh

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

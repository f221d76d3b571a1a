"""The Python API: one object for a fingerprint database, returning plain dataclasses.

The ``fpstream`` query commands (``show``, ``similar``, ``playlist``,
``duplicates``, ``report``) are thin layers over it.

Examples
--------
>>> from fpstream.api import Library                         # doctest: +SKIP
>>> lib = Library("fingerprints.db")                          # doctest: +SKIP
>>> len(lib.tracks())                                         # doctest: +SKIP
54756
>>> [n.path for n in lib.similar("~/Music/a.flac", k=3)]      # doctest: +SKIP
>>> [t.path for t in lib.playlist("~/Music/a.flac", n=20)]    # doctest: +SKIP
>>> for group in lib.duplicates().groups:                     # doctest: +SKIP
...     print(group.kept.path, group.reason, [m.path for m in group.members[1:]])

The library's 25 values are loaded once, on first use, and scaled by the
library itself (``fpstream.similarity``); a ``Library`` is a snapshot: make a
new one to see rows written since.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from audio.paths import stored_path
from base.fields import FEATURES, FINGERPRINT_VERSION
from fpstream.duplicates import DEFAULT_MAX_DISTANCE
from fpstream.percentiles import percentile_ranks
from fpstream.playlist import path_to, walk
from fpstream.recordings import MAX_BER
from fpstream.same_recording import DuplicateGroup, DuplicateMember, Duplicates, find_duplicates
from fpstream.similarity import DEFAULT_WEIGHTS, Scaling, nearest, robust_scale, weight_vector
from store.library import (
    Features,
    LibraryError,
    connect,
    get_row,
    iter_rows,
    load_features,
    not_current_version,
)

_DETAIL_COLUMNS = "path, size, duration_s, sample_rate, channels"


@dataclass(frozen=True)
class Track:
    """One stored row: the file's details and, when ``done``, its 25 values (``features``)."""

    path: str
    status: str
    error: str | None
    size: int | None
    mtime_ns: int | None
    duration_s: float | None
    sample_rate: int | None
    channels: int | None
    analyzed_at: str | None
    fingerprint_version: int | None
    warning: str | None = None  # a done row's decoding note, e.g. "truncated: …" (README, "Formats")
    features: dict[str, float] | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Track:
        done = row["status"] == "done"
        return cls(
            # .get: a database older than the warning column (schema v1) has none
            **{name: row.get(name) for name in cls.__dataclass_fields__ if name != "features"},
            features={name: row[name] for name in FEATURES} if done else None,
        )

    @property
    def format(self) -> str:
        """The file's format as its name says it (``FLAC``, ``OGG``, ``WAV``…; ``?`` without one)."""
        return Path(self.path).suffix.lstrip(".").upper() or "?"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Neighbour:
    rank: int
    distance: float
    path: str


@dataclass(frozen=True)
class PlaylistEntry:
    """One track of a playlist: ``step`` is the distance from the previous track (0 for the first)."""

    position: int
    path: str
    duration_s: float | None
    step: float
    to_target: float | None = None  # distance to B, for a playlist with a target


class Library:
    """A fingerprint database (``FPSTREAM_DB``), opened read-only.

    ``weights``: the similarity weights (``{name: weight}``, e.g. from
    ``fpstream.similarity.parse_weights``); default: the documented defaults.
    """

    def __init__(self, path: str | os.PathLike[str], weights: dict[str, float] | None = None) -> None:
        self.path = Path(path).expanduser()
        self.weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        self._w = weight_vector(self.weights)
        connect(self.path).close()  # a missing or foreign file fails here, with advice

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path)

    # ------------------------------------------------------------ rows

    def tracks(self) -> list[Track]:
        """Every stored track (done and failed), sorted by path."""
        with closing(self._connect()) as conn:
            return [Track.from_row(row) for row in iter_rows(conn)]

    def get(self, path: str) -> Track:
        """The track stored for ``path`` (made absolute as ingest does); ``LibraryError`` if absent."""
        with closing(self._connect()) as conn:
            return Track.from_row(get_row(conn, stored_path(os.path.expanduser(path))))

    def percentiles(self, path: str) -> dict[str, float]:
        """``path``'s 25 values as percentiles (0–100) within the library's analysed tracks."""
        i = self._index(path)
        ranks = percentile_ranks(self.features.matrix, self.features.matrix[i])
        return dict(zip(FEATURES, ranks.tolist(), strict=True))

    # ------------------------------------------------------------ the matrix

    @cached_property
    def features(self) -> Features:
        """The 25 values of every analysed track of the current version (``store.library``)."""
        with closing(self._connect()) as conn:
            return load_features(conn)

    @cached_property
    def scaling(self) -> Scaling:
        if not self.features.paths:
            raise LibraryError(f"{self.path} has no analysed tracks yet")
        return robust_scale(self.features.matrix)

    @cached_property
    def scaled(self) -> np.ndarray:
        return self.scaling.apply(self.features.matrix)

    @cached_property
    def embedded(self) -> np.ndarray:
        """Scaled values times sqrt(weight): Euclidean distance here is the similarity distance."""
        return self.scaled * np.sqrt(self._w)

    def _index(self, path: str) -> int:
        with closing(self._connect()) as conn:
            row = get_row(conn, stored_path(os.path.expanduser(path)))
        if row["status"] != "done":
            raise LibraryError(f"{row['path']} failed analysis ({row['error']}), so it has no fingerprint")
        if row["fingerprint_version"] != FINGERPRINT_VERSION:
            raise LibraryError(not_current_version(row["path"]))
        return self.features.index_of(row["path"])

    def _details(self) -> dict[str, tuple[Any, ...]]:
        with closing(self._connect()) as conn:
            cursor = conn.cursor()
            cursor.row_factory = None
            return {r[0]: r[1:] for r in cursor.execute(f"SELECT {_DETAIL_COLUMNS} FROM tracks")}

    # ------------------------------------------------------------ queries

    def similar(self, path: str, k: int = 10) -> list[Neighbour]:
        """The ``k`` analysed tracks nearest to ``path``, nearest first, ``path`` itself excluded."""
        i = self._index(path)
        idx, dist = nearest(self.scaled, self.scaled[i], self._w, k, exclude=i)
        return [
            Neighbour(rank, float(d), self.features.paths[j])
            for rank, (j, d) in enumerate(zip(idx.tolist(), dist.tolist(), strict=True), start=1)
        ]

    def playlist(
        self, seed: str, n: int = 20, to: str | None = None, duplicate_distance: float = DEFAULT_MAX_DISTANCE
    ) -> list[PlaylistEntry]:
        """A smooth sequence from ``seed`` (``fpstream.playlist``): ``n`` tracks, or a path to ``to``.

        No track twice, and no two tracks within ``duplicate_distance`` of each
        other (copies of one recording). With ``to``, at most ``n`` tracks
        ending at ``to``, each closer to it than the one before.
        """
        if n < 1:
            raise ValueError("n must be at least 1")
        start = self._index(seed)
        emb = self.embedded
        if to is None:
            rows = walk(emb, start, n, duplicate_distance)
            target = None
        else:
            target = self._index(to)
            if n < 2:
                raise LibraryError("a playlist from SEED to a target has at least 2 tracks (-n 2 or more)")
            try:
                rows = path_to(emb, start, target, n, duplicate_distance)
            except ValueError as exc:
                raise LibraryError(f"no playlist from {seed} to {to}: {exc}") from None
        details = self._details()
        entries = []
        for pos, row in enumerate(rows, start=1):
            p = self.features.paths[row]
            step = 0.0 if pos == 1 else float(np.linalg.norm(emb[row] - emb[rows[pos - 2]]))
            to_target = None if target is None else float(np.linalg.norm(emb[row] - emb[target]))
            entries.append(PlaylistEntry(pos, p, details[p][1], step, to_target))
        return entries

    def duplicates(self, max_ber: float = MAX_BER) -> Duplicates:
        """Groups of files holding the same recording (Chromaprint), each naming the file to keep
        first (``fpstream.same_recording``; the rule: ``fpstream.keep``)."""
        with closing(self._connect()) as conn:
            return find_duplicates(conn, max_ber)


__all__ = [
    "DuplicateGroup",
    "DuplicateMember",
    "Duplicates",
    "Library",
    "Neighbour",
    "PlaylistEntry",
    "Track",
]

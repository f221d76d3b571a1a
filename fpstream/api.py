"""The Python API: one object for a fingerprint database, returning plain dataclasses.

The ``fpstream`` query commands (``show``, ``similar``, ``playlist``,
``duplicates``, ``report``) are thin layers over it.

Examples
--------
>>> from fpstream.api import Library                         # doctest: +SKIP
>>> lib = Library("fingerprints.db")                          # doctest: +SKIP
>>> len(lib.tracks())                                         # doctest: +SKIP
54756
>>> [(t.path, d) for t, d in lib.similar("~/Music/a.flac", 3)]  # doctest: +SKIP
>>> steer = Steering(no_repeat_album=3, min_duration_s=60)      # doctest: +SKIP
>>> [t.path for t in lib.playlist(["~/Music/a.flac", "~/Music/b.ogg"], 20, steering=steer)]  # doctest: +SKIP
>>> [t.album for t in lib.album_playlist("~/Music/a.flac", 3)]  # doctest: +SKIP
>>> for group in lib.duplicates().groups:                     # doctest: +SKIP
...     print(group.kept.path, group.reason, [m.path for m in group.members[1:]])

The library's 25 values are loaded once, on first use, and scaled by the
library itself (``fpstream.similarity``); a ``Library`` is a snapshot: make a
new one to see rows written since.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from audio.paths import format_of, stored_path
from base.fields import FEATURES, FINGERPRINT_VERSION
from fpstream.duplicates import DEFAULT_MAX_DISTANCE
from fpstream.percentiles import percentile_ranks
from fpstream.playlist import album_walk, gather, steered_path_to
from fpstream.thresholds import MAX_BER

if TYPE_CHECKING:
    from fpstream.same_recording import Duplicates
from fpstream.similarity import DEFAULT_WEIGHTS, Scaling, robust_scale, weight_vector
from fpstream.steering import DEFAULT_STEERING, Catalogue, Spacing, Steering, admissible
from store.library import (
    Features,
    LibraryError,
    connect,
    details,
    get_row,
    iter_rows,
    load_features,
    load_listing,
    not_current_version,
    tags_of,
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
    warning: str | None = None  # a done row's decoding note, e.g. "truncated: …" (docs/formats.md)
    content_id: str | None = None  # what a moved or re-tagged file keeps (docs/cue-and-moves.md)
    missing_since: str | None = None  # a run found the file gone then (left out of queries)
    cue_track: int | None = None  # a track of a CUE sheet: path is "<image>#<NN>"
    cue_start: int | None = None  # its span of the image, frames
    cue_end: int | None = None
    cue_title: str | None = None
    cue_performer: str | None = None
    features: dict[str, float] | None = None
    # Tags (CONTRACTS.md; None when the row or the library has none)
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
    derived_from: str | None = None  # written by fpstream master from this source (audio.derived)

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
        return format_of(self.path)

    @property
    def display_name(self) -> str:
        """``Artist - Title`` from the tags (M3U ``#EXTINF``), else the file name without its suffix."""
        who = self.artist or self.album_artist
        if self.title:
            return f"{who} - {self.title}" if who else self.title
        return Path(self.path).stem

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PlaylistEntry:
    """One track of a playlist: ``step`` is the distance from the previous track (0 for the first)."""

    position: int
    path: str
    duration_s: float | None
    step: float
    to_target: float | None = None  # distance to B, for a playlist with a target
    track: Track | None = None  # the whole row (tags, display_name)


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

    def row(self, path: str) -> dict[str, Any]:
        """Every stored column of ``path`` (made absolute as ingest does); ``LibraryError`` if absent."""
        with closing(self._connect()) as conn:
            return get_row(conn, stored_path(os.path.expanduser(path)))

    def get(self, path: str) -> Track:
        """The track stored for ``path`` (made absolute as ingest does); ``LibraryError`` if absent."""
        return Track.from_row(self.row(path))

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
        row = self.row(path)
        if row["status"] != "done":
            raise LibraryError(f"{row['path']} failed analysis ({row['error']}), so it has no fingerprint")
        if row["fingerprint_version"] != FINGERPRINT_VERSION:
            raise LibraryError(not_current_version(row["path"]))
        if row.get("missing_since"):
            raise LibraryError(
                f"{row['path']} is missing since {row['missing_since']}: its file is gone "
                "(moved files keep their fingerprint once a run meets them at their new path)"
            )
        return self.features.index_of(row["path"])

    def _tags(self, paths: list[str]) -> dict[str, dict[str, Any]]:
        """``{path: {artist, title, album}}`` of ``paths`` (artist: the album artist if no artist)."""
        with closing(self._connect()) as conn:
            rows = tags_of(conn, paths)
        return {
            p: {"artist": t["artist"] or t["album_artist"], "title": t["title"], "album": t["album"]}
            for p, t in rows.items()
        }

    def _details(self) -> dict[str, tuple[Any, ...]]:
        with closing(self._connect()) as conn:
            return details(conn, _DETAIL_COLUMNS)

    # ------------------------------------------------------------ queries

    @cached_property
    def catalogue(self) -> Catalogue:
        """Durations, tempi, artist and album keys, genres of the analysed tracks (``fpstream.steering``)."""
        with closing(self._connect()) as conn:
            listing = load_listing(conn)
        tempo = self.features.matrix[:, FEATURES.index("tempo_bpm")]
        return Catalogue.build(self.features.paths, listing, tempo)

    def _rows_to_tracks(self, rows: Sequence[int]) -> list[Track]:
        with closing(self._connect()) as conn:
            return [Track.from_row(get_row(conn, self.features.paths[r])) for r in rows]

    def _steer(self, seeds: Sequence[int], steering: Steering) -> tuple[np.ndarray, Spacing]:
        if not isinstance(steering, Steering):
            raise TypeError(f"steering must be an fpstream.steering.Steering, not {type(steering).__name__}")
        if steering.is_neutral:  # no tags or durations to read (a fast `fpstream similar`)
            blocked = np.zeros(len(self.features.paths), dtype=bool)
            blocked[list(seeds)] = True
            return blocked, Spacing(None, steering)
        return ~admissible(self.catalogue, steering, seeds), Spacing(self.catalogue, steering)

    def similar(
        self, path: str, n: int = 10, steering: Steering = DEFAULT_STEERING
    ) -> list[tuple[Track, float]]:
        """The ``n`` allowed tracks nearest to ``path``, nearest first, ``path`` itself excluded.

        ``steering`` filters the candidates (by default tracks under 30 s are left
        out) and, read as a queue in rank order, keeps artists and albums apart
        (soft). Returns ``(track, distance)`` pairs.
        """
        if n < 1:
            raise ValueError("n must be at least 1")
        i = self._index(path)
        blocked, spacing = self._steer([i], steering)
        diff = self.embedded - self.embedded[i]
        dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        dist[blocked] = np.inf
        free = int(np.count_nonzero(np.isfinite(dist)))
        if not spacing.active:
            m = min(n, free)
            part = np.argpartition(dist, m - 1)[:m] if m else np.empty(0, dtype=np.intp)
            chosen = part[np.lexsort((part, dist[part]))].tolist()  # ties: the first path
        else:
            ranked = np.argsort(dist, kind="stable")[:free].tolist()
            chosen = []
            while len(chosen) < n and ranked:
                row = spacing.choose(chosen, ranked)
                assert row is not None
                chosen.append(row)
                ranked.remove(row)
        tracks = self._rows_to_tracks(chosen)
        return [(t, float(dist[r])) for t, r in zip(tracks, chosen, strict=True)]

    def playlist(
        self,
        seeds: Sequence[str] | str,
        n: int = 20,
        to: str | None = None,
        steering: Steering = DEFAULT_STEERING,
        duplicate_distance: float = DEFAULT_MAX_DISTANCE,
    ) -> list[Track]:
        """A smooth sequence from the seeds (``fpstream.playlist``): ``n`` tracks, or a path to ``to``.

        ``seeds``: one path or several; the playlist starts with them (the first
        first) and continues near the set (round-robin over the seeds, then a
        smooth order: ``fpstream.playlist.gather``). No track twice, and no two
        tracks within ``duplicate_distance`` of each other (copies of one
        recording). With ``to`` (one seed only), at most ``n`` tracks ending at
        ``to``, each closer to it than the one before. ``steering`` applies to
        every track but the seeds and ``to``.
        """
        return [e.track for e in self.playlist_entries(seeds, n, to, steering, duplicate_distance)]

    def playlist_entries(
        self,
        seeds: Sequence[str] | str,
        n: int = 20,
        to: str | None = None,
        steering: Steering = DEFAULT_STEERING,
        duplicate_distance: float = DEFAULT_MAX_DISTANCE,
    ) -> list[PlaylistEntry]:
        """:meth:`playlist` with each step's distance (and the distance to ``to``): what the CLI lists."""
        if isinstance(seeds, str | os.PathLike):
            seeds = [seeds]
        if not seeds:
            raise ValueError("a playlist needs at least one seed")
        if n < 1:
            raise ValueError("n must be at least 1")
        starts = [self._index(s) for s in seeds]
        if len(set(starts)) < len(starts):
            raise LibraryError("a seed is named twice")
        if n < len(starts):
            raise LibraryError(
                f"{len(starts)} seeds do not fit in a playlist of {n} tracks (-n {len(starts)} or more)"
            )
        emb = self.embedded
        target = None if to is None else self._index(to)
        blocked, spacing = self._steer(starts if target is None else [*starts, target], steering)
        if target is None:
            rows = gather(emb, starts, n, duplicate_distance, blocked, spacing)
        else:
            if len(starts) > 1:
                raise LibraryError("a playlist to a target starts from one seed (give one SEED with --to)")
            if n < 2:
                raise LibraryError("a playlist from SEED to a target has at least 2 tracks (-n 2 or more)")
            try:
                rows = steered_path_to(emb, starts[0], target, n, duplicate_distance, blocked, spacing)
            except ValueError as exc:
                raise LibraryError(f"no playlist from {seeds[0]} to {to}: {exc}") from None
        return self._entries(rows, target)

    def _entries(self, rows: Sequence[int], target: int | None) -> list[PlaylistEntry]:
        emb = self.embedded
        entries = []
        for pos, (row, track) in enumerate(zip(rows, self._rows_to_tracks(rows), strict=True), start=1):
            step = 0.0 if pos == 1 else float(np.linalg.norm(emb[row] - emb[rows[pos - 2]]))
            to_target = None if target is None else float(np.linalg.norm(emb[row] - emb[target]))
            entries.append(PlaylistEntry(pos, track.path, track.duration_s, step, to_target, track))
        return entries

    def album_playlist(
        self,
        seed: str,
        n_albums: int = 3,
        steering: Steering = DEFAULT_STEERING,
        duplicate_distance: float = DEFAULT_MAX_DISTANCE,
    ) -> list[Track]:
        """Whole albums, starting with ``seed``'s: each next album is the one whose mean
        fingerprint is nearest to the current album's (``fpstream.playlist.album_walk``).

        Within an album, tracks go by disc and track number when tagged, else by
        path. ``steering``'s filters apply to every track (an album keeps the
        tracks that pass; the seed always plays); ``no_repeat_artist`` counts
        albums; ``no_repeat_album`` has nothing left to do.
        """
        return [e.track for e in self.album_playlist_entries(seed, n_albums, steering, duplicate_distance)]

    def album_playlist_entries(
        self,
        seed: str,
        n_albums: int = 3,
        steering: Steering = DEFAULT_STEERING,
        duplicate_distance: float = DEFAULT_MAX_DISTANCE,
    ) -> list[PlaylistEntry]:
        """:meth:`album_playlist` with each step's distance: what the CLI lists."""
        if n_albums < 1:
            raise ValueError("n_albums must be at least 1")
        start = self._index(seed)
        cat = self.catalogue
        blocked, _ = self._steer([start], steering)
        allowed = ~blocked
        allowed[start] = True
        members: dict[str, list[int]] = {}
        for row in np.flatnonzero(allowed).tolist():
            members.setdefault(cat.albums[row], []).append(row)
        keys = list(members)
        emb = self.embedded
        means = np.array([emb[members[k]].mean(axis=0) for k in keys])
        artists = [cat.artists[members[k][0]] for k in keys]
        first = keys.index(cat.albums[start])
        order = album_walk(means, first, n_albums, duplicate_distance, artists, steering.no_repeat_artist)

        def position(row: int) -> tuple[int, int, str]:
            disc, number = cat.disc_numbers[row], cat.track_numbers[row]
            last = 1 << 30  # untagged after tagged
            return (
                last if disc is None else int(disc),
                last if number is None else int(number),
                cat.paths[row],
            )

        rows = [row for a in order for row in sorted(members[keys[a]], key=position)]
        return self._entries(rows, None)

    def duplicates(self, max_ber: float = MAX_BER) -> Duplicates:
        """Groups of files holding the same recording (Chromaprint), each naming the file to keep
        first (``fpstream.same_recording``; the rule: ``fpstream.keep``)."""
        # imported here: same_recording reads codecs with PyAV, which similar and show do not need
        from fpstream.same_recording import find_duplicates

        with closing(self._connect()) as conn:
            return find_duplicates(conn, max_ber)


__all__ = [
    "Library",
    "PlaylistEntry",
    "Track",
]

"""Steering a playlist: which tracks may be chosen, and how far apart an artist or album must be.

Two kinds of rule, as in Lyrion's "Don't Stop The Music" mixers (CDrummond's
bliss-mixer and music-similarity, whose request fields ``min``, ``max``,
``maxbpmdiff``, ``filtergenre``, ``filterxmas``, ``previous``, ``norepart`` and
``norepalb`` these mirror):

- **Filters** (hard): a track outside the duration range, matching an
  ``exclude`` glob, too far from the seeds' tempo, of another genre, or already
  in the queue (``previous``) is never chosen (:func:`admissible`). The seeds
  themselves are given by the user and always play.
- **Spacing** (soft, :class:`Spacing`): no two tracks of one artist within
  ``no_repeat_artist`` tracks, of one album within ``no_repeat_album`` tracks.
  When no remaining candidate satisfies that, the windows shrink one track at a
  time until one does — the mixers likewise add filtered tracks back when too
  few remain — so a library of one album still gives a playlist.

Artist and album come from the tag columns when the library has them, else from
folders (``Artist/Album/track.flac``): see :func:`album_key`, :func:`artist_key`.

Examples
--------
>>> Steering(no_repeat_album=3, min_duration_s=60, exclude=("*/jingles/*",))  # doctest: +ELLIPSIS
Steering(no_repeat_artist=0, no_repeat_album=3, min_duration_s=60, ...)
"""

from __future__ import annotations

import datetime
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import numpy as np

from store.library import LISTING_COLUMNS


@dataclass(frozen=True)
class Steering:
    """What a playlist may hold (see the module docstring); the default leaves out tracks under 30 s.

    Durations in seconds (``None``: no limit); ``max_bpm_diff`` in beats per
    minute; ``exclude`` holds :mod:`fnmatch` globs matched against the stored
    (absolute) path, case-sensitively; ``previous`` lists stored paths, oldest
    first.
    """

    no_repeat_artist: int = 0
    no_repeat_album: int = 0
    min_duration_s: float | None = 30.0
    max_duration_s: float | None = None
    exclude: tuple[str, ...] = ()
    max_bpm_diff: float | None = None
    genres: frozenset[str] | None = None
    exclude_christmas: bool = False
    previous: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("no_repeat_artist", "no_repeat_album"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number of tracks, 0 or more (got {value!r})")
        for name in ("min_duration_s", "max_duration_s", "max_bpm_diff"):
            value = getattr(self, name)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if value is not None and not (number and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number of 0 or more, or None (got {value!r})")
        if (
            self.min_duration_s is not None
            and self.max_duration_s is not None
            and self.min_duration_s > self.max_duration_s
        ):
            raise ValueError(
                f"min_duration_s ({self.min_duration_s:g}) is above max_duration_s ({self.max_duration_s:g})"
            )
        if isinstance(self.exclude, str) or isinstance(self.previous, str):
            raise ValueError("exclude and previous are tuples of strings, not one string")

    @property
    def is_neutral(self) -> bool:
        """Nothing to filter and nothing to space: every track may come, nearest first."""
        return self == Steering(min_duration_s=None)


#: ``Steering()``: the default of every ``fpstream.api.Library`` query (a frozen value, safe to share).
DEFAULT_STEERING = Steering()

_TAG_INDEX = {name: i for i, name in enumerate(LISTING_COLUMNS)}


def _tag(values: Sequence[Any] | None, name: str) -> Any:
    if values is None:
        return None
    value = values[_TAG_INDEX[name]]
    return value.strip() or None if isinstance(value, str) else value


def artist_key(path: str, values: Sequence[Any] | None = None) -> str:
    """The artist a track counts as for ``no_repeat_artist``.

    ``album_artist`` or ``artist`` (case-folded) when the row has one, else the
    grandparent folder (``Artist/Album/track.flac``). ``values``: the row's
    ``store.library.LISTING_COLUMNS``, or ``None`` for a path outside the library.
    """
    name = _tag(values, "album_artist") or _tag(values, "artist")
    if name:
        return "tag:" + str(name).casefold()
    return "dir:" + os.path.dirname(os.path.dirname(path))


def album_key(path: str, values: Sequence[Any] | None = None) -> str:
    """The album a track counts as for ``no_repeat_album`` and ``album_playlist``.

    ``(album_artist or artist, album)`` (case-folded) when the row has an
    album, else the parent folder.
    """
    album = _tag(values, "album")
    if album:
        who = _tag(values, "album_artist") or _tag(values, "artist") or ""
        return f"tag:{str(who).casefold()}\x00{str(album).casefold()}"
    return "dir:" + os.path.dirname(path)


def split_genres(text: str | None) -> frozenset[str]:
    """A genre tag's values, case-folded: several are stored separated by ``;`` (or NUL)."""
    if not text:
        return frozenset()
    return frozenset(g.strip().casefold() for g in text.replace("\x00", ";").split(";") if g.strip())


@dataclass(frozen=True)
class Catalogue:
    """What steering knows of each analysed track, aligned with ``Features.paths`` (row ``i``)."""

    paths: list[str]
    duration_s: np.ndarray  # nan where unknown
    tempo_bpm: np.ndarray
    artists: list[str]
    albums: list[str]
    genres: list[frozenset[str]]
    disc_numbers: list[int | None]
    track_numbers: list[int | None]

    @classmethod
    def build(cls, paths: list[str], listing: dict[str, tuple[Any, ...]], tempo_bpm: np.ndarray) -> Catalogue:
        """From ``store.library.load_listing`` and the tempo column of the feature matrix."""
        rows = [listing.get(p) for p in paths]
        duration = np.array(
            [np.nan if r is None or r[0] is None else float(r[0]) for r in rows], dtype=np.float64
        )
        return cls(
            paths=paths,
            duration_s=duration,
            tempo_bpm=np.asarray(tempo_bpm, dtype=np.float64),
            artists=[artist_key(p, r) for p, r in zip(paths, rows, strict=True)],
            albums=[album_key(p, r) for p, r in zip(paths, rows, strict=True)],
            genres=[split_genres(_tag(r, "genre")) for r in rows],
            disc_numbers=[_tag(r, "disc_number") for r in rows],
            track_numbers=[_tag(r, "track_number") for r in rows],
        )


def admissible(
    catalogue: Catalogue, steering: Steering, seeds: Sequence[int], month: int | None = None
) -> np.ndarray:
    """Boolean mask of the rows a playlist may choose (the filters of :class:`Steering`).

    The seeds are ``False`` (they are placed already) and so is every path of
    ``steering.previous``. A track whose duration is unknown passes the duration
    limits. ``max_bpm_diff`` compares with the nearest seed tempo; ``genres``
    keeps tracks with at least one allowed genre (an untagged track has none);
    ``exclude_christmas`` leaves out the genre "Christmas" except in December
    (``month``: 1-12, default this month), as Lyrion's ``filterxmas`` does.
    """
    n = len(catalogue.paths)
    ok = np.ones(n, dtype=bool)
    d = catalogue.duration_s
    known = ~np.isnan(d)
    if steering.min_duration_s is not None:
        ok &= ~known | (d >= steering.min_duration_s)
    if steering.max_duration_s is not None:
        ok &= ~known | (d <= steering.max_duration_s)
    if steering.max_bpm_diff is not None and len(seeds):
        gap = np.min(np.abs(catalogue.tempo_bpm[:, None] - catalogue.tempo_bpm[list(seeds)][None, :]), axis=1)
        ok &= gap <= steering.max_bpm_diff
    if steering.genres is not None:
        allowed = frozenset(g.casefold() for g in steering.genres)
        ok &= np.array([bool(g & allowed) for g in catalogue.genres], dtype=bool)
    if steering.exclude_christmas and (month or datetime.date.today().month) != 12:
        ok &= np.array([not any("christmas" in g or "xmas" in g for g in gs) for gs in catalogue.genres])
    if steering.exclude:
        ok &= np.array([not any(fnmatchcase(p, g) for g in steering.exclude) for p in catalogue.paths])
    if steering.previous:
        index = {p: i for i, p in enumerate(catalogue.paths)}
        ok[[index[p] for p in steering.previous if p in index]] = False
    ok[list(seeds)] = False
    return ok


class Spacing:
    """The soft no-repeat rule of a :class:`Steering` over one playlist under construction.

    ``history``: ``(artist, album)`` keys of the tracks already queued before the
    playlist (``steering.previous``, oldest first); paths outside the library
    count by their folders.
    """

    def __init__(self, catalogue: Catalogue | None, steering: Steering) -> None:
        self.n_artist = steering.no_repeat_artist
        self.n_album = steering.no_repeat_album
        self.history: list[tuple[str, str]] = []
        if not self.active:
            return  # nothing to keep apart: the catalogue is not needed (None is fine)
        if catalogue is None:
            raise ValueError("a Spacing that keeps artists or albums apart needs the catalogue")
        self.catalogue = catalogue
        index = {p: i for i, p in enumerate(catalogue.paths)}
        for p in steering.previous:
            i = index.get(p)
            if i is None:
                self.history.append((artist_key(p), album_key(p)))
            else:
                self.history.append((catalogue.artists[i], catalogue.albums[i]))

    @property
    def active(self) -> bool:
        return self.n_artist > 0 or self.n_album > 0

    def _keys(self, row: int) -> tuple[str, str]:
        return self.catalogue.artists[row], self.catalogue.albums[row]

    def _recent(self, order: Sequence[int]) -> tuple[dict[str, int], dict[str, int]]:
        """Distance back (1 = the last track) of the latest track of each recent artist and album."""
        window = max(self.n_artist, self.n_album)
        tail = [*self.history, *(self._keys(r) for r in order)][-window:] if window else []
        artists: dict[str, int] = {}
        albums: dict[str, int] = {}
        for back, (artist, album) in enumerate(reversed(tail), start=1):
            artists.setdefault(artist, back)
            albums.setdefault(album, back)
        return artists, albums

    def level(self, recent: tuple[dict[str, int], dict[str, int]], row: int) -> int:
        """By how many tracks the windows must shrink for ``row`` to follow (0: it may)."""
        artists, albums = recent
        artist, album = self._keys(row)
        need = 0
        back = artists.get(artist)
        if back is not None and back <= self.n_artist:
            need = self.n_artist - back + 1
        back = albums.get(album)
        if back is not None and back <= self.n_album:
            need = max(need, self.n_album - back + 1)
        return need

    def choose(self, order: Sequence[int], ranked: Iterable[int]) -> int | None:
        """The first of ``ranked`` (candidate rows, best first) that may follow ``order``.

        If none may, the one that needs the windows shrunk least (the better
        ranked among equals); ``None`` if ``ranked`` is empty.
        """
        recent = self._recent(order)
        best: int | None = None
        best_level = math.inf
        for row in ranked:
            need = self.level(recent, row)
            if need == 0:
                return int(row)
            if need < best_level:
                best, best_level = int(row), need
        return best

    def conflicts(self, order: Sequence[int]) -> list[tuple[int, int]]:
        """Pairs ``(i, j)``, ``j < i``, of positions of ``order`` that break the rule.

        ``j`` is negative for a track of the history (``-1``: the last queued).
        """
        found = []
        keys = [*self.history, *(self._keys(r) for r in order)]
        offset = len(self.history)
        for i in range(offset, len(keys)):
            for back in range(1, max(self.n_artist, self.n_album) + 1):
                j = i - back
                if j < 0:
                    break
                same_artist = back <= self.n_artist and keys[j][0] == keys[i][0]
                same_album = back <= self.n_album and keys[j][1] == keys[i][1]
                if same_artist or same_album:
                    found.append((i - offset, j - offset))
                    break
        return found

    def penalty(self, order: Sequence[int]) -> int:
        """How far ``order`` is from keeping the rule: the sum over its tracks of the square of
        :meth:`level` (0 when kept; squared so that one repeat right after its twin weighs more
        than two repeats a little early). Reorderings (2-opt) and re-routings must not raise it."""
        if not self.active:
            return 0
        return sum(self.level(self._recent(order[:i]), row) ** 2 for i, row in enumerate(order))

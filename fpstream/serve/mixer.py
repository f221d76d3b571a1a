"""Lyrion's mixer API (``POST /api/mix``, ``POST /api/list``, ``GET /api/ready``), as
CDrummond/bliss-mixer's API.md defines it and the LMS "Bliss Mixer" plugin sends it.

The plugin (``Plugin.pm``: ``_getMixData``, ``_getListData``, ``_trackToPath``)
posts a UTF-8 JSON object (``Content-Type: application/json;charset=utf-8``) whose
track paths are *relative to its music folder* (the media dir prefix and the leading
``/`` removed), and reads back ``text/plain; charset=utf-8``: one path per line,
relative in the same way, which it joins to each music folder again. A seed the
service does not know gives an empty answer (200, no lines), as bliss-mixer's.

:class:`PathMap` translates: a relative path is looked up under each
``--music-dir`` (where fpstream sees the folder Lyrion calls its music folder); an
absolute path has its ``--path-map FROM=TO`` prefix replaced. Answers go back in the
style of the request's first seed: relative to the first music dir that holds the track
(a track outside every music dir is never answered: the player could not queue it), or
absolute with the mapped prefix put back.

The choice follows bliss-mixer's, through ``fpstream.steering`` (the filters every
fpstream playlist uses): candidates by distance to the nearest seed; seeds, ``previous``
and copies of any of them or of a chosen track (within the duplicates distance) never
chosen; ``min``/``max`` duration (seconds, 0 = off), ``maxbpmdiff`` (within N BPM of the
nearest seed's tempo, 0 = off), ``filtergenre`` (``genregroups``: a candidate must share a
group with the seed; a track without genre is kept), ``filterxmas`` (no *Christmas*
genre, except in December) are hard filters; ``norepart``/``norepalb`` (no artist /
album twice within N tracks, counting ``previous``) are soft (``steering.Spacing``: the
windows shrink when no candidate fits). ``shuffle``: the ``2 × count`` nearest shuffled.
Genres, artists and albums come from tags when the library has them, else folders.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fpstream.duplicates import DEFAULT_MAX_DISTANCE
from fpstream.serve.security import BadRequest, int_field, str_list
from fpstream.serve.vectors import Snapshot
from fpstream.steering import Spacing, Steering, admissible
from store.library import LibraryError

MIN_COUNT, MAX_COUNT = 1, 50  # bliss-mixer clamps count to this range
CHRISTMAS = "christmas"
CUE_SUFFIX = ".CUE_TRACK."  # the plugin's encoding of a CUE sheet's track: <file>.CUE_TRACK.<n>


@dataclass(frozen=True)
class PathMap:
    """Between the paths a player sends and the library's stored paths.

    ``music_dirs``: folders (as fpstream stores them) that relative paths are joined to,
    in order. ``prefixes``: (FROM, TO) pairs: an absolute path starting with FROM (the
    player's mount) is the library's TO + the rest.
    """

    music_dirs: tuple[str, ...] = ()
    prefixes: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def parse(cls, music_dirs: Sequence[str], maps: Sequence[str]) -> PathMap:
        dirs = tuple(os.path.normpath(os.path.abspath(os.path.expanduser(d))) for d in music_dirs)
        pairs = []
        for item in maps:
            source, sep, target = item.partition("=")
            if not sep or not source or not target:
                raise ValueError(f"--path-map wants FROM=TO, not {item!r}")
            pairs.append((source.rstrip("/") or "/", target.rstrip("/") or "/"))
        return cls(dirs, tuple(pairs))

    def candidates(self, given: str) -> list[str]:
        """The stored paths ``given`` may stand for, most likely first (none escape their folder)."""
        if not given or "\x00" in given:
            return []
        if os.path.isabs(given):
            found = [os.path.normpath(given)]
            for source, target in self.prefixes:
                if given == source or given.startswith(source.rstrip("/") + "/"):
                    found.insert(0, os.path.normpath(target + given[len(source.rstrip("/")) :]))
            return found
        rel = os.path.normpath(given)
        if rel.startswith("..") or os.path.isabs(rel):
            return []  # a relative path climbing out of the music folder
        return [os.path.join(d, rel) for d in self.music_dirs]

    def to_library(self, snap: Snapshot, given: str) -> str | None:
        """The stored path of a track the player named, or None when no row matches."""
        for path in self.candidates(given):
            if path in snap.rows:
                return path
        return None

    def to_player(self, path: str, absolute: bool) -> str | None:
        """A stored path as the player names it, in the style its request used: ``absolute`` with a
        mapped prefix put back (else as stored); relative to the first music dir holding it. None
        for a track the player cannot name that way (it could not queue it)."""
        if absolute:
            for source, target in self.prefixes:
                if path == target or path.startswith(target.rstrip("/") + "/"):
                    return source.rstrip("/") + path[len(target.rstrip("/")) :]
            return None if self.prefixes else path  # with a mapping, others are not the player's
        for d in self.music_dirs:
            if path.startswith(d.rstrip("/") + "/"):
                return path[len(d.rstrip("/")) + 1 :]
        return None


@dataclass(frozen=True)
class MixRequest:
    count: int
    min_s: int
    max_s: int
    maxbpmdiff: int
    filtergenre: bool
    genregroups: tuple[frozenset[str], ...]
    allgenres: bool
    filterxmas: bool
    norepart: int
    norepalb: int
    shuffle: bool
    seeds: tuple[str, ...]
    previous: tuple[str, ...]

    @classmethod
    def parse(cls, body: dict[str, Any], single: bool) -> MixRequest:
        """The fields of a mix request (``single=False``) or a list request (``track``)."""
        if single:
            track = body.get("track")
            if not isinstance(track, str):
                raise BadRequest("track (a string) is required")
            seeds = [track]
        else:
            seeds = str_list(body.get("tracks"), "tracks")
            if not seeds:
                raise BadRequest("tracks (a non-empty list of paths) is required")
        groups = body.get("genregroups") or []
        if not isinstance(groups, list) or not all(
            isinstance(g, list) and all(isinstance(x, str) for x in g) for g in groups
        ):
            raise BadRequest("genregroups must be a list of lists of genre names")
        str_list([x for g in groups for x in g], "genregroups")  # the same bound on their total
        xmas = bool(int_field(body.get("filterxmas"), "filterxmas", 0, 0, 1))
        return cls(
            count=int_field(body.get("count"), "count", 5, MIN_COUNT, MAX_COUNT, clamp=True),
            min_s=int_field(body.get("min"), "min", 0, 0, 10**7),
            max_s=int_field(body.get("max"), "max", 0, 0, 10**7),
            maxbpmdiff=int_field(
                body.get("maxbpmdiff", body.get("maxbmpdiff")), "maxbpmdiff", 0, 0, 1000
            ),  # API.md's table spells it maxbmpdiff, its example and the plugin maxbpmdiff
            filtergenre=bool(int_field(body.get("filtergenre"), "filtergenre", 0, 0, 1)),
            genregroups=tuple(frozenset(x.casefold() for x in g) for g in groups),
            allgenres=bool(int_field(body.get("allgenres"), "allgenres", 0, 0, 1)),
            filterxmas=xmas,  # fpstream.steering lets Christmas music through in December, as bliss-mixer
            norepart=int_field(body.get("norepart"), "norepart", 0, 0, 1000),
            norepalb=int_field(body.get("norepalb"), "norepalb", 0, 0, 1000),
            shuffle=bool(int_field(body.get("shuffle"), "shuffle", 0, 0, 1)),
            seeds=tuple(seeds),
            previous=tuple(str_list(body.get("previous"), "previous")),
        )


def _acceptable_genres(req: MixRequest, seed_genres: frozenset[str]) -> frozenset[str] | None:
    """Genres a candidate may have (bliss-mixer ``get_genres``); None: no genre filter."""
    if not req.filtergenre or not req.genregroups:
        return None
    ok: set[str] = set()
    for group in req.genregroups:
        if (req.allgenres and seed_genres and seed_genres <= group) or (
            not req.allgenres and seed_genres & group
        ):
            ok |= group
    return frozenset(ok)


def _genre_refused(genres: frozenset[str], acceptable: frozenset[str], grouped: frozenset[str]) -> bool:
    """bliss-mixer ``filter_genre``: a track without genre passes; a seed in no group refuses
    candidates that are in one; else a candidate must share a genre with the seed's groups."""
    if not genres:
        return False
    if not acceptable:
        return bool(grouped and genres & grouped)
    return not genres & acceptable


def steering_of(req: MixRequest, previous: Sequence[str]) -> Steering:
    """The request's filters as an ``fpstream.steering.Steering`` (0 = off, as the mixers read it).

    Genre groups are not a plain allow-list (a track without genre passes), so they are applied
    beside it (:func:`_genre_refused`)."""
    return Steering(
        no_repeat_artist=req.norepart,
        no_repeat_album=req.norepalb,
        min_duration_s=req.min_s or None,
        max_duration_s=req.max_s or None,
        max_bpm_diff=req.maxbpmdiff or None,
        exclude_christmas=req.filterxmas,
        previous=tuple(previous),
    )


def choose(
    snap: Snapshot,
    req: MixRequest,
    seeds: Sequence[int],
    previous: Sequence[int],
    byartist: bool = False,
    paths: PathMap | None = None,
    absolute: bool = True,
) -> list[int]:
    """Rows of ``snap`` for a mix (or a list, one seed): nearest to any seed first, filtered by
    ``fpstream.steering`` (hard filters, then soft no-repeat spacing); with ``paths``, only
    tracks the player can name (``PathMap.to_player``)."""
    cat = snap.catalogue
    emb = snap.embedded
    steering = steering_of(req, [snap.features.paths[p] for p in previous])
    ok = admissible(cat, steering, seeds)
    dist = np.min(np.stack([np.linalg.norm(emb - emb[s], axis=1) for s in seeds]), axis=0)
    dist[~ok] = np.inf
    order = np.argsort(dist, kind="stable")[: int(np.count_nonzero(ok))]
    acceptable = _acceptable_genres(req, frozenset().union(*(cat.genres[s] for s in seeds)))
    grouped = frozenset().union(*req.genregroups) if req.genregroups else frozenset()
    seed_artists = {cat.artists[s] for s in seeds}
    anchors = [emb[r] for r in (*seeds, *previous)]
    want = req.count * (2 if req.shuffle else 1)
    spacing = Spacing(cat, steering)
    # Candidates passing every hard filter, nearest first, one per recording (a copy of a seed, of
    # the queue or of a nearer candidate is skipped); enough of them for the spacing to choose from.
    candidates: list[int] = []
    for j in order.tolist():
        if len(candidates) >= want + max(req.norepart, req.norepalb) * 4 + 50:
            break
        if paths is not None and paths.to_player(snap.features.paths[j], absolute) is None:
            continue
        if acceptable is not None and _genre_refused(cat.genres[j], acceptable, grouped):
            continue
        if byartist and cat.artists[j] not in seed_artists:
            continue
        if np.min(np.linalg.norm(np.asarray(anchors) - emb[j], axis=1)) <= DEFAULT_MAX_DISTANCE:
            continue
        candidates.append(j)
        anchors.append(emb[j])
    chosen: list[int] = []
    while len(chosen) < want and candidates:
        j = spacing.choose(chosen, candidates) if spacing.active else candidates[0]
        assert j is not None
        candidates.remove(j)
        chosen.append(j)
    # kept in the order chosen (nearest first, as the spacing allows): the player queues it as given
    if req.shuffle:
        random.shuffle(chosen)
    return chosen[: req.count]


def answer(snap: Snapshot, paths: PathMap, body: dict[str, Any], single: bool) -> str:
    """The text/plain answer to a mix (``single=False``) or list request: one path per line."""
    req = MixRequest.parse(body, single)
    seeds = _rows(snap, paths, req.seeds)
    if not seeds:
        return ""  # bliss-mixer: an unknown seed gives an empty list
    previous = _rows(snap, paths, req.previous)
    byartist = single and bool(int_field(body.get("byartist"), "byartist", 0, 0, 1))
    absolute = os.path.isabs(req.seeds[0])  # answer in the style the player asked in
    chosen = choose(snap, req, seeds, previous, byartist=byartist, paths=paths, absolute=absolute)
    return "".join(f"{paths.to_player(snap.features.paths[j], absolute)}\n" for j in chosen)


def _rows(snap: Snapshot, paths: PathMap, given: Sequence[str]) -> list[int]:
    rows = []
    for name in given:
        if CUE_SUFFIX in name:
            continue  # a CUE sheet's track: fpstream stores whole files only
        path = paths.to_library(snap, name)
        if path is None:
            continue
        row = snap.rows[path]
        try:
            rows.append(snap.index(row["path"]))
        except LibraryError:  # a failed or stale row: no vector to mix from, as an unknown seed
            continue
    return rows


__all__ = ["PathMap", "MixRequest", "answer", "choose"]

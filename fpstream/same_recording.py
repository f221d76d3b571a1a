"""Groups of files that hold the same recording, each naming the file to keep.

What ``fpstream duplicates`` and ``Library.duplicates`` return. The library's
Chromaprints are matched as :mod:`fpstream.recordings` describes (index, then
bit error rate of the aligned prints), and each group is ordered by the keep rule
of :mod:`fpstream.keep`: its first member is the file to keep. Every member
carries its BER and offset against that file. The codec, bit rate and tags of a
member come from its file's headers (``audio.codec``), read for group members
only.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audio.chromaprint import ITEMS_PER_SECOND
from audio.codec import StreamFacts, stream_facts
from audio.readers import DecodeError
from fpstream import recordings
from fpstream.keep import Candidate, order, reason
from store.chromaprints import load_details, load_prints, load_windows


@dataclass(frozen=True)
class DuplicateMember:
    """One file of a group. ``ber`` and ``offset_s`` are against the file kept (0 for itself):
    ``offset_s`` > 0 means this file lacks the first seconds of the kept one."""

    path: str
    keep: bool
    ber: float
    offset_s: float
    codec: str  # FFmpeg's decoder name, "?" when the file cannot be read now
    lossless: bool
    bit_rate: int | None  # bits per second (module keep: what it means for lossless files)
    derived: bool  # written by fpstream (ENCODER=fpstream ..., DERIVED_FROM, or the row's derived_from)
    size: int | None
    duration_s: float | None
    sample_rate: int | None
    channels: int | None
    title: str | None = None  # tags, when the library has them (None otherwise)
    artist: str | None = None
    album: str | None = None
    note: str = ""  # why the file could not be read now, or ""

    @property
    def format(self) -> str:
        """The file's format as its name says it (``FLAC``, ``MP3``…; ``?`` without one)."""
        return Path(self.path).suffix.lstrip(".").upper() or "?"


@dataclass(frozen=True)
class DuplicateGroup:
    group: int
    reason: str  # why the first member is the one to keep (module keep)
    members: list[DuplicateMember] = field(default_factory=list)

    @property
    def kept(self) -> DuplicateMember:
        return self.members[0]

    @property
    def max_ber(self) -> float:
        """The largest BER of a member against the kept file."""
        return max(m.ber for m in self.members)


@dataclass(frozen=True)
class Duplicates:
    groups: list[DuplicateGroup]
    indexed: int  # done tracks with a Chromaprint, all searched
    without_print: int  # done tracks without one yet (re-run feed to fill them in)


def _facts(path: str) -> StreamFacts | str:
    try:
        return stream_facts(path)
    except DecodeError as exc:
        return str(exc)
    except OSError as exc:  # gone or unreadable since it was fingerprinted
        return exc.strerror or str(exc)


def _against(
    prints: recordings.Prints, kept: np.ndarray, other: np.ndarray, offset: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """BER (and offset, in items) of each ``other[k]`` against ``kept[k]``: at the offset the
    matches compose to, and one item either side, the best of the three."""
    best = np.full(len(other), 1.0)
    at = offset.copy()
    for shift in (0, -1, 1):
        ber, _ = recordings.aligned_ber(prints, kept, other, offset + shift)
        better = ber < best
        best[better], at[better] = ber[better], offset[better] + shift
    return best, at


def _candidate(row: dict, facts: StreamFacts | str) -> Candidate:
    """What the keep rule looks at, from the row and the file's headers (a str: unreadable)."""
    known = isinstance(facts, StreamFacts)
    return Candidate(
        path=row["path"],
        readable=known,
        derived=(known and facts.derived) or bool(row.get("derived_from")),
        lossless=known and facts.lossless,
        bit_rate=facts.bit_rate if known else None,
        duration_s=row["duration_s"],
        size=row["size"],
    )


def find_duplicates(conn: sqlite3.Connection, max_ber: float = recordings.MAX_BER) -> Duplicates:
    """Every group of files holding the same recording in the library behind ``conn``."""
    if not 0 <= max_ber < 0.5:
        raise ValueError("max_ber must be at least 0 and below 0.5 (0.5 is chance)")
    windows = load_windows(conn, recordings.QUERY_ITEMS)
    window = recordings.Prints.from_blobs(windows.blobs)
    candidates = recordings.candidate_pairs(window)
    # only the tracks the index paired are read whole, numbered 0.. in `involved` order
    involved = np.unique(np.r_[candidates.a, candidates.b])
    whole = recordings.Prints.from_blobs(load_prints(conn, windows.rowids[involved].tolist()))
    local = recordings.Candidates(
        np.searchsorted(involved, candidates.a),
        np.searchsorted(involved, candidates.b),
        candidates.offset,
        candidates.votes,
    )
    matched = recordings.verify(whole, local, windows.durations[involved], max_ber)
    groups_local = recordings.connected_groups(len(involved), matched)
    rowids = windows.rowids[involved]
    details = load_details(conn, [int(rowids[i]) for g in groups_local for i in g])
    edges = recordings.match_edges(matched)
    ranked_groups = []
    for members in groups_local:
        facts = {i: _facts(details[int(rowids[i])]["path"]) for i in members}
        candidates_of = {i: _candidate(details[int(rowids[i])], facts[i]) for i in members}
        by_path = {c.path: i for i, c in candidates_of.items()}
        ranked = [by_path[c.path] for c in order(list(candidates_of.values()))]
        ranked_groups.append((ranked, facts, candidates_of))
    # every member against its group's kept file, in one pass
    kept_of, other_of, offset_of = [], [], []
    for ranked, _, _ in ranked_groups:
        composed = recordings.offsets_from(ranked[0], edges)
        for i in ranked[1:]:
            kept_of.append(ranked[0])
            other_of.append(i)
            offset_of.append(composed[i])
    ber, offset = _against(
        whole, np.array(kept_of, np.int64), np.array(other_of, np.int64), np.array(offset_of, np.int64)
    )
    against = {(k, o): (float(e), int(d)) for k, o, e, d in zip(kept_of, other_of, ber, offset, strict=True)}
    groups = []
    for ranked, facts, candidates_of in ranked_groups:
        out = []
        for j, i in enumerate(ranked):
            f, row, c = facts[i], details[int(rowids[i])], candidates_of[i]
            known = isinstance(f, StreamFacts)
            e, d = (0.0, 0) if j == 0 else against[ranked[0], i]
            out.append(
                DuplicateMember(
                    path=row["path"],
                    keep=j == 0,
                    ber=e,
                    offset_s=d / ITEMS_PER_SECOND,
                    codec=f.codec if known else "?",
                    lossless=c.lossless,
                    bit_rate=c.bit_rate,
                    derived=c.derived,
                    size=row["size"],
                    duration_s=row["duration_s"],
                    sample_rate=row["sample_rate"],
                    channels=row["channels"],
                    title=row.get("title"),
                    artist=row.get("artist"),
                    album=row.get("album"),
                    note="" if known else f"cannot be read now: {f}",
                )
            )
        groups.append((out, reason(candidates_of[ranked[0]], candidates_of[ranked[1]])))
    groups.sort(key=lambda g: g[0][0].path)
    return Duplicates(
        [DuplicateGroup(n, why, members) for n, (members, why) in enumerate(groups, start=1)],
        indexed=len(windows.rowids),
        without_print=windows.without_print,
    )


#: The columns of one record per member (``fpstream duplicates --format``, ``/api/duplicates``).
RECORD_COLUMNS: tuple[str, ...] = (
    "group",
    "action",
    "ber",
    "offset_s",
    "codec",
    "lossless",
    "bit_rate_kbps",
    "derived",
    "size",
    "duration_s",
    "sample_rate",
    "channels",
    "title",
    "artist",
    "album",
    "reason",
    "note",
    "path",
)


def group_records(group: DuplicateGroup) -> list[dict[str, Any]]:
    """One plain record per member of ``group``, keys :data:`RECORD_COLUMNS`, the kept file first."""
    return [
        {
            "group": group.group,
            "action": "keep" if m.keep else "copy",
            "ber": m.ber,
            "offset_s": m.offset_s,
            "codec": m.codec,
            "lossless": m.lossless,
            "bit_rate_kbps": None if m.bit_rate is None else round(m.bit_rate / 1000),
            "derived": m.derived,
            "size": m.size,
            "duration_s": m.duration_s,
            "sample_rate": m.sample_rate,
            "channels": m.channels,
            "title": m.title,
            "artist": m.artist,
            "album": m.album,
            "reason": group.reason if m.keep else "",
            "note": m.note,
            "path": m.path,
        }
        for m in group.members
    ]

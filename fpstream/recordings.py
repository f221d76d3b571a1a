"""Which files hold the same recording: Chromaprint fingerprints matched as AcoustID matches them.

An *item* is one 32-bit sub-fingerprint of a raw Chromaprint (≈0.124 s of
audio, ``audio/chromaprint.py``). Two files are the same recording when their
prints, aligned, differ in few bits; finding which pairs to compare uses an
index, never all pairs.

1. **Index** (:func:`candidate_pairs`). From each track's first
   :data:`QUERY_ITEMS` items (≈32 s), each item's top 28 bits (AcoustID's query
   bits: the low filters flip first under a lossy codec) become a key. Of each
   track's distinct keys, the :data:`SKETCH` of lowest hash are indexed (a
   bottom-k sketch: the choice depends on the values only, so a copy keeps the
   same keys whatever its offset). Sorting the (key, track, position) entries
   puts equal keys side by side: an inverted index. A key found in more than
   :data:`MAX_BUCKET` tracks (silence, a steady tone) says nothing about
   identity and is dropped. Each pair of tracks sharing a key votes for the
   offset between the two positions; a pair with at least :data:`MIN_VOTES`
   votes for one offset within ±:data:`MAX_OFFSET` items (≈10 s, AcoustID's
   ``TRACK_MAX_OFFSET`` of 80) is a candidate, aligned at that offset
   (AcoustID's ``match_fingerprints2`` aligns by the same histogram of offsets).
2. **Verification** (:func:`verify`). The bit error rate (BER) between the
   aligned items of the two whole stored prints (≤ 120 s), at the voted offset
   and one item either side (a trim that is not a whole hop falls between
   two), the best of the three. A pair is the same recording when its BER is at
   most :data:`MAX_BER`, the overlap covers at least :data:`MIN_OVERLAP` of the
   shorter print, and the durations differ by at most
   :data:`MAX_DURATION_DIFF_S` (AcoustID's ``FINGERPRINT_MAX_LENGTH_DIFF``).
3. **Groups**: connected sets of such pairs.

:data:`MAX_BER` = 0.15 is AcoustID's ``TRACK_MERGE_THRESHOLD`` (a score ``1 − 2·BER``
of 0.7), and measurement agrees (docs/duplicates.md): copies trimmed by 2 s in FLAC,
WAV, MP3 192k, AAC 256k, Opus 96k, Vorbis q2 and WMA lay at BER 0.004–0.06;
different recordings at 0.187 (two versions of one theme sharing passages) and
above, two arrangements of one tune at 0.43, chance at 0.5.

Tracks whose query window has fewer than :data:`MIN_UNIQUE` distinct keys (a
silent track, a constant tone, or under ≈2 s of audio) cannot be identified
and are never grouped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audio.chromaprint import ITEMS_PER_SECOND
from fpstream.thresholds import MAX_BER  # noqa: F401  (the limit verify() applies; chosen as said above)

#: Items from the start of each print that go into the index (≈32 s).
QUERY_ITEMS = 256
#: Top bits of an item that make its key (AcoustID's ACOUSTID_QUERY_BITS).
KEY_BITS = 28
#: Keys indexed per track: those of lowest hash (a bottom-k sketch of its query window).
SKETCH = 80
#: Keys shared by more tracks than this are dropped from the index.
MAX_BUCKET = 64
#: Largest alignment searched, in items (AcoustID's TRACK_MAX_OFFSET): ≈9.9 s.
MAX_OFFSET = 80
#: Shared keys at one offset that make a pair a candidate.
MIN_VOTES = 2
#: Distinct keys a track's query window needs to be identifiable.
MIN_UNIQUE = 10
#: Share of the shorter print the aligned overlap must cover.
MIN_OVERLAP = 0.5
#: Largest difference of durations between copies, seconds.
MAX_DURATION_DIFF_S = 7.0

_KNUTH = np.uint32(2654435761)  # multiplicative hash (Knuth): the sketch's order of keys
_PAD = 0xFFFFFFFF


def _positions(lengths: np.ndarray) -> np.ndarray:
    """0..length-1 for each length, concatenated."""
    return np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)


@dataclass(frozen=True)
class Prints:
    """Many raw prints in one array: track ``t`` is ``items[starts[t] : starts[t] + lengths[t]]``."""

    items: np.ndarray  # uint32
    starts: np.ndarray  # int64
    lengths: np.ndarray  # int64

    @classmethod
    def of(cls, prints: list[np.ndarray]) -> Prints:
        lengths = np.array([len(p) for p in prints], dtype=np.int64)
        starts = np.zeros(len(prints), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        items = np.concatenate(prints).astype(np.uint32) if prints else np.empty(0, np.uint32)
        return cls(items, starts, lengths)

    @classmethod
    def from_blobs(cls, blobs: list[bytes]) -> Prints:
        """From stored BLOBs (little-endian uint32 items), without a copy per track."""
        lengths = np.array([len(b) // 4 for b in blobs], dtype=np.int64)
        starts = np.zeros(len(blobs), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        items = np.frombuffer(b"".join(blobs), dtype="<u4").astype(np.uint32)
        return cls(items, starts, lengths)

    def __len__(self) -> int:
        return len(self.lengths)

    def track(self, t: int) -> np.ndarray:
        return self.items[self.starts[t] : self.starts[t] + self.lengths[t]]


@dataclass(frozen=True)
class Candidates:
    """Pairs ``(a[k], b[k])``, ``a < b``, aligned so that item ``i + offset[k]`` of ``a`` meets
    item ``i`` of ``b``; ``votes``: shared index keys at that offset."""

    a: np.ndarray
    b: np.ndarray
    offset: np.ndarray
    votes: np.ndarray


def _keys(items: np.ndarray) -> np.ndarray:
    return items >> np.uint32(32 - KEY_BITS)


def candidate_pairs(window: Prints) -> Candidates:
    """Candidate pairs from the inverted index of the tracks' query windows (see the module doc).

    ``window``: each track's first items; only the first QUERY_ITEMS of each are used. At most
    2**20 tracks (the index packs a track number in 20 bits).
    """
    n = len(window)
    if n > 1 << 20 or QUERY_ITEMS > 1 << 9:
        raise ValueError(f"{n} tracks: the index takes at most {1 << 20}")
    empty = np.empty(0, dtype=np.int64)
    if n < 2:
        return Candidates(empty, empty, empty, empty)
    # each track's window as one row of a matrix of key hashes, padded with PAD (which sorts last;
    # a key whose hash is PAD is dropped from every print alike)
    lengths = np.minimum(window.lengths, QUERY_ITEMS)
    width = int(lengths.max(initial=0))
    inside = np.arange(width)[None, :] < lengths[:, None]
    if np.array_equal(lengths, window.lengths):  # the items are the rows, in order
        items = window.items
    else:
        items = window.items[np.repeat(window.starts, lengths) + _positions(lengths)]
    hashed = np.full((n, width), _PAD, dtype=np.uint32)
    hashed[inside] = _keys(items) * _KNUTH  # wraps: a multiplicative hash (Knuth), one-to-one
    # within each row by hash, then position (packed in one integer: a plain sort, no argsort)
    packed = hashed.astype(np.int64)
    del hashed
    packed <<= 9
    packed |= np.arange(width, dtype=np.int64)
    packed.sort(axis=1)
    key = packed >> 9
    distinct = key != _PAD
    distinct[:, 1:] &= key[:, 1:] != key[:, :-1]
    # the SKETCH keys of lowest hash per track (a bottom-k sketch: copies keep the same ones);
    # tracks with too few distinct keys (silence, a steady tone, a very short track) do not pair
    rank = np.cumsum(distinct, axis=1, dtype=np.int16)
    usable = rank[:, -1] >= MIN_UNIQUE if width else np.zeros(n, dtype=bool)
    chosen = distinct & (rank <= SKETCH) & usable[:, None]
    rows, cols = np.nonzero(chosen)
    # an inverted index: (key, track, position) packed in one integer and sorted, so equal keys
    # are neighbours; keys found in too many tracks are dropped
    packed = ((packed[rows, cols] >> 9) << 29) | (rows.astype(np.int64) << 9) | (packed[rows, cols] & 511)
    packed.sort()
    keys = packed >> 29
    track = (packed >> 9) & ((1 << 20) - 1)
    pos = packed & ((1 << 9) - 1)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    sizes = np.diff(np.r_[starts, len(keys)])
    keep = np.repeat(sizes <= MAX_BUCKET, sizes)
    track, pos, keys = track[keep], pos[keep], keys[keep]
    # every pair within a bucket: entry i with entry i + k while the key is the same
    found_a, found_b, found_d = [], [], []
    alive = np.arange(len(keys) - 1)
    k = 1
    while alive.size:
        alive = alive[alive + k < len(keys)]
        alive = alive[keys[alive + k] == keys[alive]]
        if not alive.size:
            break
        d = pos[alive] - pos[alive + k]
        close = np.abs(d) <= MAX_OFFSET
        found_a.append(track[alive[close]])
        found_b.append(track[alive[close] + k])
        found_d.append(d[close])
        k += 1
    if not found_a:
        return Candidates(empty, empty, empty, empty)
    a, b, d = np.concatenate(found_a), np.concatenate(found_b), np.concatenate(found_d)
    # votes per (pair, offset), then the best offset of each pair
    span = 2 * MAX_OFFSET + 1
    code = (a * n + b) * span + (d + MAX_OFFSET)
    codes, votes = np.unique(code, return_counts=True)
    pair, offset = np.divmod(codes, span)
    order = np.lexsort((-votes, pair))
    pair, offset, votes = pair[order], offset[order], votes[order]
    best = np.r_[True, pair[1:] != pair[:-1]]
    pair, offset, votes = pair[best], offset[best] - MAX_OFFSET, votes[best]
    strong = votes >= MIN_VOTES
    a, b = np.divmod(pair[strong], n)
    return Candidates(a, b, offset[strong], votes[strong])


def aligned_ber(
    prints: Prints, a: np.ndarray, b: np.ndarray, offset: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bit error rate between tracks ``a`` and ``b`` of ``prints`` aligned at ``offset`` (item
    ``i + offset`` of ``a`` meets item ``i`` of ``b``), and the number of items that overlap.

    A pair that does not overlap gets BER 1.0 and overlap 0.
    """
    a, b, offset = (np.asarray(x, dtype=np.int64) for x in (a, b, offset))
    start_a = prints.starts[a] + np.maximum(offset, 0)
    start_b = prints.starts[b] + np.maximum(-offset, 0)
    overlap = np.maximum(
        0, np.minimum(prints.lengths[a] - np.maximum(offset, 0), prints.lengths[b] - np.maximum(-offset, 0))
    )
    ber = np.ones(len(a))
    block = 2048
    for lo in range(0, len(a), block):
        hi = min(len(a), lo + block)
        width = int(overlap[lo:hi].max(initial=0))
        if width == 0:
            continue
        steps = np.arange(width)
        inside = steps[None, :] < overlap[lo:hi, None]
        ia = np.where(inside, start_a[lo:hi, None] + steps, 0)
        ib = np.where(inside, start_b[lo:hi, None] + steps, 0)
        errors = np.bitwise_count(prints.items[ia] ^ prints.items[ib]).astype(np.int64)
        errors[~inside] = 0
        bits = 32 * overlap[lo:hi]
        with np.errstate(invalid="ignore", divide="ignore"):
            ber[lo:hi] = np.where(bits > 0, errors.sum(axis=1) / np.maximum(bits, 1), 1.0)
    return ber, overlap


@dataclass(frozen=True)
class Match:
    """Two tracks that hold the same recording: ``offset_s`` is how much later ``b`` starts in
    ``a``'s audio (positive: ``b`` lacks the first seconds of ``a``)."""

    a: int
    b: int
    ber: float
    offset: int  # items: item i + offset of a meets item i of b

    @property
    def offset_s(self) -> float:
        return self.offset / ITEMS_PER_SECOND


def verify(
    prints: Prints, candidates: Candidates, durations: np.ndarray, max_ber: float = MAX_BER
) -> list[Match]:
    """The candidates that hold the same recording (see the module doc). ``prints``: the whole
    stored prints, indexed like the candidates; ``durations``: each track's length in seconds."""
    if len(candidates.a) == 0:
        return []
    a, b, d = candidates.a, candidates.b, candidates.offset
    best_ber = np.full(len(a), 2.0)
    best_off = d.copy()
    best_overlap = np.zeros(len(a), dtype=np.int64)
    for shift in (0, -1, 1):
        ber, overlap = aligned_ber(prints, a, b, d + shift)
        better = ber < best_ber
        best_ber[better], best_off[better], best_overlap[better] = (
            ber[better],
            d[better] + shift,
            overlap[better],
        )
    shorter = np.minimum(prints.lengths[a], prints.lengths[b])
    ok = (
        (best_ber <= max_ber)
        & (best_overlap >= MIN_OVERLAP * shorter)
        & (np.abs(durations[a] - durations[b]) <= MAX_DURATION_DIFF_S)
    )
    return [
        Match(int(x), int(y), float(e), int(o))
        for x, y, e, o in zip(a[ok], b[ok], best_ber[ok], best_off[ok], strict=True)
    ]


def connected_groups(n: int, matches: list[Match]) -> list[list[int]]:
    """Connected sets (at least two tracks, sorted) of the pairs in ``matches``, by first member."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for m in matches:
        ra, rb = root(m.a), root(m.b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[int, list[int]] = {}
    for i in sorted({m.a for m in matches} | {m.b for m in matches}):
        members.setdefault(root(i), []).append(i)
    return sorted(members.values(), key=lambda g: g[0])


def offsets_from(start: int, edges: dict[int, list[tuple[int, int]]]) -> dict[int, int]:
    """The offset (items) of every track connected to ``start`` against it, composed along the
    matches (breadth first: the fewest steps); item ``i + offset`` of ``start`` meets item ``i``
    of the other. ``edges``: :func:`match_edges`."""
    found = {start: 0}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for other, step in edges.get(node, []):
                if other not in found:
                    found[other] = found[node] + step
                    nxt.append(other)
        frontier = nxt
    return found


def match_edges(matches: list[Match]) -> dict[int, list[tuple[int, int]]]:
    """Each track's matched neighbours with their offsets (both directions)."""
    edges: dict[int, list[tuple[int, int]]] = {}
    for m in matches:
        edges.setdefault(m.a, []).append((m.b, m.offset))
        edges.setdefault(m.b, []).append((m.a, -m.offset))
    return edges

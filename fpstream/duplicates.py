"""Near-identical 25-number fingerprints: what playlists and the mixer keep apart as copies.

(``fpstream duplicates`` decides "the same recording" by Chromaprint instead:
``fpstream.same_recording``, docs/duplicates.md.) Two tracks are near-copies when
their similarity distance (``fpstream.similarity``: robust-scaled, weighted
Euclidean) is at most ``max_distance``; a group is a connected set of such pairs
(single linkage). The default threshold, :data:`DEFAULT_MAX_DISTANCE` = 0.12,
comes from a measurement on real music (docs/duplicates.md, "The 25-number
distance"; 41 freely licensed Ogg Vorbis tracks plus WAV, FLAC, MP3 192k and
Vorbis q2 re-encodes of three of them): lossless copies lay at
0.0000–0.0013, MP3 copies at 0.009–0.013, the heavy q2 re-encodes at
0.030–0.095, while the nearest *different* recording was never closer than
0.152 (median 0.24). 0.12 sits between the two.

The search is exact but avoids comparing all pairs: every pair within ``D``
is also within ``D`` on any unit direction (``|u·(a−b)| ≤ |a−b|``), so the
tracks are sorted along the library's first principal axis and each is
compared only with the following ones until the projection gap exceeds ``D``.
With a small ``D`` that is a few comparisons per track (about 0.2 s for
100 000 tracks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fpstream.thresholds import DEFAULT_MAX_DISTANCE  # noqa: F401  (chosen as the docstring says)


@dataclass(frozen=True)
class IndexGroup:
    """Row indices of one group (sorted) and the largest distance between two of them."""

    rows: tuple[int, ...]
    max_distance: float


def principal_axis(embedded: np.ndarray) -> np.ndarray:
    """Unit vector of largest variance of ``embedded`` (rows = tracks)."""
    centred = embedded - embedded.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    return vectors[:, -1]


def close_pairs(embedded: np.ndarray, max_distance: float) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``(i, j)``, ``i < j``, whose Euclidean distance is ``<= max_distance``.

    ``embedded``: scaled fingerprints multiplied by the square roots of the
    (normalised) weights, so that Euclidean distance here is the similarity
    distance.
    """
    n = embedded.shape[0]
    if n < 2:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    projection = embedded @ principal_axis(embedded)
    order = np.argsort(projection, kind="stable")
    sorted_proj = projection[order]
    sorted_rows = embedded[order]
    found_i, found_j = [], []
    alive = np.arange(n - 1)  # positions whose window is not exhausted yet
    offset = 1
    while alive.size:
        alive = alive[alive + offset < n]
        alive = alive[sorted_proj[alive + offset] - sorted_proj[alive] <= max_distance]
        if not alive.size:
            break
        diff = sorted_rows[alive + offset] - sorted_rows[alive]
        near = np.einsum("ij,ij->i", diff, diff) <= max_distance * max_distance
        found_i.append(order[alive[near]])
        found_j.append(order[alive[near] + offset])
        offset += 1
    if not found_i:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    i, j = np.concatenate(found_i), np.concatenate(found_j)
    return np.minimum(i, j), np.maximum(i, j)


def duplicate_groups(embedded: np.ndarray, max_distance: float) -> list[IndexGroup]:
    """Connected groups of tracks within ``max_distance`` of each other, ordered by first row."""
    if not max_distance >= 0:
        raise ValueError("max_distance must be >= 0")
    first, second = close_pairs(embedded, max_distance)
    parent = list(range(embedded.shape[0]))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in zip(first.tolist(), second.tolist(), strict=True):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[int, list[int]] = {}
    for i in sorted(set(first.tolist()) | set(second.tolist())):
        members.setdefault(root(i), []).append(i)
    groups = []
    for rows in members.values():
        block = embedded[rows]
        diff = block[:, None, :] - block[None, :, :]
        widest = float(np.sqrt(np.einsum("ijk,ijk->ij", diff, diff).max()))
        groups.append(IndexGroup(tuple(rows), widest))
    return sorted(groups, key=lambda g: g.rows[0])

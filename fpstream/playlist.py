"""Playlists that move smoothly through fingerprint space.

Both walks work on the *embedded* library: robust-scaled fingerprints times the
square roots of the normalised weights (``fpstream.similarity``), where the
Euclidean distance is the similarity distance.

- **From a seed** (:func:`walk`): greedy nearest-neighbour chaining — each next
  track is the unplayed track nearest to the current one (the classic
  nearest-neighbour tour heuristic of the travelling-salesman problem) — then the
  order of the chosen tracks is improved by 2-opt moves (Croes 1958: reverse a
  stretch when that shortens the whole path without lengthening its largest
  step), which removes the long jumps back that greedy chaining leaves.
- **From A to B** (:func:`path_to`): among tracks that are closer to B than A
  is and closer to A than B is (the "lens" between them), the path whose
  distance to B *strictly decreases* at every step and whose **largest step is
  smallest** (a minimax / bottleneck path, found by dynamic programming over the
  tracks ordered by distance to B). Of the paths with that largest step, the one
  with the most tracks (up to ``n``) is chosen, so the steps are also short on
  average.

Near-duplicates (format copies, within ``duplicate_distance`` of a track already
in the list, ``fpstream.duplicates``) never appear twice: choosing a track uses
up its copies.
"""

from __future__ import annotations

import numpy as np

#: The A-to-B search considers at most this many tracks of the lens (nearest the
#: straight line first): the dynamic programme is quadratic in it.
MAX_PATH_CANDIDATES = 400


def _dist(embedded: np.ndarray, i: int) -> np.ndarray:
    diff = embedded - embedded[i]
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


def walk(embedded: np.ndarray, seed: int, n: int, duplicate_distance: float) -> list[int]:
    """``n`` row indices (fewer if the library runs out) starting at ``seed``, nearest unplayed next."""
    used = np.zeros(embedded.shape[0], dtype=bool)
    order = [seed]
    current_d = _dist(embedded, seed)
    used |= current_d <= duplicate_distance
    used[seed] = True
    while len(order) < n and not used.all():
        masked = np.where(used, np.inf, current_d)
        nxt = int(np.argmin(masked))  # ties: the lowest row, i.e. the first path
        order.append(nxt)
        current_d = _dist(embedded, nxt)
        used |= current_d <= duplicate_distance
        used[nxt] = True
    return two_opt(embedded, order)


def two_opt(embedded: np.ndarray, order: list[int], max_rounds: int = 50) -> list[int]:
    """``order`` (first track fixed) improved by segment reversals that shorten the path.

    A reversal of ``order[i..j]`` replaces the steps ``(i-1, i)`` and ``(j, j+1)`` by
    ``(i-1, j)`` and ``(i, j+1)``; it is kept when the total length drops and the
    largest step does not grow (Croes 1958, "A method for solving traveling-salesman
    problems", for an open path with a fixed start).
    """
    path = list(order)
    m = len(path)
    if m < 4:
        return path
    points = embedded[path]
    diff = points[:, None, :] - points[None, :, :]
    d = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    seq = list(range(m))

    def steps(s: list[int]) -> np.ndarray:
        return d[s[:-1], s[1:]]

    for _ in range(max_rounds):
        improved = False
        for i in range(1, m - 1):
            for j in range(i + 1, m):
                before = d[seq[i - 1], seq[i]] + (d[seq[j], seq[j + 1]] if j + 1 < m else 0.0)
                after = d[seq[i - 1], seq[j]] + (d[seq[i], seq[j + 1]] if j + 1 < m else 0.0)
                if after < before - 1e-12:
                    candidate = seq[:i] + seq[i : j + 1][::-1] + seq[j + 1 :]
                    if steps(candidate).max() <= steps(seq).max() + 1e-12:
                        seq = candidate
                        improved = True
        if not improved:
            break
    return [path[k] for k in seq]


def path_to(embedded: np.ndarray, start: int, end: int, n: int, duplicate_distance: float) -> list[int]:
    """At most ``n`` row indices from ``start`` to ``end`` (both included), as the module describes.

    Distances to ``end`` strictly decrease along the path; copies of ``start``,
    ``end`` and of each other are left out.
    """
    if n < 2:
        raise ValueError("a path from A to B has at least 2 tracks")
    to_end = _dist(embedded, end)
    from_start = _dist(embedded, start)
    span = to_end[start]
    if span <= duplicate_distance:
        raise ValueError("the two tracks are copies of each other (nothing to travel)")
    lens = (to_end < span) & (from_start < span)
    lens &= (to_end > duplicate_distance) & (from_start > duplicate_distance)
    lens[[start, end]] = False
    candidates = np.flatnonzero(lens)
    detour = from_start[candidates] + to_end[candidates]
    candidates = candidates[np.lexsort((candidates, detour))][:MAX_PATH_CANDIDATES]
    kept: list[int] = []  # one track per group of copies: the one nearest the straight line
    for c in candidates.tolist():
        if not kept or np.min(np.linalg.norm(embedded[kept] - embedded[c], axis=1)) > duplicate_distance:
            kept.append(c)
    # Nodes in order of decreasing distance to the end: start first, end last.
    middle = sorted(kept, key=lambda c: (-to_end[c], c))
    nodes = np.array([start, *middle, end])
    m = nodes.size
    points = embedded[nodes]
    diff = points[:, None, :] - points[None, :, :]
    step = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    forward = np.triu(np.ones((m, m), dtype=bool), k=1)  # u before v: strictly closer to the end
    forward &= to_end[nodes][:, None] > to_end[nodes][None, :]
    step = np.where(forward, step, np.inf)
    # best[L][v]: smallest largest step of a path start -> v with L steps.
    best = np.full(m, np.inf)
    best[0] = 0.0
    back: list[np.ndarray] = []
    finals: list[float] = []
    for _ in range(min(n - 1, m - 1)):
        through = np.maximum(best[:, None], step)
        prev = np.argmin(through, axis=0)
        best = through[prev, np.arange(m)]
        back.append(prev)
        finals.append(float(best[-1]))
    smallest = min(finals)
    steps = max(i + 1 for i, value in enumerate(finals) if value <= smallest)
    path = [m - 1]
    for level in range(steps - 1, -1, -1):
        path.append(int(back[level][path[-1]]))
    return [int(nodes[i]) for i in reversed(path)]

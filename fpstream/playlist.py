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

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from fpstream.steering import Spacing

#: The A-to-B search considers at most this many tracks of the lens (nearest the
#: straight line first): the dynamic programme is quadratic in it.
MAX_PATH_CANDIDATES = 400


def _dist(embedded: np.ndarray, i: int) -> np.ndarray:
    diff = embedded - embedded[i]
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


def walk(
    embedded: np.ndarray,
    seed: int,
    n: int,
    duplicate_distance: float,
    blocked: np.ndarray | None = None,
    spacing: Spacing | None = None,
) -> list[int]:
    """``n`` row indices (fewer if the library runs out) starting at ``seed``, nearest unplayed next.

    ``blocked``: rows never chosen (the steering filters); ``spacing``: the soft
    no-repeat rule (``fpstream.steering.Spacing``), which picks the nearest track
    that may follow, and which the 2-opt pass does not break further.
    """
    return gather(embedded, [seed], n, duplicate_distance, blocked, spacing)


def gather(
    embedded: np.ndarray,
    seeds: Sequence[int],
    n: int,
    duplicate_distance: float,
    blocked: np.ndarray | None = None,
    spacing: Spacing | None = None,
) -> list[int]:
    """The seeds, then tracks near them, ``n`` in all (fewer if the library runs out), smoothly ordered.

    One seed: each next track is the one nearest to the current track (a walk
    that may drift, as ``walk`` always did). Several seeds: **round-robin** — the
    k-th chosen track is the one nearest to seed ``k mod len(seeds)`` — so every
    seed gets an equal share of its own neighbourhood. (The mean of the seeds'
    vectors was rejected: for a calm and a loud seed it is a "medium" point near
    neither, so the playlist would hold neither kind.) The tracks are then put in
    a smooth order by 2-opt, the first seed staying first.
    """
    used = np.zeros(embedded.shape[0], dtype=bool) if blocked is None else blocked.copy()
    order: list[int] = []
    for s in seeds:
        order.append(s)
        used |= _dist(embedded, s) <= duplicate_distance
    used[list(seeds)] = True
    current_d = _dist(embedded, order[-1])
    seed_d = [_dist(embedded, s) for s in seeds] if len(seeds) > 1 else None
    while len(order) < n and not used.all():
        if seed_d is not None:
            current_d = seed_d[(len(order) - len(seeds)) % len(seeds)]
        masked = np.where(used, np.inf, current_d)
        if spacing is None or not spacing.active:
            nxt = int(np.argmin(masked))  # ties: the lowest row, i.e. the first path
        else:
            ranked = np.argsort(masked, kind="stable")[: int(np.count_nonzero(~used))]
            nxt = spacing.choose(order, ranked.tolist())
            assert nxt is not None  # ranked is not empty while a row is unused
        order.append(nxt)
        d = _dist(embedded, nxt)
        used |= d <= duplicate_distance
        used[nxt] = True
        if seed_d is None:
            current_d = d
    allowed = spacing.penalty if spacing is not None and spacing.active else None
    return two_opt(embedded, order, allowed=allowed)


def two_opt(
    embedded: np.ndarray,
    order: list[int],
    max_rounds: int = 50,
    allowed: Callable[[list[int]], int] | None = None,
) -> list[int]:
    """``order`` (first track fixed) improved by segment reversals that shorten the path.

    A reversal of ``order[i..j]`` replaces the steps ``(i-1, i)`` and ``(j, j+1)`` by
    ``(i-1, j)`` and ``(i, j+1)``; it is kept when the total length drops and the
    largest step does not grow (Croes 1958, "A method for solving traveling-salesman
    problems", for an open path with a fixed start). ``allowed``: counts the rule
    breaks of an order (``Spacing.penalty``); a reversal that raises it is refused.
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
                    if steps(candidate).max() <= steps(seq).max() + 1e-12 and (
                        allowed is None
                        or allowed([path[k] for k in candidate]) <= allowed([path[k] for k in seq])
                    ):
                        seq = candidate
                        improved = True
        if not improved:
            break
    return [path[k] for k in seq]


def path_to(
    embedded: np.ndarray,
    start: int,
    end: int,
    n: int,
    duplicate_distance: float,
    blocked: np.ndarray | None = None,
) -> list[int]:
    """At most ``n`` row indices from ``start`` to ``end`` (both included), as the module describes.

    Distances to ``end`` strictly decrease along the path; copies of ``start``,
    ``end`` and of each other are left out, and so are ``blocked`` rows.
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
    if blocked is not None:
        lens &= ~blocked
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


def steered_path_to(
    embedded: np.ndarray,
    start: int,
    end: int,
    n: int,
    duplicate_distance: float,
    blocked: np.ndarray | None,
    spacing: Spacing | None,
    max_tries: int = 50,
) -> list[int]:
    """:func:`path_to` that also keeps ``spacing``'s no-repeat rule, softly.

    The minimax path is computed, the first track in it that breaks the rule is
    blocked, and the path computed again, up to ``max_tries`` times; the path
    that breaks it least is returned (the rule gives way when the lens between
    A and B holds too few tracks of other albums or artists).
    """
    blocked = np.zeros(embedded.shape[0], dtype=bool) if blocked is None else blocked.copy()
    path = path_to(embedded, start, end, n, duplicate_distance, blocked)
    if spacing is None or not spacing.active:
        return path
    best, best_penalty = path, spacing.penalty(path)
    for _ in range(max_tries):
        if best_penalty == 0:
            break
        middle = {*range(1, len(path) - 1)}
        victim = next(
            (k for i, j in spacing.conflicts(path) for k in (i, j) if k in middle),
            None,
        )
        if victim is None:  # only A, B or the queue before it are involved: nothing to leave out
            break
        blocked[path[victim]] = True
        path = path_to(embedded, start, end, n, duplicate_distance, blocked)
        penalty = spacing.penalty(path)
        if penalty < best_penalty:
            best, best_penalty = path, penalty
    return best


def album_walk(
    album_means: np.ndarray,
    first: int,
    n_albums: int,
    duplicate_distance: float,
    artists: Sequence[str],
    no_repeat_artist: int,
) -> list[int]:
    """Album indices from ``first``: each next album is the one whose mean fingerprint is nearest
    to the current album's (blissify's album playlists), ``n_albums`` in all.

    An album whose mean is within ``duplicate_distance`` of one already listed
    (the same album in another format) is skipped. ``no_repeat_artist``: no
    album of one artist within that many albums, soft as for tracks.
    """
    used = _dist(album_means, first) <= duplicate_distance
    used[first] = True
    order = [first]
    while len(order) < n_albums and not used.all():
        d = np.where(used, np.inf, _dist(album_means, order[-1]))
        ranked = np.argsort(d, kind="stable")[: int(np.count_nonzero(~used))].tolist()
        nxt = ranked[0]
        if no_repeat_artist:
            recent = {artists[a]: back for back, a in enumerate(reversed(order[-no_repeat_artist:]), 1)}
            need = [no_repeat_artist - recent[artists[a]] + 1 if artists[a] in recent else 0 for a in ranked]
            nxt = ranked[int(np.argmin(need))]  # the nearest of those that need the least relaxing
        order.append(nxt)
        used |= _dist(album_means, nxt) <= duplicate_distance
        used[nxt] = True
    return order

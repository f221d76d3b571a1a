"""``fpstream report``: the library as one self-contained, offline HTML page.

What the page shows (``fpstream/report_assets/report.js`` draws it):

1. **At a glance**: tracks done and failed (failures grouped by error), total
   duration, formats, sample rates, channels.
2. **Distributions** of the 25 values, grouped by family with their units
   (``base.fields.FIELDS``), each a histogram over the library's 0.5–99.5 %
   range (tracks outside it are counted, not dropped) with the median marked.
3. **A map**: the first two principal components of the robust-scaled,
   weight-adjusted fingerprints (``fpstream.similarity``: the space in which
   ``similar`` measures distance), one point per track, hover for path and key
   values, coloured by any of the 25 values (by percentile). It survives
   outliers (:func:`robust_map`): the components are fitted on values clipped to
   half a p5–p95 spread beyond the library's p5 and p95, without the tracks that
   lie a whole spread beyond (a silent track's −70 LUFS would otherwise take a
   component to itself and squash every other track into a line); those
   outliers are drawn as triangles at the map's edge and listed under it with
   the values that put them there.
4. **One track** (click a point, ``--track PATH``, or ``#track=PATH`` in the
   address): its 25 values as percentiles within the library and its 10 nearest
   neighbours.

Why hand-written JavaScript on a ``<canvas>``, not a plotting library: the page must
work offline from ``file://`` with everything inlined, and stay usable at 100 000
tracks (≤ 15 MB, first render ≤ 3 s). Plotly's bundle alone is ~3.5 MB and its SVG
scatter slows down past ~10 000 points (WebGL mode needs a GPU context headless
Chromium may lack); Bokeh also inlines ~1 MB of JS plus a JSON document per point;
a static SVG (matplotlib) has no hover or click and a 100 000-circle SVG is itself
tens of MB. A canvas draws 100 000 points in tens of milliseconds; the histograms are
25 small inline SVGs built from 40 precomputed bins each; the script is ~15 kB.

How it stays small at 100 000 tracks: per track, only its path (folder names
stored once), its map position (2 × uint16) and its 25 percentile ranks (uint16,
1/65 535 of the library) are embedded, base64-coded. A value is read back from its
rank through the column's quantile table (every distinct value up to 2 050 of
them, else 1 025 evenly spaced quantiles), so the panel's values and the in-page
neighbour search are exact in small libraries and within a thousandth of the
distribution in large ones (``fpstream similar`` stays the exact reference). About 90 bytes per track:
9 MB for 100 000 tracks of ``/music/0000123.flac`` (``python -m tests.bench.report``).
"""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from audio.paths import format_of
from base.fields import FIELDS
from fpstream import __version__
from fpstream.api import Library
from fpstream.names import display_name
from store.library import summary_rows, tags_by_path

HIST_BINS = 40
QUANTILE_POINTS = 1025
RANK_MAX = 65535  # uint16


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).astype("<u2").tobytes()).decode("ascii")


def percentile_matrix(matrix: np.ndarray) -> np.ndarray:
    """Mid-rank percentile (0–1) of every value within its column (ties count half), shape of ``matrix``.

    One sort per column: in sorted order, a run of equal values starting at position
    ``s`` with ``c`` members has ``s`` values below it and ``c`` equal to it.
    """
    n = matrix.shape[0]
    out = np.empty_like(matrix)
    for j in range(matrix.shape[1]):
        order = np.argsort(matrix[:, j], kind="stable")
        _, start, inverse, count = np.unique(
            matrix[order, j], return_index=True, return_inverse=True, return_counts=True
        )
        out[order, j] = (start[inverse] + 0.5 * count[inverse]) / n
    return out


def quantile_table(column: np.ndarray, ranks: np.ndarray, points: int = QUANTILE_POINTS) -> list[list[float]]:
    """``[ranks, values]`` to read a value back from its rank by linear interpolation.

    Every distinct value of the column with its rank when there are at most
    ``2 * points`` (exact, up to the uint16 rounding of the rank); else the values at
    ``points`` evenly spaced ranks.
    """
    order = np.argsort(column, kind="stable")
    xs, first = np.unique(ranks[order], return_index=True)
    ys = column[order][first]
    if xs.size > 2 * points:
        grid = np.linspace(0, 1, points)
        xs, ys = grid, np.interp(grid, xs, ys)
    return [xs.tolist(), ys.tolist()]


def histogram(column: np.ndarray, bins: int = HIST_BINS) -> dict[str, Any]:
    """Counts over the 0.5–99.5 % range (full range if that is empty), with the tails counted aside."""
    lo, hi = (float(v) for v in np.percentile(column, [0.5, 99.5]))
    if hi <= lo:
        lo, hi = float(column.min()), float(column.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5  # a constant column: one bar in the middle
    counts, _ = np.histogram(np.clip(column, lo, hi), bins=bins, range=(lo, hi))
    return {
        "lo": lo,
        "hi": hi,
        "counts": counts.tolist(),
        "below": int(np.count_nonzero(column < lo)),
        "above": int(np.count_nonzero(column > hi)),
        "median": float(np.median(column)),
        "p5": float(np.percentile(column, 5)),
        "p95": float(np.percentile(column, 95)),
    }


#: Robust-scaled values (0 = the library's p5, 1 = its p95) are clipped to this range for the map's fit.
CLIP = (-0.5, 1.5)
#: A track with a value beyond this range (a whole p5–p95 spread outside it) is an outlier of the map.
OUTLIER = (-1.0, 2.0)
#: The map's axes span these percentiles of the other tracks (plus a margin); beyond is the edge.
AXIS_PERCENTILES = (0.5, 99.5)
MAX_LISTED_OUTLIERS = 100


def robust_map(scaled: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, list[float], np.ndarray]:
    """2-D positions that one extreme track cannot flatten: ``(xy (n, 2), variance shares, outlier mask)``.

    ``scaled``: robust-scaled fingerprints (``Library.scaled``); ``weights``: the
    similarity weights. The principal axes are fitted on ``clip(scaled, CLIP) *
    sqrt(weights)`` over the tracks that are not outliers (all tracks if fewer than
    3 remain): clipping bounds what any track contributes, leaving the outliers out
    keeps them from tilting the axes. Ordinary tracks are placed by their clipped
    values, outliers by their own (so they land beyond the edge, in their direction).
    """
    root = np.sqrt(weights)
    clipped = np.clip(scaled, *CLIP) * root
    outlier = ((scaled < OUTLIER[0]) | (scaled > OUTLIER[1])).any(axis=1)
    fit = clipped[~outlier] if np.count_nonzero(~outlier) >= 3 else clipped
    mean = fit.mean(axis=0)
    centred = fit - mean
    values, vectors = np.linalg.eigh(centred.T @ centred)
    top = vectors[:, ::-1][:, :2]
    signs = np.sign(top[np.abs(top).argmax(axis=0), [0, 1]])  # a fixed orientation: largest loading > 0
    top = top * np.where(signs == 0, 1.0, signs)
    total = float(values.sum()) or 1.0
    xy = (clipped - mean) @ top
    xy[outlier] = (scaled[outlier] * root - mean) @ top
    return xy, [float(v) / total for v in values[::-1][:2]], outlier


def outlier_reasons(lib: Library, rows: np.ndarray) -> list[dict[str, Any]]:
    """For each outlier row (the farthest first, at most MAX_LISTED_OUTLIERS): its values beyond OUTLIER."""
    scaled = lib.scaled[rows]
    beyond = np.maximum(OUTLIER[0] - scaled, scaled - OUTLIER[1]).clip(min=0.0)
    order = np.argsort(-beyond.max(axis=1), kind="stable")[:MAX_LISTED_OUTLIERS]
    listed = []
    for k in order.tolist():
        row = int(rows[k])
        cols = [j for j in np.argsort(-beyond[k], kind="stable").tolist() if beyond[k, j] > 0][:3]
        why = [[FIELDS[j].name, float(lib.features.matrix[row, j])] for j in cols]
        listed.append({"row": row, "why": why})
    return listed


def _quantize_axis(x: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``x`` as uint16 over the AXIS_PERCENTILES range of ``x[inside]`` widened by 4 %; beyond: the edge."""
    ref = x[inside] if inside.any() else x
    lo, hi = (float(v) for v in np.percentile(ref, AXIS_PERCENTILES))
    lo, hi = lo - 0.02 * (hi - lo), hi + 0.02 * (hi - lo)
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    q = np.round((np.clip(x, lo, hi) - lo) / (hi - lo) * RANK_MAX)
    return q.astype(np.uint16), lo, hi


def summary(lib: Library) -> dict[str, Any]:
    """At-a-glance counts from every stored row (done and failed) whose file is not missing."""
    done = failed = 0
    duration = 0.0
    formats: Counter[str] = Counter()
    rates: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    example: dict[str, str] = {}
    with closing(lib._connect()) as conn:
        for path, status, error, dur, rate, ch in summary_rows(conn):
            formats[format_of(path)] += 1
            if status == "done":
                done += 1
                duration += dur or 0.0
                rates[f"{rate} Hz"] += 1
                channels[f"{ch} ch"] += 1
            else:
                failed += 1
                errors[error or "(no error recorded)"] += 1
                example.setdefault(error or "(no error recorded)", path)
    return {
        "done": done,
        "failed": failed,
        "duration_s": duration,
        "formats": formats.most_common(),
        "sample_rates": rates.most_common(),
        "channels": channels.most_common(),
        "errors": [[e, n, example[e]] for e, n in errors.most_common(20)],
        "error_kinds": len(errors),
        "stale": lib.features.stale,
        **tag_summary(lib),
    }


def tag_summary(lib: Library) -> dict[str, Any]:
    """How much of the library is tagged: tracks with a title or artist, artists (tracks each, most
    first) and albums, by the keys of CONTRACTS.md (album artist, else artist)."""
    artists: Counter[str] = Counter()
    albums: set[tuple[str, str]] = set()
    tagged = 0
    with closing(lib._connect()) as conn:
        for t in tags_by_path(conn).values():
            who = t["album_artist"] or t["artist"]
            if not (t["title"] or who):
                continue
            tagged += 1
            if who:
                artists[who] += 1
            if t["album"]:
                albums.add((who or "", t["album"]))
    return {"tagged": tagged, "artists": artists.most_common(), "albums": len(albums)}


def report_data(lib: Library, track: str | None = None) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data."""
    features = lib.features
    matrix = features.matrix
    n = matrix.shape[0]
    selected = None if track is None else lib._index(track)  # before the work: a wrong path fails fast
    data: dict[str, Any] = {
        "title": f"fpstream report: {lib.path.name}",
        "database": str(lib.path),
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "version": __version__,
        "summary": summary(lib),
        "fields": [
            {"name": f.name, "family": f.family, "unit": f.unit, "decimals": f.decimals} for f in FIELDS
        ],
        "n": n,
        "selected": None,
    }
    if n == 0:
        return data
    ranks = percentile_matrix(matrix)
    with threadpool_limits(1):  # a 25 x 25 product: BLAS threads only spin on a busy machine
        xy, shares, outlier = robust_map(lib.scaled, lib._w)
    qx, x_lo, x_hi = _quantize_axis(xy[:, 0], ~outlier)
    qy, y_lo, y_hi = _quantize_axis(xy[:, 1], ~outlier)
    folders: dict[str, int] = {}
    folder_of, names = [], []
    for p in features.paths:
        head, name = os.path.split(p)
        folder_of.append(folders.setdefault(head, len(folders)))
        names.append(name)
    data.update(
        hist=[histogram(matrix[:, j]) for j in range(matrix.shape[1])],
        quantiles=[quantile_table(matrix[:, j], ranks[:, j]) for j in range(matrix.shape[1])],
        center=lib.scaling.center.tolist(),
        spread=lib.scaling.spread.tolist(),
        weights=(lib._w).tolist(),
        folders=list(folders),
        folder_of=folder_of,
        names=names,
        xy=_b64(np.stack([qx, qy], axis=1)),
        xy_range=[x_lo, x_hi, y_lo, y_hi],
        pca_shares=shares,
        outliers=outlier_reasons(lib, np.flatnonzero(outlier)),
        outlier_count=int(np.count_nonzero(outlier)),
        ranks=_b64(np.round(ranks.T * RANK_MAX)),  # column-major: 25 blocks of n
    )
    if data["summary"]["tagged"]:  # "Artist - Title" per point, only for a library with tags
        with closing(lib._connect()) as conn:
            tags = tags_by_path(conn)
        data["labels"] = [
            display_name({**tags[p], "path": p}) if tags[p]["title"] else "" for p in features.paths
        ]
    data["selected"] = selected
    return data


def _asset(name: str) -> str:
    return resources.files("fpstream").joinpath("report_assets", name).read_text(encoding="utf-8")


def render_html(data: dict[str, Any]) -> str:
    """The page: styles, data and script inline; nothing is fetched."""
    payload = json.dumps(data, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    payload = payload.replace("<", "\\u003c")  # no "</script>" or "<!--" inside the script element
    title = data["title"].replace("&", "&amp;").replace("<", "&lt;")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<style>\n{_asset('report.css')}</style>\n</head>\n<body>\n"
        '<main id="app"><p id="loading">Loading the report…</p></main>\n'
        f'<script type="application/json" id="data">{payload}</script>\n'
        f"<script>\n{_asset('report.js')}</script>\n</body>\n</html>\n"
    )


def build_report(db: str | os.PathLike[str], track: str | None = None, weights: dict | None = None) -> str:
    """The HTML report of the database ``db`` (``track``: a path to open in the track panel)."""
    return render_html(report_data(Library(db, weights=weights), track))

"""Nearest tracks by fingerprint: robust scaling, weighted Euclidean, exact search.

How a distance is computed
--------------------------
1. **Robust scaling.** The 25 values live on different scales (Hz, LUFS,
   fractions, BPM). Each dimension ``j`` is rescaled by the library itself::

       z_j = (x_j - p5_j) / (p95_j - p5_j)

   where ``p5_j`` and ``p95_j`` are the 5th and 95th percentiles of that
   column over every analysed track. Percentiles rather than min/max or
   mean/std, so that a handful of extreme tracks (a test tone, a silent
   bonus track) cannot squash everyone else together. If a column's 5–95
   spread is zero (e.g. 96 % of the library is mono, so ``stereo_width`` is 0
   from p5 to p95), the full min–max range is used instead; a column that is
   constant over the library contributes nothing.

2. **Weighted Euclidean distance**, with the weights normalised to sum to 1::

       d(a, b) = sqrt( sum_j w_j * (z_j(a) - z_j(b))**2 ) / sqrt( sum_j w_j )

   so a distance of 1.0 means "on (weighted) average, one 5–95 spread apart
   per dimension", whatever the weights. Identical fingerprints are at 0.

3. **Exact search.** Every track is compared with the query in one vectorised
   numpy expression (no index, no approximation): a few milliseconds per
   query on 100 000 tracks (``python -m fpstream.similarity --bench``). The query
   itself is excluded; ties are broken by path so results are deterministic.

Default weights
---------------
One unit of weight per independent, reliable aspect of the sound; each weight
is in the feature table (``base.fields.FIELDS``) and why it is what it is in
``base.fields.WEIGHT_REASONS`` (docs/cli.md shows them as a table). Override
any of them on the command line, e.g. ``--weights tempo_bpm=0`` (ignore
tempo), ``--weights equal,lufs=0`` (equal weights but loudness ignored).

Examples
--------
>>> import numpy as np
>>> from fpstream.similarity import robust_scale, nearest, DEFAULT_WEIGHTS, weight_vector
>>> rng = np.random.default_rng(0)
>>> m = rng.normal(size=(1000, 25))
>>> m[7] = m[3]                                   # an identical copy of track 3
>>> scaled = robust_scale(m).apply(m)
>>> idx, dist = nearest(scaled, scaled[3], weight_vector(DEFAULT_WEIGHTS), k=3, exclude=3)
>>> int(idx[0]), float(dist[0])
(7, 0.0)
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass

import numpy as np

from base.fields import BANDS, FEATURES, FIELDS

#: The default weight of each dimension (the feature table, base.fields.FIELDS; why: WEIGHT_REASONS).
DEFAULT_WEIGHTS: dict[str, float] = {f.name: f.weight for f in FIELDS}
assert tuple(DEFAULT_WEIGHTS) == FEATURES

#: Named weight sets accepted by ``--weights``.
PRESETS: dict[str, dict[str, float]] = {
    "default": DEFAULT_WEIGHTS,
    "equal": {name: 1.0 for name in FEATURES},
}


class WeightsError(ValueError):
    """A ``--weights`` specification that cannot be used; the message says why."""


def parse_weights(spec: str) -> dict[str, float]:
    """Turn a ``--weights`` string into a full ``{feature: weight}`` dict.

    ``spec`` is a comma-separated list. Its first item may be a preset name
    (``default`` or ``equal``); the others are ``NAME=W`` overrides applied on
    top of it. Without a preset, overrides apply to ``default``.

    Examples
    --------
    >>> parse_weights("equal,lufs=0")["lufs"], parse_weights("equal")["bass_pct"]
    (0.0, 1.0)
    >>> parse_weights("tempo_bpm=2")["tempo_bpm"], parse_weights("tempo_bpm=2")["lufs"]
    (2.0, 0.5)
    """
    items = [item.strip() for item in spec.split(",") if item.strip()]
    if not items:
        raise WeightsError("empty --weights: give a preset (default, equal) or NAME=W pairs")
    base = "default"
    if "=" not in items[0]:
        base = items.pop(0)
        if base not in PRESETS:
            raise WeightsError(f"unknown weight preset {base!r}: choose one of {', '.join(PRESETS)}")
    weights = dict(PRESETS[base])
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep:
            raise WeightsError(f"{item!r}: a preset may only come first; write overrides as NAME=W")
        if name not in weights:
            raise WeightsError(f"unknown dimension {name!r}: valid names are {', '.join(FEATURES)}")
        try:
            value = float(raw)
        except ValueError:
            raise WeightsError(f"{item!r}: weight {raw!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise WeightsError(f"{item!r}: weights must be finite and >= 0")
        weights[name] = value
    if not any(weights.values()):
        raise WeightsError("every weight is 0: at least one dimension must count")
    return weights


def weight_vector(weights: dict[str, float]) -> np.ndarray:
    """Weights in FEATURES order, normalised to sum to 1 (float64, shape (25,))."""
    w = np.array([weights[name] for name in FEATURES], dtype=np.float64)
    total = w.sum()
    if not np.all(np.isfinite(w)) or np.any(w < 0) or total <= 0:
        raise WeightsError("weights must be finite, >= 0, and not all 0")
    return w / total


@dataclass(frozen=True)
class Scaling:
    """Per-dimension robust scaling: ``z = (x - center) / spread``."""

    center: np.ndarray  # (25,) the 5th percentile
    spread: np.ndarray  # (25,) p95 - p5 (or max - min, or 1 for a constant column)

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Scale rows (``(n, 25)``) or one row (``(25,)``); returns float64."""
        return (np.asarray(values, dtype=np.float64) - self.center) / self.spread


def robust_scale(matrix: np.ndarray, low: float = 5.0, high: float = 95.0) -> Scaling:
    """The scaling of the module docstring, fitted on ``matrix`` (rows = tracks)."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] == 0:
        raise ValueError(f"need a non-empty (n, d) matrix, got shape {m.shape}")
    lo, hi = np.percentile(m, [low, high], axis=0)
    spread = hi - lo
    full = m.max(axis=0) - m.min(axis=0)
    spread = np.where(spread > 0, spread, full)
    spread = np.where(spread > 0, spread, 1.0)  # constant column: every difference is 0 anyway
    return Scaling(center=lo, spread=spread)


def distances(scaled: np.ndarray, query: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted Euclidean distance of every row of ``scaled`` to ``query``.

    ``weights`` should sum to 1 (see :func:`weight_vector`). Computed from the
    difference itself (not ``|a|² - 2a·b + |b|²``), so identical rows give
    exactly 0, and without BLAS (``einsum``), so a query takes the same few
    milliseconds on a busy machine as on an idle one.
    """
    diff = np.subtract(scaled, query)
    np.multiply(diff, np.sqrt(weights), out=diff)
    d2 = np.einsum("ij,ij->i", diff, diff)
    return np.sqrt(d2, out=d2)


def nearest(
    scaled: np.ndarray,
    query: np.ndarray,
    weights: np.ndarray,
    k: int = 10,
    exclude: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and distances of the ``k`` rows of ``scaled`` nearest to ``query``.

    Nearest first; equal distances in row order (rows are sorted by path, so
    ties are broken by path). ``exclude`` (the query's own row) is never
    returned. Fewer than ``k`` rows come back when the library is smaller.

    Parameters
    ----------
    scaled : np.ndarray, shape (n, 25)
        The library after :meth:`Scaling.apply`.
    query : np.ndarray, shape (25,)
        The query after the same scaling.
    weights : np.ndarray, shape (25,)
        From :func:`weight_vector`.
    k : int
        How many neighbours (>= 1).
    exclude : int or None
        Row index to leave out.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    d = distances(scaled, query, weights)
    if exclude is not None:
        d[exclude] = np.inf
    available = d.shape[0] - (exclude is not None)
    k = min(k, available)
    if k <= 0:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float64)
    kth = np.partition(d, k - 1)[k - 1]
    candidates = np.flatnonzero(d <= kth)
    order = np.lexsort((candidates, d[candidates]))[:k]
    idx = candidates[order]
    return idx, d[idx]


# ---------------------------------------------------------------- benchmark


def synthetic_library(n: int, seed: int = 0) -> np.ndarray:
    """``n`` plausible-looking fingerprints (for benchmarks; not music)."""
    rng = np.random.default_rng(seed)
    bands = rng.dirichlet([1.0, 4.0, 3.0, 5.0, 2.0, 1.5, 0.8], size=n)
    cols = {name: bands[:, i] for i, name in enumerate(BANDS)}
    cols.update(
        lufs=rng.normal(-11.0, 3.0, n),
        crest_db=rng.normal(12.0, 3.0, n),
        bass_mid_ratio=np.clip(10 * np.log10(bands[:, 1] / (bands[:, 2] + bands[:, 3])), -60, 60),
        tempo_bpm=rng.uniform(60, 180, n),
        rhythm_stability=rng.beta(8, 2, n),
        transient_density=rng.gamma(2.0, 1.5, n),
        silence_ratio=rng.beta(0.3, 20, n),
        spectral_centroid=rng.normal(2200, 600, n),
        spectral_rolloff=rng.normal(4500, 1200, n),
        spectral_flatness=rng.beta(1.2, 30, n),
        harmonic_ratio=rng.beta(5, 3, n),
        pitch_stability=rng.beta(3, 3, n),
        chroma_energy=rng.uniform(1 / 12, 0.6, n),
        dynamic_range_variation=rng.gamma(2.0, 1.0, n),
        loudness_variation_std=rng.gamma(2.0, 1.2, n),
        peak_consistency=rng.beta(6, 2, n),
        stereo_width=rng.beta(2, 12, n),
        phase_correlation=rng.uniform(0.3, 1.0, n),
    )
    return np.column_stack([cols[name] for name in FEATURES])


def bench(rows: int = 100_000, queries: int = 200, k: int = 10) -> dict[str, float]:
    """Time what ``fpstream similar`` does on ``rows`` synthetic tracks (milliseconds).

    ``load_ms``: reading the 25 columns from an SQLite file of ``rows`` tracks
    (written to a temporary directory first, schema as the sink's);
    ``setup_ms``: fitting and applying the robust scaling; then per query
    ``nearest`` (median, p95, max). The command pays ``load_ms + setup_ms``
    once plus one query.
    """
    import tempfile
    import time
    from pathlib import Path

    from base.fields import FINGERPRINT_VERSION
    from store.db import Row, store_rows
    from store.library import connect, load_features

    matrix = synthetic_library(rows)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        store_rows(
            db,
            (
                Row(
                    path=f"/music/{i:07d}.flac",
                    status="done",
                    error=None,
                    size=None,
                    mtime_ns=None,
                    duration_s=None,
                    sample_rate=None,
                    channels=None,
                    analyzed_at="",
                    fingerprint_version=FINGERPRINT_VERSION,
                    values=dict(zip(FEATURES, map(float, row), strict=True)),
                )
                for i, row in enumerate(matrix)
            ),
        )
        t0 = time.perf_counter()
        with connect(db) as conn:
            features = load_features(conn)
        conn.close()
        load_ms = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    scaling = robust_scale(features.matrix)
    scaled = scaling.apply(features.matrix)
    setup_ms = (time.perf_counter() - t0) * 1e3
    w = weight_vector(DEFAULT_WEIGHTS)
    rng = np.random.default_rng(1)
    picks = rng.integers(0, rows, size=queries)
    times = []
    for i in picks:
        t0 = time.perf_counter()
        nearest(scaled, scaled[i], w, k, exclude=int(i))
        times.append((time.perf_counter() - t0) * 1e3)
    t = np.array(times)
    return {
        "rows": rows,
        "queries": queries,
        "load_ms": load_ms,
        "setup_ms": setup_ms,
        "median_ms": float(np.median(t)),
        "p95_ms": float(np.percentile(t, 95)),
        "max_ms": float(t.max()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fpstream.similarity",
        description="Benchmark the exact similarity search on synthetic fingerprints.",
        epilog="Example: python -m fpstream.similarity --bench --rows 1000000",
    )
    parser.add_argument("--bench", action="store_true", help="run the benchmark (required)")
    parser.add_argument("--rows", type=int, default=100_000, help="library size (default 100000)")
    parser.add_argument("--queries", type=int, default=200, help="queries to time (default 200)")
    parser.add_argument("-k", type=int, default=10, help="neighbours per query (default 10)")
    args = parser.parse_args(argv)
    if not args.bench:
        parser.error("nothing to do: pass --bench")
    r = bench(args.rows, args.queries, args.k)
    print(
        f"similarity: {r['rows']:,} rows, k={args.k}: load from SQLite {r['load_ms']:.0f} ms and "
        f"scaling {r['setup_ms']:.0f} ms once; "
        f"per query median {r['median_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, "
        f"max {r['max_ms']:.1f} ms ({r['queries']} queries)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

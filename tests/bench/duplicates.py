"""Benchmark: ``fpstream duplicates`` on a synthetic library of 100 000 tracks with planted copies.

    .venv/bin/python -m tests.bench.duplicates [--rows 100000] [--groups 1000]

Writes a real SQLite library (the sink's schema) whose rows carry generated
Chromaprints of 120 s (968 items): random walks in which consecutive items
differ in a few bits, as Chromaprint's do, with a silent track here and there.
``--groups`` originals get 1 to 6 planted copies each, trimmed by 0 to 3 s and
with 0.5 to 4 % of their bits flipped (what the codecs measured in
docs/duplicates.md do and more). Then times ``Library.duplicates()`` end to end
(reading the library, the index, verification, the keep rule) and checks that
exactly the planted groups came back.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from base.fields import FEATURES
from base.protocol import TrackRef
from store.db import UPSERT, create_schema, done_row

ITEMS = 968  # 120 s of Chromaprint
SILENT = 627964279  # the item Chromaprint gives digital silence


def walk(rng: np.random.Generator, n: int, length: int = ITEMS) -> np.ndarray:
    """``n`` random-walk prints: each item differs from the one before in two random bits."""
    bits = rng.integers(0, 32, size=(n, length, 2), dtype=np.uint32)
    steps = (np.uint32(1) << bits[..., 0]) | (np.uint32(1) << bits[..., 1])
    steps[:, 0] = rng.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32)
    return np.bitwise_xor.accumulate(steps, axis=1)


def noisy_copy(rng: np.random.Generator, src: np.ndarray) -> tuple[np.ndarray, float]:
    trim = int(rng.integers(0, 25))  # up to 3 s
    p = rng.uniform(0.005, 0.04)
    flips = rng.random((len(src) - trim, 32)) < p
    mask = np.packbits(flips, axis=1, bitorder="little").view("<u4")[:, 0]
    return src[trim:] ^ mask, trim / (11025 / (4096 / 3))


def build(db: Path, rows: int, groups: int, seed: int = 0) -> set[frozenset[str]]:
    """Write the library; returns the planted groups (as sets of paths)."""
    rng = np.random.default_rng(seed)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    create_schema(conn)
    values = dict.fromkeys(FEATURES, 0.0)
    copies_of = {int(o): int(rng.integers(1, 7)) for o in rng.choice(rows // 2, size=groups, replace=False)}
    n_copies = sum(copies_of.values())
    originals = rows - n_copies
    planted: set[frozenset[str]] = set()
    paths: dict[int, str] = {}
    block = 5000
    prints: dict[int, np.ndarray] = {}
    number = 0
    for lo in range(0, originals, block):
        batch = walk(rng, min(block, originals - lo))
        out = []
        for k, p in enumerate(batch):
            i = lo + k
            if rng.random() < 0.001 and i not in copies_of:
                p = np.full(ITEMS, SILENT, np.uint32)  # a silent track: never identifiable
            ref = TrackRef(
                "bench", number, 0, f"/music/{i // 1000:03d}/track{i:06d}.flac", 30_000_000, number
            )
            if i in copies_of:
                prints[i], paths[i] = p, ref.path
            row = done_row(ref, 120.0, 44_100, 2, values, chromaprint=p.astype("<u4").tobytes())
            out.append(row.as_tuple())
            number += 1
        conn.executemany(UPSERT, out)
    out = []
    for original, count in copies_of.items():
        group = {paths[original]}
        for c in range(count):
            copy, trim_s = noisy_copy(rng, prints[original])
            ref = TrackRef(
                "bench", number, 0, f"/music/copies/track{original:06d}.{c}.mp3", 5_000_000, number
            )
            row = done_row(ref, 120.0 - trim_s, 44_100, 2, values, chromaprint=copy.astype("<u4").tobytes())
            out.append(row.as_tuple())
            group.add(ref.path)
            number += 1
        planted.add(frozenset(group))
    conn.executemany(UPSERT, out)
    conn.commit()
    conn.close()
    return planted


def run(rows: int, groups: int) -> dict[str, float]:
    from fpstream.api import Library

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        t0 = time.perf_counter()
        planted = build(db, rows, groups)
        built = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        found = Library(db).duplicates()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        got = {frozenset(m.path for m in g.members) for g in found.groups}
        exact = got == planted
    return {
        "rows": rows,
        "groups": len(planted),
        "found": len(got),
        "exact": float(exact),
        "seconds": seconds,
        "cpu_s": cpu,
        "build_s": built,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.duplicates", description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=1000)
    args = parser.parse_args(argv)
    r = run(args.rows, args.groups)
    print(
        f"duplicates on {r['rows']:,} tracks ({r['groups']:,} planted groups): {r['seconds']:.2f} s "
        f"({r['cpu_s']:.2f} s CPU), "
        f"{r['found']:,} groups found, {'exactly' if r['exact'] else 'NOT'} the planted ones "
        f"(library written in {r['build_s']:.0f} s)"
    )
    return 0 if r["exact"] else 1


if __name__ == "__main__":
    sys.exit(main())

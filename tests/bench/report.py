"""Benchmark of ``fpstream report`` at library scale: HTML size, build time, first render in Chromium.

    .venv/bin/python -m tests.bench.report [--rows 100000] [--keep DIR]

Builds a database of ``--rows`` synthetic fingerprints (``fpstream.similarity.synthetic_library``,
paths ``/music/NNNNNNN.flac``), writes the report with the real command, opens it in headless
Chromium (``chromium --dump-dom``, scripts run) and prints: the HTML size, the time to build it,
the page's own first-render time (``performance.now()`` when the summary, the 25 histograms and
the map are drawn, from navigation start), and Chromium's wall time including its start-up.
Also the same for a 1 000-row library, as a baseline in the same run.
"""

from __future__ import annotations

import argparse
import html as html_module
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def make_db(path: Path, rows: int) -> None:
    from base.fields import FEATURES, FINGERPRINT_VERSION
    from fpstream.similarity import synthetic_library
    from store.db import create_schema

    matrix = synthetic_library(rows)
    with sqlite3.connect(path) as conn:
        create_schema(conn)
        names = (
            "path",
            "status",
            "fingerprint_version",
            "size",
            "duration_s",
            "sample_rate",
            "channels",
            *FEATURES,
        )
        marks = ", ".join("?" * len(names))
        records = (
            (
                f"/music/{i:07d}.flac",
                "done",
                FINGERPRINT_VERSION,
                30_000_000,
                200.0,
                44_100,
                2,
                *map(float, r),
            )
            for i, r in enumerate(matrix)
        )
        conn.executemany(f"INSERT INTO tracks ({', '.join(names)}) VALUES ({marks})", records)
    conn.close()


def render(html: Path, timeout_s: float = 120.0) -> tuple[float, float, str, dict[str, int]]:
    """(page's first-render ms, Chromium wall s, console lines, the page's phase marks in ms)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is not installed (Debian: apt-get install chromium)")
    t0 = time.perf_counter()
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            html.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    wall = time.perf_counter() - t0
    found = re.search(r'data-render-ms="(\d+)"', done.stdout)
    console = "\n".join(line for line in done.stderr.splitlines() if ":CONSOLE" in line)
    if found is None:
        raise SystemExit(f"the page did not finish rendering:\n{console or done.stderr[-2000:]}")
    marks = re.search(r'data-timing="([^"]*)"', done.stdout)
    phases = json.loads(html_module.unescape(marks.group(1))) if marks else {}
    return float(found.group(1)), wall, console, phases


def measure(rows: int, folder: Path) -> dict[str, float]:
    db, html = folder / f"lib{rows}.db", folder / f"lib{rows}.html"
    make_db(db, rows)
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "fpstream.cli",
            "report",
            "--db",
            str(db),
            "--output",
            str(html),
            "--track",
            "/music/0000005.flac",
        ],
        check=True,
        cwd=ROOT,
    )
    build = time.perf_counter() - t0
    render_ms, wall, console, phases = render(html)
    if console:
        raise SystemExit(f"console messages at {rows} rows:\n{console}")
    return {
        "rows": rows,
        "mb": html.stat().st_size / 1e6,
        "build_s": build,
        "render_ms": render_ms,
        "wall_s": wall,
        "phases": phases,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--keep", type=Path, help="keep the databases and pages in DIR")
    args = ap.parse_args(argv)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="fpstream-report-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        results = [measure(1000, folder), measure(args.rows, folder)]
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    print("| rows | HTML size | build (fpstream report, process) | first render (page) | Chromium wall |")
    print("|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['rows']:,} | {r['mb']:.1f} MB | {r['build_s']:.1f} s | {r['render_ms'] / 1000:.2f} s "
            f"| {r['wall_s']:.1f} s |"
        )
    for r in results:
        print(f"{r['rows']:,} rows, page marks (ms from navigation start): {r['phases']}")
    small, big = results
    print(
        f"\n{big['rows']:,} vs {small['rows']:,} rows: size x{big['mb'] / small['mb']:.0f}, "
        f"first render x{big['render_ms'] / small['render_ms']:.1f}; limits 15 MB and 3 s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

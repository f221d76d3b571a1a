"""Helpers for the ``fpstream`` command tests: real SQLite files, real subprocesses.

Databases are created with the sink's own schema (``store.db.MIGRATIONS``), so
the commands are tested against exactly the table the stack writes.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from base.fields import FEATURES, FINGERPRINT_VERSION
from store.db import COLUMNS, create_schema

ROOT = Path(__file__).resolve().parent.parent


def create_db(path: Path, rows: Iterable[dict[str, Any]] = ()) -> Path:
    """A database with the sink's schema holding ``rows`` (dicts keyed by column)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        create_schema(conn)
        insert_rows(conn, rows)
        conn.commit()
    finally:
        conn.close()
    return path


def insert_rows(conn: sqlite3.Connection, rows: Iterable[dict[str, Any]]) -> None:
    marks = ", ".join("?" for _ in COLUMNS)
    conn.executemany(
        f"INSERT INTO tracks ({', '.join(COLUMNS)}) VALUES ({marks})",
        [tuple(row.get(c) for c in COLUMNS) for row in rows],
    )


def done_row(path: str, values: Sequence[float], **extra: Any) -> dict[str, Any]:
    """A ``done`` row with the 25 ``values`` in FEATURES order."""
    assert len(values) == len(FEATURES)
    row: dict[str, Any] = {
        "path": path,
        "status": "done",
        "error": None,
        "size": 1000,
        "mtime_ns": 1_700_000_000_000_000_000,
        "duration_s": 180.0,
        "sample_rate": 44_100,
        "channels": 2,
        "analyzed_at": "2025-01-05T10:12:44.120+00:00",
        "fingerprint_version": FINGERPRINT_VERSION,
    }
    row.update(zip(FEATURES, (float(v) for v in values), strict=True))
    row.update(extra)
    return row


def failed_row(
    path: str, error: str = "not an audio file: no known audio or container format"
) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        path=path,
        status="failed",
        error=error,
        analyzed_at="2025-01-05T10:12:45.000+00:00",
        fingerprint_version=FINGERPRINT_VERSION,
    )
    return row


def random_library(n: int, seed: int = 0, root: str = "/music") -> list[dict[str, Any]]:
    """``n`` done rows with plausible, distinct fingerprints, paths ``root/track0000.flac``..."""
    from fpstream.similarity import synthetic_library

    matrix = synthetic_library(n, seed=seed)
    return [done_row(f"{root}/track{i:04d}.flac", matrix[i]) for i in range(n)]


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``python -m fpstream.cli ARGS`` as a real subprocess (text mode)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "fpstream.cli", *args],
        cwd=cwd or ROOT,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def as_matrix(rows: Iterable[dict[str, Any]]) -> np.ndarray:
    return np.array([[r[name] for name in FEATURES] for r in rows], dtype=np.float64)

"""The whole stack as real processes: broker, sink, two analyzers and ingest, on generated audio.

One stack serves the module (conftest's ``stack``: starting analyzers costs seconds);
each test uses its own files.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
import time
from datetime import datetime
from pathlib import Path

import pytest
import soundfile as sf

from base.fields import FEATURES, FINGERPRINT_VERSION
from tests.stack_harness import Stack, last_progress, write_audio
from tests.synth import analyze_path


def test_files_of_every_kind_become_rows(stack: Stack, tmp_path: Path) -> None:
    files = [
        write_audio(tmp_path / "mono 44k.flac", 4.0, 44_100, 1, seed=1),
        write_audio(tmp_path / "stereo 48k.flac", 3.0, 48_000, 2, seed=2),
        write_audio(tmp_path / "mono 48k.wav", 2.5, 48_000, 1, subtype="PCM_16", seed=3),
        write_audio(tmp_path / "stereo 44k.wav", 12.5, 44_100, 2, subtype="FLOAT", seed=4),  # two chunks
    ]
    missing = tmp_path / "not there.flac"
    result = stack.ingest([*files, missing])
    assert result.returncode == 0, result.stderr
    rows = stack.rows()

    for f in files:
        row = rows[str(f)]
        info = sf.info(str(f))
        st = os.stat(f)
        assert row["status"] == "done" and row["error"] is None
        assert (row["size"], row["mtime_ns"]) == (st.st_size, st.st_mtime_ns)
        assert (row["sample_rate"], row["channels"]) == (info.samplerate, info.channels)
        assert row["duration_s"] == pytest.approx(info.frames / info.samplerate, abs=1e-9)
        assert row["fingerprint_version"] == FINGERPRINT_VERSION
        assert datetime.fromisoformat(row["analyzed_at"]).utcoffset().total_seconds() == 0
        assert all(isinstance(row[n], float) and math.isfinite(row[n]) for n in FEATURES)
        # the stack computes exactly what the single-process path computes
        expected = analyze_path(f)
        assert {n: row[n] for n in FEATURES} == pytest.approx(
            {n: expected[n] for n in FEATURES}, rel=1e-9, abs=1e-9
        )

    gone = rows[str(missing)]
    assert gone["status"] == "failed" and gone["error"] == "file not found"
    assert all(gone[n] is None for n in FEATURES)

    summary = last_progress(result.stderr)
    assert (summary["finished"], summary["total"], summary["done"], summary["failed"]) == ("5", "5", "4", "1")


def test_rerun_skips_unchanged_files_force_re_analyses_touch_keeps(stack: Stack, tmp_path: Path) -> None:
    files = [write_audio(tmp_path / f"{i}.flac", 2.0, seed=10 + i) for i in range(3)]
    assert stack.ingest(files).returncode == 0
    first = {p: r["analyzed_at"] for p, r in stack.rows().items() if p.startswith(str(tmp_path))}
    assert len(first) == 3

    again = stack.ingest(files)
    assert again.returncode == 0
    assert last_progress(again.stderr)["skipped"] == "3"
    assert {p: stack.rows()[p]["analyzed_at"] for p in first} == first

    time.sleep(0.01)
    os.utime(files[0], ns=(time.time_ns(), time.time_ns()))  # touched: same content, new mtime
    touched = stack.ingest(files)
    assert last_progress(touched.stderr)["skipped"] == "2"
    rows = stack.rows()
    # the same audio (content identity) is not analysed again; the row gets the new mtime
    assert rows[str(files[0])]["analyzed_at"] == first[str(files[0])]
    assert re.search(r"kept +1 +moved, renamed or re-tagged", touched.stderr), touched.stderr
    assert rows[str(files[0])]["mtime_ns"] == os.stat(files[0]).st_mtime_ns
    assert [rows[str(f)]["analyzed_at"] for f in files[1:]] == [first[str(f)] for f in files[1:]]

    forced = stack.ingest(files, "--force")
    assert last_progress(forced.stderr)["skipped"] == "0"
    rows = stack.rows()
    assert all(rows[str(f)]["analyzed_at"] > first[str(f)] for f in files)


def test_chunk_size_does_not_change_the_numbers(stack: Stack, tmp_path: Path) -> None:
    f = write_audio(tmp_path / "chunky.flac", 7.0, 44_100, 2, seed=20)
    assert stack.ingest([f]).returncode == 0
    default = stack.rows()[str(f)]
    assert stack.ingest([f], "--force", env={"FPSTREAM_CHUNK_S": "1.3"}).returncode == 0
    small = stack.rows()[str(f)]
    assert small["analyzed_at"] > default["analyzed_at"]
    for name in FEATURES:
        assert small[name] == pytest.approx(default[name], rel=1e-6, abs=1e-9), name


def test_repeated_paths_are_fed_once(stack: Stack, tmp_path: Path) -> None:
    f = write_audio(tmp_path / "twice.wav", 1.0, seed=30)
    result = stack.ingest([f, f, tmp_path / "." / "twice.wav"])
    assert result.returncode == 0
    summary = last_progress(result.stderr)
    assert (summary["total"], summary["done"]) == ("1", "1")


def test_rows_of_an_older_fingerprint_version_are_re_analysed(stack: Stack, tmp_path: Path) -> None:
    files = [write_audio(tmp_path / f"v{i}.flac", 2.0, seed=40 + i) for i in range(2)]
    assert stack.ingest(files).returncode == 0
    first = {str(f): stack.rows()[str(f)]["analyzed_at"] for f in files}
    # as a database written by the previous release would hold it
    with sqlite3.connect(stack.db, timeout=30) as conn:
        old = (FINGERPRINT_VERSION - 1, str(files[0]))
        conn.execute("UPDATE tracks SET fingerprint_version = ? WHERE path = ?", old)
    again = stack.ingest(files)
    assert again.returncode == 0
    assert last_progress(again.stderr)["skipped"] == "1"
    rows = stack.rows()
    assert rows[str(files[0])]["fingerprint_version"] == FINGERPRINT_VERSION
    assert rows[str(files[0])]["analyzed_at"] > first[str(files[0])]
    assert rows[str(files[1])]["analyzed_at"] == first[str(files[1])]

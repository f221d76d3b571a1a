"""Bad input is data: every path fed in ends as exactly one row, failures with a specific error."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from base.fields import FEATURES, SILENCE_VALUES
from tests.stack_harness import Stack, write_audio


def assert_done(row: dict, duration_s: float) -> None:
    assert row["status"] == "done", row["error"]
    assert row["duration_s"] == pytest.approx(duration_s, abs=1e-6)
    assert all(math.isfinite(row[n]) for n in FEATURES)


def test_bad_files_become_failed_rows_and_odd_files_are_fingerprinted(stack: Stack, tmp_path: Path) -> None:
    d = tmp_path
    (d / "a directory.flac").mkdir()
    (d / "empty.flac").write_bytes(b"")
    (d / "random.wav").write_bytes(np.random.default_rng(0).bytes(20_000))
    (d / "text.flac").write_text("this is not audio\n" * 100)
    whole = write_audio(d / "whole.flac", 4.0).read_bytes()
    (d / "truncated.flac").write_bytes(whole[: len(whole) // 3])
    vanished = write_audio(d / "vanished.wav", 1.0)
    tiny = write_audio(d / "tiny.wav", 0.05, 44_100, 2)
    silent = write_audio(d / "silent.flac", 3.0, 48_000, 2, silent=True)
    odd = write_audio(d / 'it\'s a "quoted" ñame with spaces — ø.flac', 2.0, seed=5)
    bad = {
        d / "missing.flac": "file not found",
        d / "empty.flac": "empty file (0 bytes)",
        d / "random.wav": "not an audio file: no known audio or container format",
        d / "text.flac": "not an audio file: no known audio or container format",
        vanished: "file not found",
    }
    truncated = d / "truncated.flac"
    folder = d / "a directory.flac"  # a folder is walked (docs/library.md): empty, it adds no row
    paths = [*bad, folder, truncated, tiny, silent, odd]
    listing = stack.write_paths(paths)
    vanished.unlink()  # listed, then gone before ingest reads it
    with open(listing, "rb") as stdin:
        proc = stack.spawn("ingest", stdin=stdin)
    assert proc.wait(60) == 0, proc.log()

    rows = stack.rows()
    assert sorted(rows) == sorted(str(p) for p in paths if p != folder)  # one row per file, nothing else
    for path, error in bad.items():
        assert (rows[str(path)]["status"], rows[str(path)]["error"]) == ("failed", error), path
    # what survives of a cut FLAC is fingerprinted, and the row says it is not the whole track
    assert rows[str(truncated)]["status"] == "done"
    assert rows[str(truncated)]["warning"].startswith("truncated: decoded 1."), rows[str(truncated)]
    assert rows[str(truncated)]["warning"].split(";")[0].endswith(" s of the 4.0 s declared")
    assert_done(rows[str(tiny)], 0.05)
    assert_done(rows[str(odd)], 2.0)
    assert_done(rows[str(silent)], 3.0)
    assert {n: rows[str(silent)][n] for n in FEATURES} == pytest.approx(SILENCE_VALUES, abs=1e-9)
    assert all(alive.alive() for alive in stack.procs if alive is not proc)


def test_nul_separated_input_carries_newlines_and_non_utf8_names(stack: Stack, tmp_path: Path) -> None:
    newline = write_audio(tmp_path / "two\nlines.wav", 1.5, seed=6)
    raw_name = os.fsdecode(os.fsencode(str(tmp_path)) + b"/latin1-\xe9t\xe9.wav")  # not UTF-8
    write_audio(Path(raw_name), 1.0, seed=7)
    result = stack.ingest([newline, raw_name], nul=True)
    assert result.returncode == 0, result.stderr
    rows = stack.rows()
    assert_done(rows[str(newline)], 1.5)
    # stored as valid UTF-8, the undecodable byte escaped
    assert_done(rows[f"{tmp_path}/latin1-\\xe9t\\xe9.wav"], 1.0)

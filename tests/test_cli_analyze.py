"""`fpstream analyze`: one JSON object per file, the stack's row, failures as rows."""

from __future__ import annotations

import json
import math
import sqlite3
from contextlib import closing

import numpy as np
import pytest
import soundfile as sf

from base.fields import FEATURES, FINGERPRINT_VERSION
from fpstream.analyze_file import analyze_file
from fpstream.cli import main
from store.db import COLUMNS
from tests.cli_support import create_db, run_cli


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    """A stereo FLAC at 44.1 kHz and a mono WAV at 48 kHz, a few seconds each."""
    d = tmp_path_factory.mktemp("audio")
    sr = 44_100
    t = np.arange(int(4.5 * sr)) / sr
    rng = np.random.default_rng(0)
    left = 0.4 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t)) / 2
    right = 0.8 * left + 0.05 * rng.standard_normal(len(t))
    sf.write(d / "stereo.flac", np.stack([left, right], axis=1), sr, subtype="PCM_16")
    sr2 = 48_000
    t2 = np.arange(3 * sr2) / sr2
    clicks = np.zeros_like(t2)
    clicks[:: sr2 // 2] = 0.9  # 120 BPM
    sf.write(d / "mono.wav", 0.2 * np.sin(2 * np.pi * 440 * t2) + clicks, sr2, subtype="FLOAT")
    (d / "notes.txt").write_text("not audio\n")
    return d


def rows_of(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_one_json_line_per_file_with_the_stored_columns(audio, tmp_path, capsys) -> None:
    with closing(sqlite3.connect(create_db(tmp_path / "schema.db"))) as conn:
        table = [c[1] for c in conn.execute("PRAGMA table_info(tracks)")]  # the sink's real schema
    files = [str(audio / "stereo.flac"), str(audio / "mono.wav")]
    assert main(["analyze", *files]) == 0
    rows = rows_of(capsys.readouterr().out)
    assert [r["path"] for r in rows] == files
    for row, (sr, ch, seconds) in zip(rows, [(44_100, 2, 4.5), (48_000, 1, 3.0)], strict=True):
        assert list(row) == list(COLUMNS) == table  # the sink's columns, in its table's order
        assert row["status"] == "done" and row["error"] is None
        assert (row["sample_rate"], row["channels"]) == (sr, ch)
        assert row["duration_s"] == pytest.approx(seconds)
        assert row["fingerprint_version"] == FINGERPRINT_VERSION
        assert all(isinstance(row[n], float) and math.isfinite(row[n]) for n in FEATURES)
    assert rows[1]["stereo_width"] == 0.0 and rows[0]["stereo_width"] > 0.0


def test_failed_files_still_print_a_row_and_exit_1(audio, tmp_path, capsys) -> None:
    missing = tmp_path / "missing.flac"
    files = [str(missing), str(audio / "notes.txt"), str(tmp_path), str(audio / "mono.wav")]
    assert main(["analyze", *files]) == 1
    rows = rows_of(capsys.readouterr().out)
    assert [r["status"] for r in rows] == ["failed", "failed", "failed", "done"]
    assert rows[0]["error"] == "file not found"
    assert rows[1]["error"] == "not an audio file: no known audio or container format"
    assert rows[2]["error"] == "is a directory, not an audio file"
    assert all(rows[0][n] is None for n in FEATURES)


def test_paths_are_made_absolute_like_ingest(audio, monkeypatch, capsys) -> None:
    monkeypatch.chdir(audio)
    assert main(["analyze", "mono.wav"]) == 0
    assert rows_of(capsys.readouterr().out)[0]["path"] == str(audio / "mono.wav")


def test_chunk_size_does_not_change_the_numbers(audio) -> None:
    a = analyze_file(str(audio / "stereo.flac"))
    b = analyze_file(str(audio / "stereo.flac"), chunk_s=1.3)
    for name in FEATURES:
        assert b[name] == pytest.approx(a[name], rel=1e-6, abs=1e-9), name


def test_threads_do_not_change_the_numbers(audio) -> None:
    # 0.5 s chunks: nine chunks in flight across three threads, merged in order
    one = analyze_file(str(audio / "stereo.flac"), chunk_s=0.5, threads=1)
    three = analyze_file(str(audio / "stereo.flac"), chunk_s=0.5, threads=3)
    assert one["status"] == "done"
    assert {k: one[k] for k in FEATURES} == {k: three[k] for k in FEATURES}


def test_usage_errors_exit_2_without_traceback(audio) -> None:
    r = run_cli("analyze")
    assert r.returncode == 2 and "the following arguments are required: FILE" in r.stderr
    r = run_cli("analyze", "--chunk-s", "0", str(audio / "mono.wav"))
    assert r.returncode == 2 and "must be greater than 0" in r.stderr
    r = run_cli("analyze", str(audio / "nope.wav"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert json.loads(r.stdout)["error"] == "file not found"


def test_every_command_has_documentation_like_help() -> None:
    for command in ("analyze", "export", "show", "similar", "status", "feed"):
        r = run_cli(command, "--help")
        assert r.returncode == 0, command
        assert "examples:" in r.stdout, command
        assert "usage: fpstream " + command in r.stdout
    r = run_cli("--help")
    assert all(c in r.stdout for c in ("analyze", "export", "show", "similar", "status", "feed"))
    assert "FPSTREAM_DB" in r.stdout

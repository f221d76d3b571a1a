"""Playlists and duplicates on a library built by the real stack (broker, sink, analyzers over ZeroMQ,
SQLite) from generated music-like files in four styles, plus one recording in several formats."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from fpstream.api import Library
from tests.cli_support import run_cli
from tests.music_styles import style_track, write_copies, write_library
from tests.stack_harness import Stack


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[Path], list[Path]]]:
    """(database, the 16 distinct tracks, the 4 copies of beat-4): one stack run for the module."""
    work = tmp_path_factory.mktemp("playlists")
    tracks = write_library(work / "music")
    copies = write_copies(style_track("beat", 4), work / "music" / "copies", "beat-4 copy")
    with Stack(work) as stack:
        stack.start(analyzers=2)
        result = stack.ingest([*tracks, *copies], timeout=300)
        assert result.returncode == 0, result.stderr
    yield stack.db, tracks, copies


def embedded_of(lib: Library, paths: list[str]) -> np.ndarray:
    return lib.embedded[[lib.features.index_of(p) for p in paths]]


def test_every_track_has_its_chromaprint_and_none_of_these_loops_groups(built) -> None:
    """Duplicates are decided by Chromaprint now (tests/test_duplicates.py has the copies in every
    codec). These 6-second generated loops repeat a bar: their prints hold under 10 distinct keys,
    too few to tell one recording from another, so they are never grouped, copies included."""
    db, tracks, copies = built
    conn = sqlite3.connect(db)
    prints = dict(conn.execute("SELECT path, chromaprint FROM tracks"))
    conn.close()
    assert set(prints) == {str(p) for p in [*tracks, *copies]} and all(prints.values())
    found = Library(db).duplicates()
    assert found.groups == [] and found.indexed == len(prints) and found.without_print == 0
    done = run_cli("duplicates", "--format", "json", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [] and f"0 groups, 0 files among {len(prints)} tracks" in done.stderr


def test_playlist_from_a_seed_is_smooth_without_repeats_or_copies(built, tmp_path) -> None:
    db, tracks, copies = built
    lib = Library(db)
    emb = lib.embedded
    # Median distance from a track to its 10 nearest others, over the library.
    d = np.linalg.norm(emb[:, None] - emb[None], axis=2)
    np.fill_diagonal(d, np.inf)
    median_10nn = float(np.median(np.sort(d, axis=1)[:, :10]))
    m3u = tmp_path / "seed.m3u"
    done = run_cli(
        # --min-duration 0: the generated tracks last 6 s, under the default's 30 s
        *("playlist", str(tracks[0]), "-n", "12", "--min-duration", "0", "--m3u", str(m3u)),
        *("--format", "json", "--db", str(db)),
    )
    assert done.returncode == 0, done.stderr
    entries = json.loads(done.stdout)
    paths = [e["path"] for e in entries]
    assert len(paths) == 12 and paths[0] == str(tracks[0]) and len(set(paths)) == 12
    assert len({str(p) for p in copies} & set(paths)) + ("beat-4.flac" in {Path(p).name for p in paths}) <= 1
    points = embedded_of(lib, paths)
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    assert [e["step"] for e in entries[1:]] == pytest.approx(steps.tolist())
    assert steps.max() <= 2 * median_10nn, (steps.round(3).tolist(), median_10nn)
    rng = np.random.default_rng(0)
    random_means = [
        np.linalg.norm(np.diff(points[rng.permutation(12)], axis=0), axis=1).mean() for _ in range(200)
    ]
    assert steps.mean() < 0.6 * float(np.mean(random_means))
    # The extended M3U names the same tracks with their durations.
    lines = m3u.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#EXTM3U" and len(lines) == 1 + 2 * 12
    assert lines[2::2] == paths
    for info, path in zip(lines[1::2], paths, strict=True):
        seconds, title = info.removeprefix("#EXTINF:").split(",", 1)
        assert int(seconds) == round(sf.info(path).duration) and title == Path(path).stem


def test_playlist_to_a_target_gets_closer_at_every_step_and_ends_there(built) -> None:
    db, tracks, _ = built
    a, b = str(tracks[0]), str(tracks[-1])  # beat-0 to drone-6: two styles far apart
    done = run_cli(
        "playlist", a, "--to", b, "-n", "8", "--min-duration", "0", "--format", "jsonl", "--db", str(db)
    )
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in done.stdout.splitlines()]
    paths = [e["path"] for e in entries]
    assert paths[0] == a and paths[-1] == b and len(set(paths)) == len(paths) >= 3
    lib = Library(db)
    points = embedded_of(lib, paths)
    to_b = np.linalg.norm(points - points[-1], axis=1)
    assert np.all(np.diff(to_b) <= 0) and to_b[-1] == 0.0
    assert [e["to_target"] for e in entries] == pytest.approx(to_b.tolist())
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    assert steps.max() < to_b[0]  # smaller than jumping straight to B

"""`fpstream` commands against a database built by the real stack (real processes, real sockets).

One stack serves the module: broker, sink and two analyzers start once, the
library is fed through `fpstream feed`, and every command then runs as a
subprocess (`python -m fpstream.cli`) against the database the sink wrote.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from base.fields import FEATURES
from store.db import COLUMNS
from store.library import text_value
from tests.cli_support import run_cli
from tests.stack_harness import Stack, last_progress, write_audio

TRACKS = 22  # show needs >= 20 analysed tracks for percentiles


class Library:
    def __init__(self, stack: Stack, music: Path, feed: str) -> None:
        self.stack = stack
        self.music = music
        self.feed_stderr = feed
        self.env = {"FPSTREAM_DB": str(stack.db), "FPSTREAM_BROKER": stack.env["FPSTREAM_BROKER"]}

    def cli(self, *args: str, cwd: Path | None = None) -> str:
        r = run_cli(*args, env=self.env, cwd=cwd)
        assert r.returncode == 0, f"fpstream {' '.join(args)} -> {r.returncode}\n{r.stderr}"
        assert "Traceback" not in r.stderr
        return r.stdout


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Library]:
    work = tmp_path_factory.mktemp("cli-stack")
    music = work / "music" / "Some Artist"
    music.mkdir(parents=True)
    files = [
        write_audio(
            music / f"{i:02d} track.{'wav' if i % 3 == 0 else 'flac'}",
            seconds=2.0 + (i % 4) * 0.5,
            sr=48_000 if i % 2 else 44_100,
            channels=1 if i % 5 == 0 else 2,
            seed=i,
        )
        for i in range(TRACKS)
    ]
    shutil.copyfile(files[4], music / "04 track (copy).flac")
    paths = [*files, music / "04 track (copy).flac", music / "missing.flac"]
    with Stack(work) as stack:
        stack.start(analyzers=2)
        r = run_cli(
            "feed",
            env={**stack.env},
            cwd=work,
            stdin="".join(f"{p}\n" for p in paths),
            timeout=300,
        )
        assert r.returncode == 0, f"{r.stderr}\n{stack.all_logs()}"
        yield Library(stack, music, r.stderr)


def test_feed_committed_every_path_and_its_progress_adds_up(library: Library) -> None:
    progress = last_progress(library.feed_stderr)
    last = {k: int(v) for k, v in progress.items() if k in ("finished", "total", "done", "failed", "skipped")}
    assert last == {
        "finished": TRACKS + 2,
        "total": TRACKS + 2,
        "done": TRACKS + 1,
        "failed": 1,
        "skipped": 0,
    }
    rows = library.stack.rows()
    assert len(rows) == TRACKS + 2
    assert sum(r["status"] == "done" for r in rows.values()) == TRACKS + 1


def test_similar_finds_the_copy_at_distance_zero_first(library: Library) -> None:
    query = library.music / "04 track.flac"
    out = library.cli("similar", str(query), "-k", "5")
    lines = [line.split(None, 2) for line in out.splitlines()]
    assert len(lines) == 5
    assert lines[0][2] == str(library.music / "04 track (copy).flac")
    assert float(lines[0][1]) == 0.0
    distances = [float(d) for _, d, _ in lines]
    assert distances == sorted(distances) and distances[1] > 0
    assert str(query) not in {p for _, _, p in lines}
    # all the others, as JSON, from the music directory with a relative path
    out = library.cli("similar", "04 track.flac", "-k", "100", "--json", cwd=library.music)
    found = [json.loads(line) for line in out.splitlines()]
    assert len(found) == TRACKS  # every other done track; the failed one is not a candidate
    assert found[0]["distance"] == 0.0


def test_show_prints_all_25_names_with_units_and_percentiles(library: Library) -> None:
    out = library.cli("show", str(library.music / "07 track.flac"))
    assert f"among {TRACKS + 1} analysed tracks" in out
    for name in FEATURES:
        line = next(line for line in out.splitlines() if line.strip().startswith(name + " "))
        assert line.rstrip().split()[-1].startswith("p"), line
    missing = library.cli("show", str(library.music / "missing.flac"))
    assert "error: file not found" in missing


def test_csv_has_every_name_and_one_line_per_db_row(library: Library) -> None:
    out = library.cli("export", "--format", "csv")
    records = list(csv.reader(io.StringIO(out, newline="")))
    assert records[0] == list(COLUMNS) and set(FEATURES) <= set(records[0])
    rows = library.stack.rows()  # ordered by path
    assert len(records) - 1 == len(rows)
    assert [r[0] for r in records[1:]] == list(rows)
    jsonl = [json.loads(line) for line in library.cli("export", "--format", "jsonl").splitlines()]
    # as stored, the chromaprint BLOB as base64 text (JSON carries no bytes)
    assert jsonl == [{k: text_value(v) for k, v in row.items()} for row in rows.values()]


def test_analyze_gives_the_stacks_numbers_for_the_same_file(library: Library) -> None:
    stored = library.stack.rows()
    files = [library.music / "03 track.wav", library.music / "04 track.flac", library.music / "missing.flac"]
    r = run_cli("analyze", *map(str, files), env=library.env)
    assert r.returncode == 1  # one of them is missing
    for line in r.stdout.splitlines():
        mine = json.loads(line)
        theirs = {k: text_value(v) for k, v in stored[mine["path"]].items()}  # BLOB as base64
        assert list(mine) == list(theirs)
        for column in COLUMNS:
            if column == "analyzed_at":
                continue
            if isinstance(theirs[column], float):
                assert math.isclose(mine[column], theirs[column], rel_tol=1e-9, abs_tol=1e-12), column
            else:
                assert mine[column] == theirs[column], column


def test_status_sees_the_running_stack(library: Library) -> None:
    out = library.cli("status", "--interval", "0.2")
    assert "connected:" in out and "2 analyzers, 1 sink" in out
    assert f"{TRACKS + 1} done, 1 failed" in out

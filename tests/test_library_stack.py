"""A library as people keep one, through the real stack: tags, folders, files that are not audio,
tracks named by their tags, and a database from before tags (issue 23, docs/library.md).

One stack serves every assertion: the library is generated (seven formats, tags written by
mutagen, covers, a cue sheet, a text, an empty ``.flac``, a text named ``.mp3``), walked from a
folder on stdin, fed again as arguments (``fpstream feed DIR FILE``), then a copy of the
database as schema v2 had it gets its tags without any analysis. ``make run MUSIC=DIR`` is
checked as make expands it and then run as that command.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from base.fields import FEATURES, TRACK_COLUMNS
from fpstream.api import Library
from fpstream.cli import main
from fpstream.steering import Steering
from store.db import MIGRATIONS
from tests.cli_support import ROOT
from tests.library_support import RECORDING_ID, RELEASE_ID, encode, make_library, tone, write_tags
from tests.library_support import Library as Made
from tests.stack_harness import Stack, read_rows

pytestmark = pytest.mark.slow

IGNORED_LINE = "ignored 5 files that are not audio: 3 images, 1 cue sheet, 1 text"


@dataclass
class Built:
    lib: Made
    db: Path
    first_err: str
    first_rc: int
    rows: dict[str, dict]
    feed: subprocess.CompletedProcess[str]
    later: Path
    rows_after_feed: dict[str, dict]
    retagged_err: str
    rows_retagged: dict[str, dict]
    old_db: Path
    old_rows: dict[str, dict]
    migrated_err: str
    migrated_rc: int
    migrated_rows: dict[str, dict]


def v2_database(path: Path, rows: dict[str, dict], extra_failed: dict[str, str]) -> None:
    """``rows`` as a schema-v2 database held them (no tag columns), plus failed rows of
    ``extra_failed`` {path: error} (what v2 stored for covers, cue sheets, folders)."""
    conn = sqlite3.connect(path)
    for version in (1, 2):
        for statement in MIGRATIONS[version]:
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    v2 = (*TRACK_COLUMNS, *FEATURES, "warning")
    marks = ", ".join("?" for _ in v2)
    values = [tuple(r[c] for c in v2) for r in rows.values()]
    conn.executemany(f"INSERT INTO tracks ({', '.join(v2)}) VALUES ({marks})", values)
    conn.executemany(
        "INSERT INTO tracks (path, status, error, fingerprint_version) VALUES (?, 'failed', ?, 2)",
        list(extra_failed.items()),
    )
    conn.commit()
    conn.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    work = tmp_path_factory.mktemp("library")
    lib = make_library(work / "Music")
    root = lib.root
    (root / "Unsorted" / "loop").symlink_to(root)  # reported and skipped, never fatal
    with Stack(work / "stack") as stack:
        stack.start(analyzers=2)
        # 1. A folder on stdin, walked; --list-ignored names what is not audio.
        first = stack.ingest([root], "--list-ignored")
        rows = stack.rows()
        # 2. As arguments: a new folder and a single file, with fpstream feed (the rest is skipped).
        later = root / "Later" / "Second Album"
        later.mkdir(parents=True)
        new = encode(later / "01 Night Drive.flac", tone(11), "flac")
        write_tags(new, "flac", {"title": "Night Drive", "artist": "Later Band", "album": "Second Album",
                                 "track_number": 1, "date": "2025", "genre": "Rock"})  # fmt: skip
        feed = subprocess.run(
            [sys.executable, "-m", "fpstream.cli", "feed", str(root / "Later"), str(lib.untagged)],
            env=stack.env, capture_output=True, text=True, timeout=120, cwd=work,
        )  # fmt: skip
        rows_after_feed = stack.rows()
        # 2b. A tag edit: the fingerprint is kept (content identity), the new tags are stored.
        write_tags(new, "flac", {"title": "Night Drive (2025 mix)", "artist": "Later Band",
                                 "album": "Second Album", "track_number": 1, "date": "2025", "genre": "Rock"})
        retagged = stack.ingest([new])
        rows_retagged = stack.rows()
        # 3. A database from before tags (v2): its rows get tags from the next run, nothing re-analysed.
        old_db = work / "v2.db"
        done = {p: r for p, r in rows_retagged.items() if r["status"] == "done"}
        not_audio = "not an audio file: no known audio or container format"
        v2_database(old_db, done, {
            str(lib.covers[0]): not_audio,
            str(root / "Unsorted"): "is a directory, not an audio file",
            str(root / "Unsorted" / "not really.mp3"): not_audio,
        })  # fmt: skip
        old_rows = read_rows(old_db)
        stack.sink.signal(signal.SIGTERM)
        stack.sink.wait(20)
        stack.sink = stack.start_sink(env={"FPSTREAM_DB": str(old_db)})
        stack.wait_connected({"results_out": 1, "acks_in": 1})
        migrated = stack.ingest([root], env={"FPSTREAM_DB": str(old_db)})
    # the stack is stopped: the query commands below need only the database
    yield Built(
        lib, stack.db, first.stderr, first.returncode, rows, feed, later, rows_after_feed, retagged.stderr,
        rows_retagged,
        old_db, old_rows, migrated.stderr, migrated.returncode, read_rows(old_db),
    )  # fmt: skip


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(built: Built, capsys: pytest.CaptureFixture[str]):
    """``fpstream ARGS --db <the library>`` in this process (one import of the CLI for every call)."""

    def run(*args: str) -> Ran:
        capsys.readouterr()
        returncode = main([*args, "--db", str(built.db)])
        out = capsys.readouterr()
        return Ran(returncode, out.out, out.err)

    return run


# ---------------------------------------------------------------- ingest: folders, ignored files, tags


def test_a_folder_on_stdin_is_walked_and_files_that_are_not_audio_get_no_row(built: Built) -> None:
    assert built.first_rc == 0, built.first_err
    lib, rows = built.lib, built.rows
    tracks = {str(p) for p in lib.tagged} | {str(lib.untagged)}
    assert {p for p, r in rows.items() if r["status"] == "done"} == tracks
    # A text named .mp3 and an empty .flac claim to be audio: failed rows, with the reason.
    failed = {p: r["error"] for p, r in rows.items() if r["status"] == "failed"}
    assert set(failed) == {str(p) for p in lib.broken}
    for path, start in lib.broken.items():
        assert failed[str(path)].startswith(start)
    # Covers, the cue sheet and the text are no rows; one line counts them, --list-ignored names them.
    assert not {str(p) for p in lib.not_audio} & set(rows)
    assert f"{IGNORED_LINE}:" in built.first_err
    for path, kind in lib.not_audio.items():
        assert f"  {path}  ({kind})" in built.first_err
    assert f"skipped folder {lib.root}/Unsorted/loop: symbolic link loop (it is {lib.root}" in built.first_err
    assert f"finished {len(tracks) + 2 + 5} of {len(tracks) + 2 + 5} paths" in built.first_err


def test_tags_of_every_format_are_stored_and_the_untagged_file_has_none(built: Built) -> None:
    rows = built.rows
    for path, tags in built.lib.tagged.items():
        row = rows[str(path)]
        stored = {k: row[k] for k in tags}
        assert stored == tags, path.suffix
        assert row["tags_read"] == 1
    first = rows[str(next(iter(built.lib.tagged)))]
    assert (first["musicbrainz_recording_id"], first["musicbrainz_release_id"]) == (RECORDING_ID, RELEASE_ID)
    untagged = rows[str(built.lib.untagged)]
    assert untagged["title"] is None and untagged["artist"] is None and untagged["tags_read"] == 1


def test_feed_takes_folders_and_files_as_arguments(built: Built) -> None:
    assert built.feed.returncode == 0, built.feed.stderr
    new = built.rows_after_feed[str(built.later / "01 Night Drive.flac")]
    assert new["status"] == "done" and new["title"] == "Night Drive" and new["artist"] == "Later Band"
    assert "done          1   analysed now" in built.feed.stderr
    assert "skipped       1   done before, unchanged" in built.feed.stderr  # the untagged file given by name


def test_a_tag_edit_stores_the_new_tags_and_analyses_nothing(built: Built) -> None:
    key = str(built.later / "01 Night Drive.flac")
    before, after = built.rows_after_feed[key], built.rows_retagged[key]
    assert after["title"] == "Night Drive (2025 mix)" and before["title"] == "Night Drive"
    assert after["analyzed_at"] == before["analyzed_at"]  # not analysed again
    assert [after[f] for f in FEATURES] == [before[f] for f in FEATURES]
    assert "kept          1" in built.retagged_err and "done          0" in built.retagged_err


def test_a_database_from_before_tags_gets_them_without_analysis(built: Built) -> None:
    assert built.migrated_rc == 0, built.migrated_err
    old, new = built.old_rows, built.migrated_rows
    assert "title" not in next(iter(old.values()))  # a v2 row: no tag columns
    for path, tags in built.lib.tagged.items():
        row = new[str(path)]
        assert {k: row[k] for k in tags} == tags and row["tags_read"] == 1
        # not analysed again: the row's analysis time and values are those of before
        assert row["analyzed_at"] == old[str(path)]["analyzed_at"]
        assert [row[f] for f in FEATURES] == [old[str(path)][f] for f in FEATURES]
    assert "done          0   analysed now" in built.migrated_err
    n = len(built.lib.tagged) + 2  # tagged, untagged, and Later's track
    assert f"({n} of them had their tags read now, without analysis)" in built.migrated_err
    # the migration dropped the failed rows of a cover and a folder, and kept the text named .mp3
    assert str(built.lib.covers[0]) not in new and str(built.lib.root / "Unsorted") not in new
    assert new[str(built.lib.root / "Unsorted" / "not really.mp3")]["status"] == "failed"
    assert f"{IGNORED_LINE} (--list-ignored names them)" in built.migrated_err


# ---------------------------------------------------------------- the user layer


def test_show_prints_the_tags(cli, built: Built) -> None:
    path = next(p for p, t in built.lib.tagged.items() if p.suffix == ".wma")
    done = cli("show", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[2].startswith("  The Quiet Ones - Salt and Stone · North Roads (track 3)")
    record = json.loads(cli("show", "salt stone", "--format", "json").stdout)[0]
    assert record["path"] == str(path) and record["album"] == "North Roads"


def test_a_text_naming_one_track_is_used_accents_and_case_aside(cli, built: Built) -> None:
    done = cli("similar", "EMILIE brule cafe", "--format", "jsonl", "-k", "3")
    assert done.returncode == 0, done.stderr
    listed = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(listed) == 3 and all(r["path"] for r in listed)
    cafe = next(str(p) for p, t in built.lib.tagged.items() if t["title"] == "Café de l'aube")
    assert cafe not in {r["path"] for r in listed}  # the query itself, found by its tags
    by_path = {str(p): t for p, t in built.lib.tagged.items()}
    for r in listed:
        if r["path"] in by_path:
            assert (r["artist"], r["title"]) == (by_path[r["path"]]["artist"], by_path[r["path"]]["title"])
    table = cli("similar", "émilie café", "-k", "9").stdout
    assert "The Quiet Ones - Harbour Lights" in table and "Unsorted/field recording.flac" in table


def test_a_text_naming_several_tracks_lists_them_and_exits_2(cli, built: Built) -> None:
    done = cli("similar", "love theme")
    assert done.returncode == 2 and done.stdout == ""
    assert "'love theme' matches 2 tracks; say more" in done.stderr
    assert "The Quiet Ones - Love Theme  (Live at Home, track 1)" in done.stderr
    assert "The Quiet Ones - Love Theme  (North Roads, track 2)" in done.stderr
    assert cli("similar", "love theme north").returncode == 0


def test_a_text_naming_no_track_lists_the_closest_titles(cli, built: Built) -> None:
    done = cli("playlist", "lvoe thme")
    assert done.returncode == 1
    assert "no track in the library matches 'lvoe thme'" in done.stderr
    assert "The Quiet Ones - Love Theme" in done.stderr.split("closest titles:", 1)[1]


def test_search_lists_matches_in_every_format(cli, built: Built) -> None:
    done = cli("search", "quiet", "ones", "--format", "csv")
    assert done.returncode == 0, done.stderr
    records = list(csv.DictReader(io.StringIO(done.stdout)))
    titles = sorted(r["title"] for r in records)
    assert titles == ["Harbour Lights", "Love Theme", "Love Theme", "Salt and Stone"]
    assert {r["album"] for r in records} == {"North Roads", "Live at Home"}
    table = cli("search", "ete").stdout.splitlines()
    assert len(table) == 3 and all(line.startswith("Émilie Brûlé - ") for line in table)
    assert cli("search", "no such words").returncode == 1


def test_playlist_m3u_names_tracks_by_their_tags_or_file_name(cli, built: Built, tmp_path: Path) -> None:
    m3u = tmp_path / "list.m3u"
    m3u_args = ("--m3u", str(m3u), "--format", "json")
    done = cli("playlist", "field recording", "-n", "10", "--min-duration", "0", *m3u_args)  # 3 s tracks
    assert done.returncode == 0, done.stderr
    entries = json.loads(done.stdout)
    lines = m3u.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#EXTM3U" and lines[1] == "#EXTINF:3,field recording"  # untagged: its file name
    by_path = {str(p): t for p, t in built.lib.tagged.items()}
    named = 0
    for info, path in zip(lines[1::2], lines[2::2], strict=True):
        if path in by_path:
            assert info == f"#EXTINF:3,{by_path[path]['artist']} - {by_path[path]['title']}"
            named += 1
    assert named >= 3 and [e["path"] for e in entries] == lines[2::2]
    assert entries[1]["title"] and entries[1]["artist"]


def test_duplicates_export_report_and_the_api_carry_the_tags(cli, built: Built, tmp_path: Path) -> None:
    dup = cli("duplicates", "--max-distance", "100", "--format", "jsonl")
    members = [json.loads(line) for line in dup.stdout.splitlines()]
    assert {(m["artist"], m["title"]) for m in members} >= {("The Quiet Ones", "Salt and Stone")}
    exported = list(csv.DictReader(io.StringIO(cli("export", "--format", "csv").stdout)))
    wav = next(r for r in exported if r["path"].endswith("01 Love Theme.wav"))
    assert (wav["artist"], wav["album"], wav["track_number"], wav["genre"]) == (
        "The Quiet Ones", "Live at Home", "1", "Folk"
    )  # fmt: skip
    page = tmp_path / "report.html"
    assert cli("report", "--output", str(page), "--track", "harbour").returncode == 0
    html = page.read_text(encoding="utf-8")
    data = json.loads(html.split('id="data">', 1)[1].split("</script>", 1)[0])
    assert data["summary"]["tagged"] == 8 and data["summary"]["albums"] == 4
    assert data["labels"][data["selected"]] == "The Quiet Ones - Harbour Lights"
    assert data["labels"][data["names"].index("field recording.flac")] == ""
    api = Library(built.db)
    track = api.get(str(next(iter(built.lib.tagged))))
    assert track.display_name == "Émilie Brûlé - Café de l'aube" and track.disc_number == 1
    assert api.get(str(built.lib.untagged)).display_name == "field recording"
    near = api.similar(str(built.lib.untagged), 3, steering=Steering(min_duration_s=None))
    assert len(near) == 3 and all(t.display_name == f"{t.artist} - {t.title}" for t, _ in near if t.title)


# ---------------------------------------------------------------- make run MUSIC=DIR


def test_make_run_music_walks_the_folder(built: Built, tmp_path: Path) -> None:
    music = built.lib.root / "The Quiet Ones"
    dry = subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(ROOT), "-o", ".venv/.fpstream-installed",
         "-o", ".venv/.fpstream-kernels", "run", "ANALYZERS=1", f"MUSIC={music}", "LIST_IGNORED=1"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    command = dry.stdout.strip().splitlines()[-1]
    assert command.endswith(f'-m ingest.run --analyzers 1 --list-ignored -- "{music}"'), command
    # ... and that command, run as make would run it (the Makefile's own python: ours here)
    ipc = tempfile.mkdtemp(prefix="fps-mk-")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FPSTREAM_")}
        env.update(
            FPSTREAM_DB=str(tmp_path / "made.db"), FPSTREAM_BROKER=f"ipc://{ipc}/b", PYTHONPATH=str(ROOT),
            XDG_STATE_HOME=str(tmp_path / "state"),
        )  # fmt: skip
        run = subprocess.run(
            [sys.executable, "-m", "ingest.run", "--analyzers", "1", "--list-ignored", "--", str(music)],
            env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    finally:
        shutil.rmtree(ipc, ignore_errors=True)
    assert run.returncode == 0, run.stderr
    rows = read_rows(tmp_path / "made.db")
    assert sorted(Path(p).name for p in rows) == [
        "01 Harbour Lights.mp3", "01 Love Theme.wav", "02 Love Theme.m4a", "03 Salt and Stone.wma"
    ]  # fmt: skip
    assert "ignored 2 files that are not audio: 2 images:" in run.stderr

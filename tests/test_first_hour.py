"""The first hour of a new user, with real processes: input read as it arrives, a stack that is not
there, re-runs that do not retry what would fail again, prune, the per-user library, Ctrl-C on a terminal.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from base.config import database_path
from ingest.progress import PROGRESS_RE
from tests.cli_support import ROOT, create_db, done_row, failed_row, run_cli
from tests.stack_harness import Stack, last_progress, write_audio

FEED_TIMEOUT_S = 120.0


def progress_lines(text: str) -> list[dict[str, str]]:
    return [m.groupdict() for m in map(PROGRESS_RE.search, text.splitlines()) if m]


def wait_for(predicate, what: str, timeout: float = 60.0, log=lambda: "") -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout:.0f} s:\n{log()}")
        time.sleep(0.05)


# ---------------------------------------------------------------- the library's path


def test_the_library_is_per_user_and_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FPSTREAM_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    assert database_path() == tmp_path / "data" / "fpstream" / "fingerprints.db"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/not/allowed")  # the XDG spec: ignore a relative value
    assert database_path() == Path.home() / ".local" / "share" / "fpstream" / "fingerprints.db"
    monkeypatch.setenv("FPSTREAM_DB", "here.db")
    assert database_path() == tmp_path / "here.db"  # absolute, so every process means the same file
    r = run_cli("show", "--help", env={"FPSTREAM_DB": "", "XDG_DATA_HOME": str(tmp_path / "d")})
    assert f"here: {tmp_path / 'd' / 'fpstream' / 'fingerprints.db'}" in " ".join(r.stdout.split())
    assert "docs/fingerprint.md" in r.stdout


# ---------------------------------------------------------------- no stack


def test_feed_without_a_stack_says_which_process_is_missing(tmp_path: Path) -> None:
    song = write_audio(tmp_path / "song.wav", 1.0)
    with Stack(tmp_path, env={"FPSTREAM_STACK_WAIT_S": "3"}) as stack:
        env = {**stack.env, "PYTHONPATH": str(ROOT)}
        r = run_cli("feed", env=env, stdin=f"{song}\n", timeout=FEED_TIMEOUT_S)
        assert r.returncode == 1, r.stderr
        assert f"no broker answers at {stack.env['FPSTREAM_BROKER']}" in r.stderr
        assert "honcho start" in r.stderr and "Traceback" not in r.stderr
        waited = re.search(r"\(waited (\d+)s\)", r.stderr)
        assert waited and int(waited.group(1)) < 10, r.stderr  # it said so within seconds

        stack.start_broker()
        r = run_cli("feed", env=env, stdin=f"{song}\n", timeout=FEED_TIMEOUT_S)
        assert r.returncode == 1
        assert "no sink is connected" in r.stderr and "no analyzer is connected" in r.stderr
        assert "python -m sink" in r.stderr and "python -m analyzer" in r.stderr

        stack.start_sink()
        stack.wait_connected({"results_out": 1})
        r = run_cli("feed", env=env, stdin=f"{song}\n", timeout=FEED_TIMEOUT_S)
        assert r.returncode == 1
        assert "no analyzer is connected" in r.stderr and "no sink" not in r.stderr
        assert stack.rows() == {}  # nothing was sent to a stack that could not finish it

        # complete: it runs; an analyzer that goes away mid-run is reported, and one that comes back is used
        analyzer = stack.start_analyzers(1)[0]
        files = [write_audio(tmp_path / f"long{i}.wav", 6.0, seed=70 + i) for i in range(6)]
        # the chunk queued at the killed analyzer is lost: a short ack timeout re-sends it soon
        # (and many retries: on a busy machine a slow analysis must not turn into a timed-out failure)
        quick = {
            "FPSTREAM_ACK_TIMEOUT_S": "8",
            "FPSTREAM_ACK_TIMEOUT_PER_AUDIO_S": "1",
            "FPSTREAM_RETRIES": "20",
        }
        ingest = stack.start_ingest(
            files, env={"FPSTREAM_CHUNK_S": "1", "FPSTREAM_MAX_IN_FLIGHT": "1", **quick}
        )
        stack.wait_rows(1, timeout=FEED_TIMEOUT_S)
        analyzer.signal(signal.SIGKILL)
        ingest.wait_for_log("the stack is incomplete: no analyzer is connected", timeout=60)
        stack.start_analyzers(1)
        ingest.wait_for_log("the stack is complete again", timeout=60)
        assert ingest.wait(FEED_TIMEOUT_S) == 0, ingest.log()
        rows = stack.rows()
        assert [(rows[str(f)]["status"], rows[str(f)]["error"]) for f in files] == [("done", None)] * len(
            files
        )

        # an unchanged library needs no stack: every path is skipped before one would be asked for
        stack.stop()
        r = run_cli("feed", env=env, stdin="".join(f"{f}\n" for f in files), timeout=FEED_TIMEOUT_S)
        assert r.returncode == 0, r.stderr
        assert last_progress(r.stderr)["skipped"] == str(len(files))


# ---------------------------------------------------------------- input as it arrives


def test_paths_written_one_per_second_are_admitted_as_they_arrive(stack: Stack, tmp_path: Path) -> None:
    files = [write_audio(tmp_path / f"slow{i}.wav", 1.0, seed=40 + i) for i in range(3)]
    ingest = stack.spawn("ingest", stdin=subprocess.PIPE)
    assert ingest.popen.stdin is not None
    try:
        for i, f in enumerate(files, start=1):
            time.sleep(1.0)
            ingest.popen.stdin.write(f"{f}\n".encode())
            ingest.popen.stdin.flush()
            # committed while the input is still open: the path was not held back for a block to fill
            wait_for(lambda f=f: str(f) in stack.rows(), f"{f} not committed", log=ingest.log)
            wait_for(
                lambda i=i: any(p["total"] == str(i) for p in progress_lines(ingest.log())),
                f"no progress line with total {i}",
                log=ingest.log,
            )
        ingest.popen.stdin.close()
        assert ingest.wait(FEED_TIMEOUT_S) == 0, ingest.log()
    finally:
        ingest.signal(signal.SIGKILL)
    lines = progress_lines(ingest.log())
    totals = [int(p["total"]) for p in lines]
    assert totals == sorted(totals) and max(totals) == len(files)  # grows with the input, never beyond
    assert all(p["reading"] == "+" for p in lines[:-1])  # open input: the total is not final …
    assert (lines[-1]["total"], lines[-1]["reading"], lines[-1]["done"]) == ("3", "", "3")  # … then it is


# ---------------------------------------------------------------- re-runs


def test_failed_files_are_not_retried_unless_changed_or_asked(stack: Stack, tmp_path: Path) -> None:
    good = [write_audio(tmp_path / f"ok{i}.flac", 1.5, seed=50 + i) for i in range(2)]
    text = tmp_path / "notes.ogg"
    text.write_text("not audio")
    empty = tmp_path / "empty.ogg"
    empty.write_bytes(b"")
    missing = tmp_path / "gone.ogg"
    paths = [*good, text, empty, missing]

    first = stack.ingest(paths)
    assert first.returncode == 0, first.stderr
    p = last_progress(first.stderr)
    assert (p["done"], p["failed"], p["skipped"]) == ("2", "3", "0")
    assert "failed now (3):" in first.stderr
    assert f"  {empty}: empty file (0 bytes)" in first.stderr  # named, with its error
    assert f"  {missing}: file not found" in first.stderr
    assert re.search(rf"  {re.escape(str(text))}: not an audio file", first.stderr)
    assert "fpstream export --format jsonl" in first.stderr  # how to list them all
    analysed = {k: r["analyzed_at"] for k, r in stack.rows().items() if k.startswith(str(tmp_path))}

    again = stack.ingest(paths)
    p = last_progress(again.stderr)
    assert (p["done"], p["failed"], p["skipped"]) == ("0", "0", "5")
    assert re.search(r"skipped +2 +done before, unchanged", again.stderr)
    assert re.search(r"skipped +3 +failed before, unchanged", again.stderr)
    assert "failed before, unchanged (3):" in again.stderr and "failed now" not in again.stderr
    assert f"  {empty}: empty file (0 bytes)" in again.stderr  # the stored error, from the database
    assert {k: stack.rows()[k]["analyzed_at"] for k in analysed} == analysed  # nothing was rewritten

    text.write_text("still not audio, but changed")  # a changed file is tried again
    changed = stack.ingest(paths)
    p = last_progress(changed.stderr)
    assert (p["done"], p["failed"], p["skipped"]) == ("0", "1", "4")
    assert "failed now (1):" in changed.stderr and "failed before, unchanged (2):" in changed.stderr

    retried = stack.ingest(paths, "--retry-failed")
    p = last_progress(retried.stderr)
    assert (p["done"], p["failed"], p["skipped"]) == ("0", "3", "2")


# ---------------------------------------------------------------- prune


def test_prune_lists_first_then_deletes_rows_whose_file_is_gone(tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    kept, deleted = music / "kept.flac", music / "deleted.flac"
    kept.write_bytes(b"x")
    unmounted = tmp_path / "usb" / "album" / "a.flac"
    rows = [done_row(str(kept), [0.1] * 25), failed_row(str(deleted)), done_row(str(unmounted), [0.2] * 25)]
    db = create_db(tmp_path / "lib.db", rows)
    env = {"FPSTREAM_DB": str(db)}

    dry = run_cli("prune", env=env)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [str(deleted), str(unmounted)]
    assert "2 rows whose file is gone" in dry.stderr and "nothing changed" in dry.stderr
    assert f"under {tmp_path / 'usb'}, which does not exist" in dry.stderr  # an unmounted disk?
    assert count_rows(db) == 3  # a dry run changes nothing

    only = run_cli("prune", "--delete", "--under", str(music), env=env)
    assert only.returncode == 0 and "removed 1 rows" in only.stderr
    assert sorted(paths_in(db)) == sorted([str(kept), str(unmounted)])
    every = run_cli("prune", "--delete", env=env)
    assert every.returncode == 0 and "removed 1 rows" in every.stderr
    assert paths_in(db) == [str(kept)]
    assert "nothing to remove" in run_cli("prune", env=env).stderr


def count_rows(db: Path) -> int:
    return len(paths_in(db))


def paths_in(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [p for (p,) in conn.execute("SELECT path FROM tracks ORDER BY path")]


# ---------------------------------------------------------------- Ctrl-C on a terminal


def test_ctrl_c_with_a_terminal_as_stdin_exits_130_and_keeps_committed_rows(
    stack: Stack, tmp_path: Path
) -> None:
    """``fpstream feed`` reading a pseudo-terminal, as a user typing paths; SIGINT to its process group."""
    files = [write_audio(tmp_path / f"typed{i}.wav", 1.0, seed=60 + i) for i in range(2)]
    master, slave = os.openpty()
    screen = Screen(master)
    try:
        feed = subprocess.Popen(
            [sys.executable, "-m", "fpstream.cli", "feed"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**stack.env, "PYTHONPATH": str(ROOT)},
            start_new_session=True,  # its own process group, as a job in a shell
        )
        os.close(slave)
        for f in files:
            os.write(master, f"{f}\n".encode())
        wait_for(
            lambda: sum(str(f) in stack.rows() for f in files) == 2, "rows not committed", log=screen.text
        )
        t0 = time.monotonic()
        os.killpg(feed.pid, signal.SIGINT)  # Ctrl-C, while it waits for more input from the terminal
        rc = feed.wait(30)
        stopped_s = time.monotonic() - t0
    finally:
        screen.close()
    text = screen.text()
    assert rc == 130, text
    assert "Fatal Python error" not in text and "Traceback" not in text, text
    assert "interrupted after" in text and "committed rows are kept" in text
    assert stopped_s < 30  # bounded by wait(); it stops at once in practice
    rows = stack.rows()
    assert all(rows[str(f)]["status"] == "done" for f in files)
    with sqlite3.connect(stack.db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


class Screen:
    """What a program writes to a pseudo-terminal, read on a thread so that it never blocks writing."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.data = bytearray()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: every program on the terminal has closed it
                return
            if not chunk:
                return
            self.data += chunk

    def text(self) -> str:
        return bytes(self.data).decode(errors="replace")

    def close(self) -> None:
        self.thread.join(10)
        os.close(self.master)


def test_every_command_help_points_to_the_definitions_and_shows_the_library(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import argparse

    from fpstream.cli import build_parser

    monkeypatch.delenv("FPSTREAM_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", "/x")  # short: help texts wrap long words
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert "prune" in sub.choices
    for name, command in sub.choices.items():
        text = " ".join(command.format_help().split())
        assert "docs/fingerprint.md" in text, name
        if any(a.dest == "db" for a in command._actions):
            assert "/x/fpstream/fingerprints.db" in text, name

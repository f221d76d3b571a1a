"""``make run`` itself, as a user runs it: paths on stdin or typed on a terminal, progress, exit status.

``-o .venv/.fpstream-installed`` tells make not to (re)install: the tests run in
the environment ``make test`` already set up.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from base.fields import FEATURES
from tests.stack_harness import ROOT, last_progress, read_rows, write_audio
from tests.test_first_hour import Screen

MAKE_RUN = [
    "make",
    "--no-print-directory",
    "-C",
    str(ROOT),
    "-o",
    ".venv/.fpstream-installed",
    "run",
    "ANALYZERS=2",
]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The user's environment, with a private broker address and a database in tmp_path."""
    ipc = tempfile.mkdtemp(prefix="fps-run-")  # short: ipc socket paths are limited to ~107 bytes
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FPSTREAM_")}
    yield {
        **clean,
        "FPSTREAM_DB": str(tmp_path / "library.db"),
        "FPSTREAM_BROKER": f"ipc://{ipc}/b",
        "XDG_STATE_HOME": str(tmp_path / "state"),  # the stack's log
    }
    shutil.rmtree(ipc, ignore_errors=True)


def test_make_run_six_paths_five_done_one_failed(tmp_path: Path, env: dict[str, str]) -> None:
    good = [
        write_audio(tmp_path / "a.flac", 3.0, 44_100, 2, seed=1),
        write_audio(tmp_path / "b.wav", 2.0, 48_000, 1, seed=2),
        write_audio(tmp_path / "c.flac", 2.5, 48_000, 2, seed=3),
        write_audio(tmp_path / "d.wav", 1.5, 44_100, 2, subtype="PCM_16", seed=4),
        write_audio(tmp_path / "e.flac", 4.0, 44_100, 1, seed=5),
    ]
    paths = [*map(str, good), str(tmp_path / "missing.flac")]
    out = subprocess.run(
        MAKE_RUN, input="\n".join(paths) + "\n", env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr
    db = read_rows(Path(env["FPSTREAM_DB"]))
    assert sorted(db) == sorted(paths)
    for p in good:
        assert db[str(p)]["status"] == "done"
        assert all(math.isfinite(db[str(p)][n]) for n in FEATURES)
    assert (db[paths[-1]]["status"], db[paths[-1]]["error"]) == ("failed", "file not found")
    # not a terminal: plain progress lines on stderr, the services' lines in their log file
    progress = last_progress(out.stderr)
    assert (progress["total"], progress["reading"]) == ("6", "")
    assert (progress["done"], progress["failed"]) == ("5", "1"), out.stderr
    assert out.stderr.startswith(f"library: {env['FPSTREAM_DB']}\n")
    assert f"  {paths[-1]}: file not found" in out.stderr  # the summary names the failed file
    assert "INFO" not in out.stderr  # no service log lines on the user's screen
    assert "sink" in (tmp_path / "state" / "fpstream" / "stack.log").read_text()


def test_make_run_on_a_terminal_ctrl_c_then_rerun_finishes_the_job(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Paths typed into a pseudo-terminal that is make's stdin and screen; Ctrl-C = SIGINT to the group."""
    files = [write_audio(tmp_path / f"t{i:02d}.flac", 4.0, seed=i) for i in range(14)]
    listing = "".join(f"{f}\n" for f in files)
    env.update(FPSTREAM_CHUNK_S="1", FPSTREAM_MAX_IN_FLIGHT="2", FPSTREAM_BATCH_ROWS="1")
    db = Path(env["FPSTREAM_DB"])
    master, slave = os.openpty()
    screen = Screen(master)
    try:
        # its own session and process group, like a job in a terminal: Ctrl-C goes to the whole group
        make = subprocess.Popen(
            MAKE_RUN,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            preexec_fn=default_sigint,
        )
        os.close(slave)
        os.write(master, listing.encode())  # typed; no Ctrl-D: the input stays open
        deadline = time.monotonic() + 120
        while len(read_rows(db)) < 2:
            assert make.poll() is None and time.monotonic() < deadline, screen.text()
            time.sleep(0.05)
        t0 = time.monotonic()
        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C
        rc = make.wait(30)
        stopped_s = time.monotonic() - t0
    finally:
        screen.close()
    text = screen.text()
    assert stopped_s < 30, text
    # the runner exits 130; make reports it and dies of the SIGINT itself (a shell's $? is 130 either way)
    assert rc in (130, -signal.SIGINT) and "Error 130" in text, text
    assert "Fatal Python error" not in text and "Traceback" not in text, text
    assert "interrupted after" in text, text
    stack_line = re.search(r"stack: (.*) at ipc://", text)
    assert stack_line, text
    pids = [int(p) for p in re.findall(r"\d+", stack_line.group(1))]
    assert len(pids) == 4  # broker, sink, 2 analyzers
    time.sleep(0.2)
    assert not [p for p in pids if alive(p)], text
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    before = {p: r["analyzed_at"] for p, r in read_rows(db).items() if r["status"] == "done"}
    assert len(before) >= 2
    if len(before) == len(files):
        pytest.fail("the run finished before the interrupt; make the library longer")

    again = subprocess.run(MAKE_RUN, input=listing, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    after = read_rows(db)
    assert sorted(after) == sorted(map(str, files))
    assert all(r["status"] == "done" for r in after.values())
    assert {p: after[p]["analyzed_at"] for p in before} == before
    assert last_progress(again.stderr)["skipped"] == str(len(before))


def default_sigint() -> None:
    """A job in an interactive shell gets SIGINT's default action, even if this test runs in the
    background of a non-interactive shell (which ignores SIGINT, and make would inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True

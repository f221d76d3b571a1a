"""``make run`` itself, as a user runs it: paths on stdin, honcho, the Procfile, exit status.

``-o .venv/.fpstream-installed`` tells make not to (re)install: the tests run in
the environment ``make test`` already set up.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from base.fields import FEATURES
from tests.stack_harness import ROOT, last_progress, read_rows, write_audio

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
    yield {**clean, "FPSTREAM_DB": str(tmp_path / "library.db"), "FPSTREAM_BROKER": f"ipc://{ipc}/b"}
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
    # honcho merges stderr into its stdout, prefixed; progress is plain lines there
    progress = last_progress(out.stdout)
    assert (progress["done"], progress["failed"]) == ("5", "1"), out.stdout


def test_make_run_interrupted_then_rerun_finishes_the_job(tmp_path: Path, env: dict[str, str]) -> None:
    files = [write_audio(tmp_path / f"t{i:02d}.flac", 4.0, seed=i) for i in range(14)]
    listing = "".join(f"{f}\n" for f in files)
    env.update(FPSTREAM_CHUNK_S="1", FPSTREAM_MAX_IN_FLIGHT="2", FPSTREAM_BATCH_ROWS="1")
    db = Path(env["FPSTREAM_DB"])
    log = tmp_path / "first-run.log"
    with open(log, "w") as out:
        # its own process group, like a job in a terminal: Ctrl-C goes to the whole group
        make = subprocess.Popen(
            MAKE_RUN,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            start_new_session=True,
        )
        make.stdin.write(listing)
        make.stdin.close()
        deadline = time.monotonic() + 120
        while len(read_rows(db)) < 2:
            assert make.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        t0 = time.monotonic()
        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C
        rc = make.wait(20)
    assert time.monotonic() - t0 < 10, log.read_text()
    assert rc != 0
    pids = [int(p) for p in re.findall(r"started \(pid=(\d+)\)", log.read_text())]
    assert len(pids) == 5
    time.sleep(0.2)
    assert not [p for p in pids if alive(p)], log.read_text()
    before = {p: r["analyzed_at"] for p, r in read_rows(db).items() if r["status"] == "done"}
    if len(before) == len(files):
        pytest.fail("the run finished before the interrupt; make the library longer")

    again = subprocess.run(MAKE_RUN, input=listing, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout
    after = read_rows(db)
    assert sorted(after) == sorted(map(str, files))
    assert all(r["status"] == "done" for r in after.values())
    assert {p: after[p]["analyzed_at"] for p in before} == before


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True

"""`fpstream status`: a clear answer with and without a running broker (real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from fpstream.status import rate, render_status
from tests.cli_support import ROOT, create_db, failed_row, random_library, run_cli


@pytest.fixture
def private_env(tmp_path):
    """A broker address nobody else uses (ipc in a short private dir) and a database."""
    ipc = tmp_path / "ipc"
    db = create_db(tmp_path / "lib.db", [*random_library(3), failed_row("/music/bad.flac")])
    return {"FPSTREAM_BROKER": f"ipc://{ipc}", "FPSTREAM_DB": str(db)}


def test_no_stack_is_a_clear_message_and_exit_1(private_env) -> None:
    r = run_cli("status", "--timeout", "0.3", env=private_env)
    assert r.returncode == 1
    assert "not running" in r.stdout
    assert "database" in r.stdout and "3 done, 1 failed" in r.stdout
    assert "no fpstream stack is running at ipc://" in r.stderr and "make run" in r.stderr
    assert "Traceback" not in r.stderr


def test_running_broker_reports_peers_counts_and_rate(private_env) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **private_env}
    broker = subprocess.Popen(
        [sys.executable, "-m", "broker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            r = run_cli("status", "--interval", "0.2", "--timeout", "0.5", env=private_env)
            if r.returncode == 0 or time.monotonic() > deadline:
                break
        assert r.returncode == 0, r.stderr
        assert f"broker pid {broker.pid}" in r.stdout
        assert "connected: 0 ingests, 0 analyzers, 0 sinks" in r.stdout
        assert "committing 0.0 tracks/s" in r.stdout
        assert "warning: no analyzer is connected" in r.stdout
        assert "3 done, 1 failed" in r.stdout
        r = run_cli("status", "--json", "--interval", "0", env=private_env)
        report = json.loads(r.stdout)
        assert report["broker"]["pid"] == broker.pid and report["rows"] == {"done": 3, "failed": 1}
    finally:
        broker.terminate()
        broker.wait(timeout=10)


def test_rate_and_text_from_two_snapshots() -> None:
    first = {
        "pid": 7,
        "endpoint": "ipc:///x",
        "uptime_s": 3723.0,
        "forwarded": {"chunks_in": 100, "results_in": 90, "acks_in": 10},
        "dropped": {"chunks_in": 0, "results_in": 1, "acks_in": 0},
        "peers": {"chunks_in": 1, "chunks_out": 4, "results_out": 1},
    }
    second = {**first, "uptime_s": 3725.0, "forwarded": {"chunks_in": 120, "results_in": 115, "acks_in": 16}}
    assert rate(first, second, 2.0) == pytest.approx(3.0)
    assert rate(first, {**second, "pid": 8}, 2.0) is None  # broker restarted between the samples
    text = render_status("ipc:///x", first, second, 2.0, "f.db", {"done": 5, "failed": 1})
    assert "up 1h 02m 05s (broker pid 7)" in text
    assert "connected: 1 ingest, 4 analyzers, 1 sink" in text
    assert "120 chunks, 115 results, 16 commits; 1 malformed dropped" in text
    assert "chunks waiting for or in analysis: ~5" in text
    assert "committing 3.0 tracks/s (over 2.0 s)" in text
    assert "warning" not in text
    assert "database f.db: 5 done, 1 failed" in text

"""``fpstream serve --host 0.0.0.0`` beyond loopback: a token is generated and printed, and every
peer not on loopback must send it. Two network namespaces the test creates, joined by a veth pair
(10.214.0.1 serves, 10.214.0.2 asks), so nothing leaves the machine."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fpstream.similarity import synthetic_library
from tests.cli_support import ROOT, create_db, done_row
from tests.test_multihost import namespaces_unavailable

SERVER, CLIENT = "10.214.0.1", "10.214.0.2"
PORT = 18731

ASK = """
import json, sys, urllib.request, urllib.error
url, headers = sys.argv[1], json.loads(sys.argv[2])
try:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        print(json.dumps([r.status, r.read().decode()]))
except urllib.error.HTTPError as e:
    print(json.dumps([e.code, e.read().decode()]))
"""


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


@pytest.fixture
def namespaces():
    reason = namespaces_unavailable()  # as the multi-host test: root with CAP_NET_ADMIN (CI has it)
    if reason:
        pytest.skip(reason)
    tag = f"fpsv{os.getpid()}"
    a, b = f"{tag}a", f"{tag}b"
    try:
        for ns in (a, b):
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", a, "link", "add", "va", "type", "veth", "peer", "name", "vb")
        ip("-n", a, "link", "set", "vb", "netns", b)
        ip("-n", a, "addr", "add", f"{SERVER}/24", "dev", "va")
        ip("-n", b, "addr", "add", f"{CLIENT}/24", "dev", "vb")
        ip("-n", a, "link", "set", "va", "up")
        ip("-n", b, "link", "set", "vb", "up")
        yield a, b
    finally:
        for ns in (a, b):
            ip("netns", "del", ns, check=False)


def ask(ns: str, url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    done = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", ASK, url, json.dumps(headers or {})],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    status, body = json.loads(done.stdout)
    return status, body


def test_beyond_loopback_only_with_the_token(tmp_path: Path, namespaces: tuple[str, str]) -> None:
    a, b = namespaces
    values = synthetic_library(30, seed=1)
    db = create_db(tmp_path / "lib.db", [done_row(f"/music/t{i:02d}.flac", values[i]) for i in range(30)])
    log = tmp_path / "serve.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FPSTREAM_BROKER": f"ipc://{tmp_path}/none"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                a,
                sys.executable,
                "-m",
                "fpstream.cli",
                "serve",
                "--db",
                str(db),
                "--host",
                "0.0.0.0",
                "--port",
                str(PORT),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 60
        token = None
        while time.monotonic() < deadline and token is None:
            assert proc.poll() is None, log.read_text()
            m = re.search(r"token \(required beyond loopback\): (\S+)", log.read_text())
            token = m.group(1) if m else None
            time.sleep(0.2)
        assert token, log.read_text()
        base = f"http://{SERVER}:{PORT}"
        while time.monotonic() < deadline and "listening" not in log.read_text():
            time.sleep(0.2)
        for _ in range(100):  # the socket opens just after the line is printed
            try:
                status, body = ask(b, f"{base}/health")
                break
            except AssertionError:
                time.sleep(0.3)
        assert status == 401 and "token" in json.loads(body)["error"]
        assert ask(b, f"{base}/api/similar?path=/music/t01.flac", {"Authorization": "Bearer wrong"})[0] == 401
        status, body = ask(
            b, f"{base}/api/similar?path=/music/t01.flac&k=3", {"Authorization": f"Bearer {token}"}
        )
        assert status == 200 and len(json.loads(body)) == 3
        assert ask(b, f"{base}/health?token={token}")[0] == 200
        assert ask(b, f"{base}/api/ready", {"X-Fpstream-Token": token}) == (200, "1")
        # loopback peers (Lyrion's plugin calls localhost) need none
        status, body = ask(a, f"http://127.0.0.1:{PORT}/health")
        assert status == 200 and json.loads(body)["rows"] == 30
    finally:
        proc.terminate()
        proc.wait(15)
    assert "Traceback" not in log.read_text()

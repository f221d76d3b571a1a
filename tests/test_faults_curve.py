"""Who may connect: tcp with CurveZMQ keys and an allow-list; nothing open to the network without keys."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zmq

from base import protocol
from base.config import CHANNELS
from base.sockets import Sockets
from base.status import query_status
from tests.stack_harness import ROOT, Stack, write_audio
from tests.synth import chunks_of


def free_base_port() -> int:
    """A port P such that P .. P+len(CHANNELS)-1 are free on 127.0.0.1."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + len(CHANNELS) > 65535:
            continue
        try:
            held = []
            for port in range(base, base + len(CHANNELS)):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no free port range")


def keygen(key_dir: Path, client: str = "client") -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "broker", "keygen", str(key_dir), "--client", client],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def test_broker_refuses_a_network_address_without_keys(tmp_path: Path) -> None:
    with Stack(tmp_path, env={"FPSTREAM_BROKER": f"tcp://0.0.0.0:{free_base_port()}"}) as stack:
        broker = stack.spawn("broker")
        assert broker.wait(30) != 0
        assert "refusing to listen on tcp://0.0.0.0" in broker.log()


def test_keygen_writes_server_client_and_allow_list(tmp_path: Path) -> None:
    written = keygen(tmp_path / "keys")
    names = sorted(Path(p).relative_to(tmp_path / "keys").as_posix() for p in written)
    assert names == [
        "authorized_clients/client.key",
        "client.key",
        "client.key_secret",
        "server.key",
        "server.key_secret",
    ]
    assert (tmp_path / "keys/server.key_secret").stat().st_mode & 0o077 == 0
    assert keygen(tmp_path / "keys", "laptop") == [
        str(tmp_path / f"keys/laptop.key{s}") for s in ("", "_secret")
    ] + [str(tmp_path / "keys/authorized_clients/laptop.key")]


def test_curve_stack_works_for_allowed_keys_and_refuses_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys, intruder = tmp_path / "keys", tmp_path / "intruder"
    keygen(keys)
    keygen(intruder, "intruder")  # a valid key pair, but not on the broker's allow-list
    shutil.copy(keys / "server.key", intruder / "server.key")  # the server's public key is no secret
    base = f"tcp://127.0.0.1:{free_base_port()}"
    song = write_audio(tmp_path / "song.flac", 2.0)
    with Stack(tmp_path, env={"FPSTREAM_BROKER": base, "FPSTREAM_CURVE_DIR": str(keys)}) as stack:
        stack.start(analyzers=1)
        assert "curve on" in stack.broker.log()
        endpoints = stack.endpoints

        # allowed keys: the whole stack runs over Curve
        monkeypatch.setenv("FPSTREAM_CURVE_DIR", str(keys))
        status = query_status(endpoints)
        assert status is not None and status["curve"] is True
        result = stack.ingest([song])
        assert result.returncode == 0, stack.all_logs()
        assert stack.rows()[str(song)]["status"] == "done"

        # a key that is not on the allow-list: no answer, and its chunks go nowhere
        monkeypatch.setenv("FPSTREAM_CURVE_DIR", str(intruder))
        monkeypatch.setenv("FPSTREAM_CURVE_CLIENT", "intruder")
        assert query_status(endpoints, timeout_s=1.0) is None
        ctx = zmq.Context()
        try:
            sockets = Sockets.from_env(ctx)
            push = sockets.connect(zmq.PUSH, "chunks_in")
            header, pcm = chunks_of(song, ingest="intruder", ref_path="/forged.flac")[0]
            push.send_multipart(protocol.encode_chunk(header, pcm), copy=False)
            time.sleep(1.0)
            sockets.close()
        finally:
            ctx.term()

        # no keys at all: plain ZeroMQ cannot talk to a Curve server
        monkeypatch.delenv("FPSTREAM_CURVE_DIR")
        assert query_status(endpoints, timeout_s=1.0) is None

        monkeypatch.setenv("FPSTREAM_CURVE_DIR", str(keys))
        monkeypatch.delenv("FPSTREAM_CURVE_CLIENT")
        status = query_status(endpoints)
        assert status["forwarded"]["chunks_in"] == 1  # only the allowed ingest's one chunk
        assert "/forged.flac" not in stack.rows()
        assert "refused connection #1: DENIED (CURVE)" in stack.broker.log()

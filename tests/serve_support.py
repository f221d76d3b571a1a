"""``fpstream serve`` as a real process on a free loopback port, and a library of real files for it."""

from __future__ import annotations

import http.client
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.cli_support import ROOT, create_db, done_row, failed_row
from tests.stack_harness import write_audio

#: Tag columns as branch ``lib`` adds them (CONTRACTS.md); added here when the schema lacks them.
TAGS = ("title", "artist", "album_artist", "album", "genre")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def add_tag_columns(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        have = {r[1] for r in conn.execute("PRAGMA table_info(tracks)")}
        for c in TAGS:
            if c not in have:
                conn.execute(f"ALTER TABLE tracks ADD COLUMN {c} TEXT")
        conn.commit()
    finally:
        conn.close()


def set_tags(db: Path, path: str, **tags: str) -> None:
    conn = sqlite3.connect(db)
    try:
        sets = ", ".join(f"{k} = ?" for k in tags)
        conn.execute(f"UPDATE tracks SET {sets} WHERE path = ?", (*tags.values(), path))
        conn.commit()
    finally:
        conn.close()


def real_library(
    folder: Path, n_files: int, values: Any, extra: list[dict[str, Any]] = ()
) -> tuple[Path, list[str]]:
    """``folder/music/ArtistK/AlbumJ/NN name.wav`` (K = i % 4, J = i % 8): ``n_files`` real WAV
    files (2 s), file i a ``done`` row with the 25 ``values[i]`` and a duration of 60 + 20 i s,
    plus the ``extra`` rows. Returns the database (``folder/lib.db``) and the files, by i."""
    music = folder / "music"
    rows = []
    for i in range(n_files):
        artist, album = f"Artist{i % 4}", f"Album{i % 8}"
        name = "Café Ünïcode" if i == 3 else f"track{i:02d}"
        path = music / artist / album / f"{i:02d} {name}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_audio(path, 2.0, sr=22_050, seed=i)
        st = path.stat()
        rows.append(
            done_row(str(path), values[i], size=st.st_size, mtime_ns=st.st_mtime_ns, duration_s=60.0 + 20 * i)
        )
    db = create_db(folder / "lib.db", [*rows, *extra])
    add_tag_columns(db)
    return db, [r["path"] for r in rows]


@dataclass
class Service:
    """A running ``fpstream serve``; ``request`` speaks HTTP/1.1 to it."""

    proc: subprocess.Popen[bytes]
    host: str
    port: int
    log: Path

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        url = path + ("?" + urlencode(params) if params else "")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, url, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def get_json(self, route: str, **params: Any) -> tuple[int, Any]:
        status, headers, body = self.request("GET", route, params)
        assert headers["content-type"].startswith("application/json"), (route, headers, body[:300])
        return status, json.loads(body)

    def post_json(self, path: str, data: Any, ctype: str = "application/json;charset=utf-8"):
        raw = data if isinstance(data, bytes) else json.dumps(data, ensure_ascii=False).encode("utf-8")
        return self.request("POST", path, body=raw, headers={"Content-Type": ctype})

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.log.read_text(errors="replace")


def start_service(
    db: Path,
    workdir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    prefix: list[str] | None = None,
    host: str = "127.0.0.1",
    connect_host: str | None = None,
) -> Service:
    """``fpstream serve --db DB --port P ARGS`` started and answering ``/health`` (within 60 s)."""
    port = free_port()
    log = workdir / f"serve-{port}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FPSTREAM_")}
    # no broker answers here unless the caller's env points at one
    full_env.update(PYTHONPATH=str(ROOT), FPSTREAM_BROKER=f"ipc://{workdir}/no-broker")
    full_env.update(env or {})
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                *(prefix or []),
                sys.executable,
                "-m",
                "fpstream.cli",
                "serve",
                "--db",
                str(db),
                "--host",
                host,
                "--port",
                str(port),
                *args,
            ],
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    service = Service(proc, connect_host or host, port, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"fpstream serve exited: {log.read_text()}")
        try:
            status, _, _ = service.request("GET", "/api/ready")
            if status in (200, 401):
                return service
        except OSError:
            time.sleep(0.2)
    service.stop()
    raise AssertionError(f"fpstream serve did not answer within 60 s: {log.read_text()}")


__all__ = ["Service", "start_service", "real_library", "set_tags", "failed_row", "free_port"]

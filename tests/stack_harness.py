"""The real stack as subprocesses, for tests, and generated audio to feed it.

    with Stack(tmp_path) as stack:          # private ipc dir, FPSTREAM_DB = tmp_path/fingerprints.db
        stack.start(analyzers=2)            # broker, sink, analyzers; waits until each logs "ready"
        result = stack.ingest([a, b, c])    # runs ingest to the end (paths on its stdin)
        rows = stack.rows()                 # {path: {column: value}}, by path (read_rows)
    # leaving the block stops every process (SIGTERM, then SIGKILL) and removes the ipc dir

Each process logs to ``<workdir>/logs/<name>.log``; ``Proc.log()`` reads it.
``Stack(..., env={...})`` adds FPSTREAM_* settings for every process.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from base.config import Endpoints
from base.sockets import CurveKeys
from base.status import query_status
from ingest.progress import PROGRESS_RE

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 300.0  # the first analyzer start may compile every numba kernel


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.popen.pid, sig)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout)

    def wait_for_log(self, text: str, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if not self.alive():
                raise RuntimeError(
                    f"{self.name} exited ({self.popen.returncode}) before {text!r}:\n{self.log()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not log {text!r} in {timeout:.0f} s:\n{self.log()}")
            time.sleep(0.05)


@dataclass
class IngestResult:
    returncode: int
    stderr: str


class Stack:
    def __init__(self, workdir: Path, env: dict[str, str] | None = None, db: Path | None = None) -> None:
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        # ipc socket paths must stay under ~107 bytes: pytest's tmp_path can be longer
        self.ipc_dir = Path(tempfile.mkdtemp(prefix="fps-"))
        self.db = db or workdir / "fingerprints.db"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FPSTREAM_")}
        self.env.update(
            FPSTREAM_BROKER=f"ipc://{self.ipc_dir}/stack",
            FPSTREAM_DB=str(self.db),
            FPSTREAM_PROGRESS_S="0.5",
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
        )
        self.env.update(env or {})
        self.procs: list[Proc] = []
        self._count: dict[str, int] = {}

    # ------------------------------------------------------------ processes

    def spawn(
        self,
        module: str,
        *args: str,
        env: dict[str, str] | None = None,
        stdin: Any = None,
        prefix: list[str] | None = None,
    ) -> Proc:
        """``python -m module args``, after ``prefix`` (e.g. ``ip netns exec NS``: it execs, same pid)."""
        n = self._count[module] = self._count.get(module, 0) + 1
        name = f"{module}.{n}"
        log_path = self.logs / f"{name}.log"
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(
                [*(prefix or []), sys.executable, "-m", module, *args],
                cwd=self.workdir,
                env={**self.env, **(env or {})},
                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        proc = Proc(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def start_broker(self) -> Proc:
        proc = self.spawn("broker")
        proc.wait_for_log("ready")
        return proc

    def start_sink(self, env: dict[str, str] | None = None) -> Proc:
        proc = self.spawn("sink", env=env)
        proc.wait_for_log("ready")
        return proc

    def start_analyzers(self, n: int) -> list[Proc]:
        procs = [self.spawn("analyzer") for _ in range(n)]
        for proc in procs:
            proc.wait_for_log("ready")
        return procs

    def start(self, analyzers: int = 2) -> Stack:
        self.broker = self.start_broker()
        self.sink = self.start_sink()
        self.analyzers = self.start_analyzers(analyzers)
        self.wait_connected({"chunks_out": analyzers, "results_out": 1, "acks_in": 1})
        return self

    def wait_connected(self, peers: dict[str, int], timeout: float = 30.0) -> None:
        """Wait until the broker counts at least these peers per channel (connecting is asynchronous)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if status and all(status["peers"].get(c, 0) >= n for c, n in peers.items()):
                return
            if time.monotonic() > deadline:
                seen = status and status["peers"]
                raise TimeoutError(f"peers {seen} never reached {peers}:\n{self.all_logs()}")
            time.sleep(0.05)

    def status(self, timeout_s: float = 1.0) -> dict[str, Any] | None:
        """The broker's counters (base/status.py), asked with this stack's address and keys."""
        curve_dir = self.env.get("FPSTREAM_CURVE_DIR")
        client = self.env.get("FPSTREAM_CURVE_CLIENT") or "client"
        curve = CurveKeys(Path(curve_dir), client) if curve_dir else None
        return query_status(self.endpoints, timeout_s, curve)

    @property
    def endpoints(self) -> Endpoints:
        """The broker's addresses for this stack (``FPSTREAM_BROKER``)."""
        return Endpoints(self.env["FPSTREAM_BROKER"])

    # ------------------------------------------------------------ ingest

    def write_paths(self, paths: list[str | Path], nul: bool = False) -> Path:
        sep = b"\0" if nul else b"\n"
        listing = self.workdir / f"paths-{len(self.procs)}.txt"
        listing.write_bytes(b"".join(os.fsencode(str(p)) + sep for p in paths))
        return listing

    def start_ingest(
        self, paths: list[str | Path], *args: str, env: dict[str, str] | None = None, nul: bool = False
    ) -> Proc:
        """ingest with ``paths`` on its stdin (``-0`` added when ``nul``); returns at once."""
        with open(self.write_paths(paths, nul), "rb") as stdin:
            return self.spawn("ingest", *(["-0"] if nul else []), *args, env=env, stdin=stdin)

    def ingest(
        self,
        paths: list[str | Path],
        *args: str,
        env: dict[str, str] | None = None,
        nul: bool = False,
        timeout: float = 120.0,
    ) -> IngestResult:
        proc = self.start_ingest(paths, *args, env=env, nul=nul)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.signal(signal.SIGKILL)
            raise TimeoutError(
                f"ingest did not finish in {timeout} s:\n{proc.log()}\n{self.all_logs()}"
            ) from None
        return IngestResult(rc, proc.log())

    # ------------------------------------------------------------ results

    def rows(self) -> dict[str, dict[str, Any]]:
        return read_rows(self.db)

    def wait_rows(self, n: int, timeout: float = 60.0, status: str = "done") -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows()
            if sum(r["status"] == status for r in rows.values()) >= n:
                return rows
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {n} {status} rows after {timeout} s:\n{self.all_logs()}")
            time.sleep(0.02)

    def all_logs(self) -> str:
        return "\n".join(f"--- {p.name} (pid {p.pid}) ---\n{p.log()}" for p in self.procs)

    # ------------------------------------------------------------ stopping

    def stop(self, timeout: float = 10.0) -> dict[str, int]:
        """SIGTERM every live process, SIGKILL what is left after ``timeout``; returns exit codes."""
        for p in self.procs:
            p.signal(signal.SIGCONT)  # a test may have stopped it
            p.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        codes = {}
        for p in self.procs:
            try:
                codes[p.name] = p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.signal(signal.SIGKILL)
                codes[p.name] = p.wait(5)
        return codes

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
        shutil.rmtree(self.ipc_dir, ignore_errors=True)


def read_rows(db: Path) -> dict[str, dict[str, Any]]:
    """The tracks table as ``{path: {column: value}}``, ordered by path; ``{}`` if there is none yet."""
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return {r["path"]: dict(r) for r in conn.execute("SELECT * FROM tracks ORDER BY path")}
    except sqlite3.OperationalError:  # no table yet
        return {}
    finally:
        conn.close()


def last_progress(output: str) -> dict[str, str]:
    """The fields of the last ingest progress line in ``output`` (fails if there is none)."""
    lines = [m.groupdict() for m in map(PROGRESS_RE.search, output.splitlines()) if m]
    assert lines, output
    return lines[-1]


# ---------------------------------------------------------------- audio


def write_audio(
    path: Path,
    seconds: float,
    sr: int = 44_100,
    channels: int = 2,
    subtype: str | None = None,
    seed: int = 0,
    silent: bool = False,
) -> Path:
    """A short music-like file (a chord, a pulse, some noise); format from the suffix (.wav, .flac)."""
    n = int(round(seconds * sr))
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    chord = sum(np.sin(2 * np.pi * f * (1 + 0.01 * seed) * t) for f in (220.0, 277.2, 329.6)) / 3
    pulse = (np.sin(2 * np.pi * 2.0 * t) > 0.9) * rng.standard_normal(n) * 0.5
    mono = 0.4 * chord + 0.2 * pulse + 0.02 * rng.standard_normal(n)
    pcm = (
        np.stack([np.roll(mono, 37 * c) for c in range(channels)], axis=1) if channels > 1 else mono[:, None]
    )
    if silent:
        pcm = np.zeros_like(pcm)
    sf.write(os.fsencode(path), pcm.astype(np.float32), sr, subtype=subtype)
    return path

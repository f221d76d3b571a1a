"""What ``make run`` runs: start broker, sink and N analyzers, feed them this process's stdin, stop them.

    stdin ─► ingest (in this process, in the foreground) ─► broker ─► analyzers × N ─► sink ─► library

The services run as child processes in process groups of their own, with
their log lines in one file (``$XDG_STATE_HOME/fpstream/stack.log``), so the
terminal shows only what concerns the user: the library's path, one progress
line updating in place, and the summary. Ctrl-C reaches only this process:
ingest stops sending, then the services are stopped in order (the sink
commits what it holds), and the exit status is 130. A service that dies is
reported at once, with the last lines of its log; without the broker, the
sink or any analyzer the run cannot finish, so it stops with status 1.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from base import logs
from base.config import Endpoints, database_path, settings_epilog
from base.feed_options import add_feed_options
from base.status import query_status

if TYPE_CHECKING:
    from ingest.loop import Ingest  # imported when the run starts: it pulls in numpy

# SIGTERM, then SIGKILL after this long. The sink gets longer: it commits what it holds. An analyzer
# killed mid-chunk loses nothing that was committed (the next run re-sends the track).
STOP_TIMEOUT_S = {"sink": 10.0, "broker": 5.0, "analyzer": 3.0}
STACK_WAIT_S = "600"  # analyzers compile their kernels on a first start; a dead one is reported at once


def state_dir() -> Path:
    """``$XDG_STATE_HOME/fpstream`` (``~/.local/state/fpstream``): where the stack's log goes."""
    xdg = os.environ.get("XDG_STATE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "state"
    return base / "fpstream"


def _die_with_parent() -> None:
    """In the child: get SIGTERM if this runner dies, even by SIGKILL (Linux prctl PR_SET_PDEATHSIG)."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)


_LIBC = ctypes.CDLL(None) if sys.platform.startswith("linux") else None


@dataclass
class Service:
    name: str
    popen: subprocess.Popen[bytes]

    @property
    def label(self) -> str:
        return f"{self.name}[{self.popen.pid}]"


class Stack:
    """The service processes of one run, and what happened to them."""

    def __init__(self, analyzers: int, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self.log: IO[bytes] = open(log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.services: list[Service] = []
        self.stopping = False
        self.fatal: str | None = None
        self.on_fatal = lambda reason: None
        for name in ["broker", "sink", *["analyzer"] * analyzers]:
            popen = subprocess.Popen(
                [sys.executable, "-m", name],
                stdin=subprocess.DEVNULL,
                stdout=self.log,
                stderr=subprocess.STDOUT,
                env=env,
                process_group=0,  # not in the terminal's group: Ctrl-C is for the runner to handle
                preexec_fn=_die_with_parent,
            )
            self.services.append(Service(name, popen))

    def describe(self) -> str:
        groups: dict[str, list[str]] = {}
        for s in self.services:
            groups.setdefault(s.name, []).append(str(s.popen.pid))
        return " ".join(f"{name}[{','.join(pids)}]" for name, pids in groups.items())

    def watch(self) -> None:
        """Report a service that exits while the run is on (a thread waits for each)."""
        for service in self.services:
            threading.Thread(target=self._wait, args=(service,), daemon=True).start()

    def _wait(self, service: Service) -> None:
        code = service.popen.wait()
        if self.stopping:
            return
        alive = [s for s in self.services if s.popen.poll() is None]
        tail = "".join(f"\n    {line}" for line in self.tail(service.popen.pid))
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        message = f"{service.label} {how}; its last log lines ({self.log_path}):{tail}"
        if service.name != "analyzer" or not any(s.name == "analyzer" for s in alive):
            self.fatal = f"{message}\nthe run cannot go on without a {service.name}"
            self.on_fatal(self.fatal)
        else:
            print(f"\n{message}\ngoing on with the other analyzers", file=sys.stderr, flush=True)

    def tail(self, pid: int, lines: int = 8) -> list[str]:
        """The last lines the process ``pid`` wrote to the log (each line starts ``name[pid]``)."""
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            mine = deque((line.rstrip() for line in f if f"[{pid}]" in line.split(" ", 1)[0]), lines)
        return list(mine)

    def stop(self) -> None:
        """SIGTERM every service (the sink commits what it holds), SIGKILL what is left after a while."""
        self.stopping = True
        for s in self.services:
            if s.popen.poll() is None:
                s.popen.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        for s in sorted(self.services, key=lambda s: STOP_TIMEOUT_S[s.name]):
            try:
                s.popen.wait(max(0.1, t0 + STOP_TIMEOUT_S[s.name] - time.monotonic()))
            except subprocess.TimeoutExpired:
                s.popen.kill()
                s.popen.wait()
                note = f"runner: {s.label} did not stop within {STOP_TIMEOUT_S[s.name]:.0f} s: killed\n"
                self.log.write(note.encode())
        self.log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make run",
        description="Start broker, sink and N analyzers, feed them the paths on stdin (one per line, as they "
        "arrive), show one progress line and a summary, and exit once every path is committed: 0 when all "
        "are, 1 when the stack broke, 130 on Ctrl-C (committed rows are kept; run again to finish).",
        epilog="All FPSTREAM_* settings are passed through to the stack. " + settings_epilog("make run"),
    )
    parser.add_argument(
        "--analyzers", type=int, default=os.cpu_count() or 1, metavar="N", help="analyzer processes"
    )
    add_feed_options(parser, "null", "list_ignored", "paths")
    args = parser.parse_args(argv)
    if args.analyzers < 1:
        parser.error("--analyzers must be at least 1")
    interrupted = threading.Event()
    running: list[Ingest] = []  # the Ingest, once it runs

    def stop(signum: int, _frame: object) -> None:
        interrupted.set()
        for ingest in running:
            ingest.stopping = signum

    # Ingest installs its own SIGINT and SIGTERM handlers when it starts; SIGHUP (the terminal
    # closed) stays with this one.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)

    db = database_path()
    endpoints = Endpoints.from_env()
    if query_status(endpoints, timeout_s=0.5) is not None:
        print(
            f"make run: a stack is already running at {endpoints.base}: feed it with "
            "`.venv/bin/fpstream feed` (same options), or stop it first",
            file=sys.stderr,
        )
        return 1
    os.environ["FPSTREAM_DB"] = str(db)  # every process, and ingest here, use this one file
    os.environ.setdefault("FPSTREAM_MAX_IN_FLIGHT", str(4 * args.analyzers))
    os.environ.setdefault("FPSTREAM_STACK_WAIT_S", STACK_WAIT_S)
    if args.null:
        os.environ["FPSTREAM_NUL"] = "1"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    logs = state_dir()
    logs.mkdir(parents=True, exist_ok=True)
    print(f"library: {db}", file=sys.stderr, flush=True)
    stack = Stack(args.analyzers, env, logs / "stack.log")
    print(
        f"stack: {stack.describe()} at {endpoints.base}; their log: {stack.log_path}",
        file=sys.stderr,
        flush=True,
    )
    try:
        stack.watch()
        if interrupted.is_set():
            return 130
        from ingest.cli import main as ingest_main  # after the services started: it imports numpy

        def started(ingest: Ingest) -> None:
            running.append(ingest)
            stack.on_fatal = ingest.abort
            if stack.fatal:
                ingest.abort(stack.fatal)
            if interrupted.is_set():
                ingest.stopping = signal.SIGINT

        paths = [os.path.expanduser(p) for p in args.paths]  # make run MUSIC=~/Music: make does not expand ~
        ingest_argv = [*(["--list-ignored"] if args.list_ignored else []), "--", *paths]
        return ingest_main(ingest_argv, announce=False, started=started)
    finally:
        stack.stop()


if __name__ == "__main__":
    logs.run_main(main, "make run")

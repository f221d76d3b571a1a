"""Is the stack there? The broker, at least one analyzer and the sink, as the broker sees them.

Ingest asks the broker's ``status`` channel (the REQ/REP map ``fpstream
status`` reads): no answer means no broker; ``peers["chunks_out"]`` counts
connected analyzers (an analyzer connects once its kernels are compiled) and
``peers["results_out"]`` the sink. Without this check a missing process
looks like a slow one: tracks go out, nothing comes back, and the re-send
timeouts take an hour to say so.

A thread asks every ``every_s`` seconds, each time on a fresh REQ socket (a
REQ whose answer never came cannot ask again), so the send loop never waits
on it; the loop reads :attr:`StackWatch.state`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from base import protocol
from base.sockets import Sockets
from base.status import ask_status

#: How to start each part, as docs/running.md, 'Keep a stack up', does it.
HOW_TO_START = {
    "broker": "`.venv/bin/honcho start -c analyzer=2 broker sink analyzer` in the fpstream folder "
    "(docs/running.md, 'Keep a stack up'), or use `make run`, which starts its own",
    "analyzer": "`.venv/bin/python -m analyzer` (one per core, on any host that reaches the broker; one "
    "that is starting connects once its kernels are compiled, which takes a minute or more the first time)",
    "sink": "`.venv/bin/python -m sink` (exactly one: it writes the library)",
}


@dataclass(frozen=True)
class StackState:
    """One answer (or its absence) from the broker."""

    answered: bool
    analyzers: int = 0
    sinks: int = 0
    at: float = 0.0  # time.monotonic() of the question

    @property
    def missing(self) -> list[str]:
        """The parts not there, in the order a user should start them."""
        if not self.answered:
            return ["broker"]
        return [name for name, n in (("sink", self.sinks), ("analyzer", self.analyzers)) if n < 1]

    @property
    def ready(self) -> bool:
        return not self.missing

    def describe(self, address: str) -> str:
        """What is missing and how to start it, in one paragraph."""
        if not self.answered:
            return f"no broker answers at {address}: start the stack with {HOW_TO_START['broker']}"
        parts = [
            f"no {name} is connected to the broker at {address}: start one with {HOW_TO_START[name]}"
            for name in self.missing
        ]
        return "; ".join(parts)


def ask_broker(sockets: Sockets, timeout_s: float, stop: threading.Event | None = None) -> StackState:
    """One status question (:func:`base.status.ask_status`) as a :class:`StackState`.

    ``stop``: give up early when it is set (ingest is exiting, and its context waits for this socket).
    """
    at = time.monotonic()
    try:
        status = ask_status(sockets, timeout_s, stop)
    except protocol.ProtocolError:  # a broker of another version: there, but not usable
        return StackState(False, at=at)
    if status is None:
        return StackState(False, at=at)
    peers = status.get("peers", {})
    return StackState(True, int(peers.get("chunks_out", 0)), int(peers.get("results_out", 0)), at)


class StackWatch:
    """Asks the broker every ``every_s`` seconds on a thread; ``state`` is the latest answer."""

    def __init__(self, sockets: Sockets, every_s: float = 1.0, timeout_s: float = 1.0) -> None:
        self.sockets = sockets
        self.every_s = every_s
        self.timeout_s = timeout_s
        self.state: StackState | None = None  # None until the first question was answered or timed out
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stack-watch", daemon=True)

    def start(self) -> StackWatch:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.state = ask_broker(self.sockets, self.timeout_s, self._stop)
            self._stop.wait(self.every_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.timeout_s + 1)

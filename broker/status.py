"""The broker's ``status`` channel: what it answers, and how to ask (``fpstream status``).

A REQ sends any single frame; the broker's REP answers one msgpack map::

    {"v": protocol.VERSION, "pid": int, "endpoint": str, "curve": bool, "uptime_s": float,
     "forwarded": {channel: messages}, "dropped": {channel: messages},
     "peers": {channel: connected peers}}

``forwarded``/``dropped`` count messages received on ``chunks_in``,
``results_in`` and ``acks_in`` (dropped = malformed, or an ack for a full
ingest queue); ``forwarded["receipts"]`` counts the sink's receipts, which
share the ack channel, so ``acks_in`` counts commits only; ``peers`` counts live
connections per bound channel (``chunks_in`` = ingests, ``chunks_out`` =
analyzers, ``results_out`` = sinks, ``acks_out`` = ingests hearing acks).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Literal

import zmq

from base import protocol
from base.config import CHANNELS, Endpoints
from base.sockets import CurveKeys, Limits, Sockets

FORWARDING_CHANNELS = ("chunks_in", "results_in", "acks_in")


class Counters:
    """What the broker has seen, kept by the forwarding loop and read by ``status``."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.forwarded: Counter[str] = Counter({c: 0 for c in FORWARDING_CHANNELS})
        self.dropped: Counter[str] = Counter({c: 0 for c in FORWARDING_CHANNELS})
        self.peers: Counter[str] = Counter({c: 0 for c in CHANNELS})

    def snapshot(self, pid: int, endpoint: str, curve: bool) -> dict[str, Any]:
        return {
            "pid": pid,
            "endpoint": endpoint,
            "curve": curve,
            "uptime_s": round(time.monotonic() - self.started, 3),
            "forwarded": dict(self.forwarded),
            "dropped": dict(self.dropped),
            "peers": {c: max(0, n) for c, n in self.peers.items()},
        }


def query_status(
    endpoints: Endpoints | None = None,
    timeout_s: float = 1.0,
    curve: CurveKeys | None | Literal["env"] = "env",
) -> dict[str, Any] | None:
    """Ask the running broker for its counters; None when no broker answers in time.

    ``endpoints`` and ``curve`` (client keys) default to the FPSTREAM_* environment.
    """
    keys = CurveKeys.from_env() if curve == "env" else curve
    ctx = zmq.Context()
    sockets = Sockets(ctx, endpoints or Endpoints.from_env(), keys, Limits.from_env())
    try:
        req = sockets.connect(zmq.REQ, "status")
        req.send(b"status")
        deadline = time.monotonic() + timeout_s
        while (left_ms := int((deadline - time.monotonic()) * 1000)) > 0 and req.poll(left_ms):
            try:
                answer = req.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                continue  # POLLIN with nothing to read (a CurveZMQ handshake reports one)
            # a broker of another protocol version raises ProtocolError, saying which
            return protocol.decode_status(answer)
        return None
    finally:
        sockets.close(linger_ms=0)
        ctx.term()

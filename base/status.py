"""Asking the broker's ``status`` channel: the one client every process and command uses.

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

Each question uses a fresh REQ socket: a REQ whose answer never came cannot ask again.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Literal

import zmq

from base import protocol
from base.config import Endpoints
from base.sockets import CurveKeys, Limits, Sockets

POLL_MS = 50  # how often a wait checks ``stop``


def ask_status(
    sockets: Sockets, timeout_s: float, stop: threading.Event | None = None
) -> dict[str, Any] | None:
    """One question on a fresh REQ socket of ``sockets``' context; None when no answer came in time.

    ``stop``: give up early when it is set (the caller is exiting, and its context waits for this
    socket). Raises :class:`base.protocol.ProtocolError` for a broker of another protocol version.
    """
    req = sockets.ctx.socket(zmq.REQ)
    try:
        req.linger = 0
        if sockets.curve is not None:
            req.curve_serverkey, req.curve_publickey, req.curve_secretkey = sockets.curve.client()
        req.connect(sockets.endpoints["status"])
        req.send(b"status")
        deadline = time.monotonic() + timeout_s
        while (left_ms := int((deadline - time.monotonic()) * 1000)) > 0:
            if stop is not None and stop.is_set():
                return None
            if not req.poll(min(left_ms, POLL_MS)):
                continue
            try:
                answer = req.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                continue  # POLLIN with nothing to read (a CurveZMQ handshake reports one)
            return protocol.decode_status(answer)
        return None
    finally:
        req.close(linger=0)


def query_status(
    endpoints: Endpoints | None = None,
    timeout_s: float = 1.0,
    curve: CurveKeys | None | Literal["env"] = "env",
) -> dict[str, Any] | None:
    """Ask the running broker for its counters from a context of its own; None when no broker
    answers in time. ``endpoints`` and ``curve`` (client keys) default to the FPSTREAM_* environment."""
    keys = CurveKeys.from_env() if curve == "env" else curve
    ctx = zmq.Context()
    sockets = Sockets(ctx, endpoints or Endpoints.from_env(), keys, Limits.from_env())
    try:
        return ask_status(sockets, timeout_s)
    finally:
        sockets.close(linger_ms=0)
        ctx.term()

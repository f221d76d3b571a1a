"""Broker: the one process that binds. It forwards, validates and counts; it keeps no state.

    ingest ──PUSH──► PULL chunks_in ─────► PUSH chunks_out ──► analyzers (PULL)
    analyzers, ingest ──PUSH──► PULL results_in ──► PUSH results_out ──► sink (PULL)
    sink ──PUB──► XSUB acks_in ◄────────► XPUB acks_out ──► ingests (SUB, topic = ingest id)
    fpstream status ──REQ──► REP status

One poll loop instead of zmq.proxy threads, so that (1) a full analyzer side
never stalls results and acks: a front socket is only read while its back
socket can take a message, (2) every message is checked against the protocol
before it travels on (a malformed one is logged and dropped here, once), and
(3) the loop can count what it forwards for ``fpstream status``. Frames are
forwarded as received (``copy=False``): the PCM is never copied.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from base import logs, protocol
from base.config import Endpoints
from base.sockets import PREFETCH, RESULT_HWM, Sockets, generate_keys
from broker.status import Counters, query_status

log = logging.getLogger("broker")

BATCH = 256  # messages forwarded per pipe before the loop looks at the other sockets


@dataclass
class Pipe:
    """A one-way forwarding path: messages read from ``front`` are checked, then sent to ``back``."""

    channel: str  # the front socket's channel name, used in counters and logs
    front: zmq.Socket[Any]
    back: zmq.Socket[Any]
    check: Callable[[list[zmq.Frame]], object]  # a protocol decoder: raises on a malformed message


class Broker:
    def __init__(self, sockets: Sockets) -> None:
        hwm = sockets.limits.chunk_hwm
        self.sockets = sockets
        self.counters = Counters()
        self.drop = logs.DropReport(log)
        bound = {
            "chunks_in": sockets.bind(zmq.PULL, "chunks_in", rcvhwm=hwm),
            "chunks_out": sockets.bind(zmq.PUSH, "chunks_out", sndhwm=PREFETCH),
            "results_in": sockets.bind(zmq.PULL, "results_in", rcvhwm=RESULT_HWM),
            "results_out": sockets.bind(zmq.PUSH, "results_out", sndhwm=RESULT_HWM),
            "acks_in": sockets.bind(zmq.XSUB, "acks_in"),
            "acks_out": sockets.bind(zmq.XPUB, "acks_out"),
            "status": sockets.bind(zmq.REP, "status"),
        }
        self.bound = bound
        self.pipes = [
            Pipe("chunks_in", bound["chunks_in"], bound["chunks_out"], protocol.decode_chunk),
            Pipe("results_in", bound["results_in"], bound["results_out"], protocol.decode_result),
            Pipe("acks_in", bound["acks_in"], bound["acks_out"], protocol.decode_ack),
        ]
        # Socket monitors count connected peers per channel, for `fpstream status`.
        events = zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED
        self.monitors = {bound[c].get_monitor_socket(events): c for c in bound}
        self.stopping = False

    def run(self) -> None:
        poller = zmq.Poller()
        while not self.stopping:
            wanted = {self.bound["status"]: zmq.POLLIN, self.bound["acks_out"]: zmq.POLLIN}  # + subscriptions
            wanted.update({mon: zmq.POLLIN for mon in self.monitors})
            for pipe in self.pipes:
                # Read a front socket only while its back socket can take the message:
                # back-pressure travels upstream instead of blocking this loop.
                if pipe.back.get(zmq.EVENTS) & zmq.POLLOUT:
                    wanted[pipe.front] = wanted.get(pipe.front, 0) | zmq.POLLIN
                else:
                    wanted[pipe.back] = wanted.get(pipe.back, 0) | zmq.POLLOUT
            for sock in [s for s, _ in poller.sockets if s not in wanted]:
                poller.unregister(sock)
            for sock, flags in wanted.items():
                poller.register(sock, flags)
            ready = dict(poller.poll(200))
            for pipe in self.pipes:
                if ready.get(pipe.front, 0) & zmq.POLLIN:
                    self.forward(pipe)
            if ready.get(self.bound["acks_out"], 0) & zmq.POLLIN:
                self.forward_subscriptions()
            if ready.get(self.bound["status"], 0) & zmq.POLLIN:
                self.answer_status()
            for mon, channel in self.monitors.items():
                if ready.get(mon, 0) & zmq.POLLIN:
                    self.count_peer(mon, channel)

    def forward(self, pipe: Pipe) -> None:
        for _ in range(BATCH):
            if not (pipe.front.get(zmq.EVENTS) & zmq.POLLIN and pipe.back.get(zmq.EVENTS) & zmq.POLLOUT):
                return
            frames = pipe.front.recv_multipart(copy=False)
            try:
                pipe.check(frames)
            except Exception as exc:  # ProtocolError, or anything a hostile message provokes
                self.counters.dropped[pipe.channel] += 1
                self.drop(pipe.channel, exc, frames)
                continue
            pipe.back.send_multipart(frames, copy=False)
            self.counters.forwarded[pipe.channel] += 1

    def forward_subscriptions(self) -> None:
        xpub, xsub = self.bound["acks_out"], self.bound["acks_in"]
        while xpub.get(zmq.EVENTS) & zmq.POLLIN:
            xsub.send_multipart(xpub.recv_multipart(copy=False), copy=False)

    def answer_status(self) -> None:
        rep = self.bound["status"]
        rep.recv_multipart()  # any request gets the counters
        snapshot = self.counters.snapshot(
            os.getpid(), self.sockets.endpoints.base, self.sockets.curve is not None
        )
        rep.send(protocol.encode_status(snapshot))

    def count_peer(self, mon: zmq.Socket[Any], channel: str) -> None:
        while mon.get(zmq.EVENTS) & zmq.POLLIN:
            event = recv_monitor_message(mon)["event"]
            self.counters.peers[channel] += 1 if event == zmq.EVENT_ACCEPTED else -1
            if channel == "results_out" and event == zmq.EVENT_ACCEPTED and self.counters.peers[channel] > 1:
                # PUSH would split each track's partials between the sinks: neither could finish it
                log.warning("%d sinks are connected; run exactly one", self.counters.peers[channel])

    def close(self) -> None:
        for sock in self.bound.values():
            sock.disable_monitor()
        for mon in self.monitors:
            mon.close(linger=0)
        self.sockets.close(linger_ms=0)


def refuse_second_broker(endpoints: Endpoints) -> None:
    """Binding ipc replaces the socket file, silently stealing a running broker's clients: ask first."""
    if not (endpoints.is_ipc and (endpoints.ipc_dir / "status").exists()):
        return
    if query_status(endpoints, timeout_s=0.5) is not None:
        raise SystemExit(f"another broker is already running at {endpoints.base} (see: fpstream status)")


def serve() -> int:
    endpoints = Endpoints.from_env()
    refuse_second_broker(endpoints)
    ctx = zmq.Context()
    broker = Broker(Sockets.from_env(ctx, endpoints))

    def stop(signum: int, _frame: object) -> None:
        log.info("%s: shutting down", signal.Signals(signum).name)
        broker.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "ready: %s (chunk queue %d messages, max message %d MiB, curve %s)",
        broker.sockets.endpoints.base,
        broker.sockets.limits.chunk_hwm,
        broker.sockets.limits.max_message_bytes >> 20,
        "on" if broker.sockets.curve else "off",
    )
    try:
        broker.run()
    finally:
        broker.close()
        ctx.term()
    log.info(
        "stopped; forwarded %s, dropped %s", dict(broker.counters.forwarded), dict(broker.counters.dropped)
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m broker",
        description="The fpstream broker: binds every endpoint derived from FPSTREAM_BROKER and forwards "
        "chunks to analyzers, results to the sink and acknowledgements back to ingest.",
        epilog="Settings (environment): FPSTREAM_BROKER (ipc://DIR or tcp://HOST:PORT; default "
        "ipc://$XDG_RUNTIME_DIR/fpstream), FPSTREAM_QUEUE_MB (64), FPSTREAM_CHUNK_S (10), "
        "FPSTREAM_MAX_MESSAGE_MB (256), FPSTREAM_CURVE_DIR (unset: no CurveZMQ; required to listen on a "
        "non-loopback tcp address), FPSTREAM_LOG_LEVEL (INFO). See README.md.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    keygen = sub.add_parser(
        "keygen",
        help="create CurveZMQ keys: a server key pair and an authorised client key pair",
        description="Create DIR/server.key{,_secret} (once) and DIR/NAME.key{,_secret}, and allow NAME "
        "by copying its public key into DIR/authorized_clients/. Give the broker host all of DIR; give "
        "other hosts server.key and NAME.key{,_secret} (and set FPSTREAM_CURVE_CLIENT=NAME there).",
    )
    keygen.add_argument("dir", type=Path)
    keygen.add_argument(
        "--client", default="client", metavar="NAME", help="client key name (default: client)"
    )
    args = parser.parse_args(argv)
    logs.setup("broker")
    if args.command == "keygen":
        for path in generate_keys(args.dir, args.client):
            print(path)
        return 0
    return serve()


if __name__ == "__main__":
    sys.exit(main())

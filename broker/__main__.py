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

Nothing here blocks, so SIGTERM is honoured within one poll (0.2 s) in every
state: every receive is ``NOBLOCK`` (a CurveZMQ socket can report POLLIN with
nothing to read), and a message the back socket cannot take at once (its last
peer just left) is held, not dropped, until it can. The only messages dropped
are malformed ones and an ack or receipt for an ingest whose queue is full;
each drop is logged.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from base import logs, protocol
from base.config import Endpoints, settings_epilog
from base.sockets import PREFETCH, RESULT_HWM, Sockets, generate_keys
from base.status import query_status
from broker.status import Counters

log = logging.getLogger("broker")

BATCH = 256  # messages forwarded per pipe before the loop looks at the other sockets


@dataclass
class Pipe:
    """A one-way forwarding path: messages read from ``front`` are checked, then sent to ``back``."""

    channel: str  # the front socket's channel name, used in counters and logs
    front: zmq.Socket[Any]
    back: zmq.Socket[Any]
    check: Callable[[list[zmq.Frame]], object]  # a protocol decoder: raises on a malformed message
    drop_when_full: bool = False  # a full back queue drops the message (logged) instead of holding it
    held: list[zmq.Frame] | None = None  # checked, waiting for the back socket to take it
    held_what: object = None  # the decoded message, to name it if it has to be dropped


# Monitor events: peers count once their handshake succeeded; a failed handshake is a refusal.
PEER_EVENTS = (
    zmq.EVENT_ACCEPTED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)
HANDSHAKE_FAILURES = {
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
    zmq.EVENT_HANDSHAKE_FAILED_AUTH,
}


def handshake_failure(event: int, value: int) -> str:
    """Why a peer's handshake failed, in an operator's words."""
    if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        return f"its key was refused (ZAP status {value})"
    if value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
        return "security mismatch: the peer has no CurveZMQ keys (set FPSTREAM_CURVE_DIR on its host)"
    if value == zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
        return "CurveZMQ handshake could not be decrypted: the peer has the wrong server.key"
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
        return f"ZMTP protocol error 0x{value:x} (not an fpstream peer?)"
    detail = os.strerror(value) if value else "no detail"
    return f"the peer left during the handshake ({detail}): no CurveZMQ keys, or the wrong server.key?"


def address_of(fd: int) -> str | None:
    """The remote address of a just-accepted tcp connection (best effort: it may be gone already)."""
    try:
        with socket.socket(fileno=os.dup(fd)) as s:
            host, port = s.getpeername()[:2]
            return f"{host}:{port}"
    except (OSError, ValueError, TypeError):
        return None


@dataclass
class PeerWatch:
    """One bound socket's monitor: connected peers, and who was refused."""

    channel: str
    addresses: dict[int, str | None]  # fd -> remote address, from EVENT_ACCEPTED
    failed: str | None = None  # the reason of the handshake failure just reported


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
        # A full ingest queue makes the send fail (and be logged) instead of vanishing silently.
        bound["acks_out"].setsockopt(zmq.XPUB_NODROP, 1)
        self.bound = bound
        self.pipes = [
            Pipe("chunks_in", bound["chunks_in"], bound["chunks_out"], protocol.decode_chunk),
            Pipe("results_in", bound["results_in"], bound["results_out"], protocol.decode_result),
            Pipe("acks_in", bound["acks_in"], bound["acks_out"], protocol.decode_ack, drop_when_full=True),
        ]
        # Socket monitors count connected peers per channel, for `fpstream status`, and see refusals.
        self.monitors = {bound[c].get_monitor_socket(PEER_EVENTS): PeerWatch(c, {}) for c in bound}
        self.refusals = 0
        self.stopping = False

    def run(self) -> None:
        poller = zmq.Poller()
        while not self.stopping:
            wanted = {self.bound["status"]: zmq.POLLIN, self.bound["acks_out"]: zmq.POLLIN}  # + subscriptions
            wanted.update({mon: zmq.POLLIN for mon in self.monitors})
            for pipe in self.pipes:
                # Read a front socket only while its back socket can take the message:
                # back-pressure travels upstream instead of blocking this loop.
                if pipe.held is None and pipe.back.get(zmq.EVENTS) & zmq.POLLOUT:
                    wanted[pipe.front] = wanted.get(pipe.front, 0) | zmq.POLLIN
                else:
                    wanted[pipe.back] = wanted.get(pipe.back, 0) | zmq.POLLOUT
            for sock in [s for s, _ in poller.sockets if s not in wanted]:
                poller.unregister(sock)
            for sock, flags in wanted.items():
                poller.register(sock, flags)
            ready = dict(poller.poll(200))
            for pipe in self.pipes:
                if ready.get(pipe.front, 0) & zmq.POLLIN or ready.get(pipe.back, 0) & zmq.POLLOUT:
                    self.forward(pipe)
            if ready.get(self.bound["acks_out"], 0) & zmq.POLLIN:
                self.forward_subscriptions()
            if ready.get(self.bound["status"], 0) & zmq.POLLIN:
                self.answer_status()
            for mon, watch in self.monitors.items():
                if ready.get(mon, 0) & zmq.POLLIN:
                    self.watch_peers(mon, watch)

    def forward(self, pipe: Pipe) -> None:
        for _ in range(BATCH):
            if pipe.held is None:
                try:
                    frames = pipe.front.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    return  # POLLIN with nothing to read (a CurveZMQ handshake reports one)
                try:
                    pipe.held_what = pipe.check(frames)
                except Exception as exc:  # ProtocolError, or anything a hostile message provokes
                    self.counters.dropped[pipe.channel] += 1
                    self.drop(pipe.channel, exc, frames)
                    continue
                pipe.held = frames
            if not self.send_held(pipe):
                return

    def send_held(self, pipe: Pipe) -> bool:
        """Pass the held message on; False when the back socket cannot take it now."""
        assert pipe.held is not None
        try:
            pipe.back.send_multipart(pipe.held, zmq.NOBLOCK, copy=False)
        except zmq.Again:
            if not pipe.drop_when_full:
                return False  # its peers just left: keep it until one is back
            self.counters.dropped[pipe.channel] += 1
            log.warning("dropped %s: the ingest's queue is full (is it reading?)", describe(pipe.held_what))
        else:
            # receipts share the ack channel; "acks_in" counts acks only (commits, for the rate)
            receipt = isinstance(pipe.held_what, protocol.Receipt)
            self.counters.forwarded["receipts" if receipt else pipe.channel] += 1
        pipe.held = pipe.held_what = None
        return True

    def forward_subscriptions(self) -> None:
        xpub, xsub = self.bound["acks_out"], self.bound["acks_in"]
        while True:
            try:
                xsub.send_multipart(xpub.recv_multipart(zmq.NOBLOCK, copy=False), copy=False)
            except zmq.Again:
                return

    def answer_status(self) -> None:
        rep = self.bound["status"]
        try:
            rep.recv_multipart(zmq.NOBLOCK)  # any request gets the counters
        except zmq.Again:
            return
        snapshot = self.counters.snapshot(
            os.getpid(), self.sockets.endpoints.base, self.sockets.curve is not None
        )
        try:
            rep.send(protocol.encode_status(snapshot), zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # the asker left mid-request: REP then drops the reply itself
            log.info("status reply not sent: %s", exc)

    def watch_peers(self, mon: zmq.Socket[Any], watch: PeerWatch) -> None:
        channel = watch.channel
        while True:
            try:
                msg = recv_monitor_message(mon, zmq.NOBLOCK)
            except zmq.Again:
                return
            event, value = msg["event"], msg["value"]
            if event == zmq.EVENT_ACCEPTED:
                watch.addresses[value] = address_of(value) if not self.sockets.endpoints.is_ipc else None
            elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.counters.peers[channel] += 1
                if channel == "results_out" and self.counters.peers[channel] > 1:
                    # PUSH would split each track's partials between the sinks: neither could finish it
                    log.warning("%d sinks are connected; run exactly one", self.counters.peers[channel])
            elif event in HANDSHAKE_FAILURES:
                watch.failed = handshake_failure(event, value)
            elif event == zmq.EVENT_DISCONNECTED:
                # libzmq reports a failed handshake's disconnect right after the failure itself
                address = watch.addresses.pop(value, None)
                if watch.failed is None:
                    self.counters.peers[channel] -= 1
                    continue
                reason, watch.failed = watch.failed, None
                if "ZAP" in reason:
                    continue  # the allow-list logged it, with the key
                self.refusals += 1
                if self.refusals <= 20 or self.refusals % 100 == 0:
                    log.warning(
                        "refused connection on %s%s: %s",
                        channel,
                        f" from {address}" if address else "",
                        reason,
                    )

    def close(self) -> None:
        for sock in self.bound.values():
            sock.disable_monitor()
        for mon in self.monitors:
            mon.close(linger=0)
        self.sockets.close(linger_ms=0)


def describe(message: object) -> str:
    """A message named by its track (and chunk), for a log line."""
    if isinstance(message, protocol.Ack):
        return f"ack of track {message.track} ({message.path}) for ingest {message.ingest}"
    if isinstance(message, protocol.Receipt):
        return f"receipt of {len(message.seqs)} chunks for ingest {message.ingest}"
    return type(message).__name__


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
        epilog=settings_epilog("broker"),
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
    logs.run_main(main, "python -m broker")

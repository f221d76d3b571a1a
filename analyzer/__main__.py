"""Analyzer: a worker. Chunks in, partials out; no state between chunks.

    broker PUSH chunks_out ──► PULL [analyze_chunk] PUSH ──► broker PULL results_in

Kernels are compiled (or loaded from numba's cache) before the sockets
connect, so a new analyzer takes work only when it can do it at full speed.
A chunk that cannot be analysed becomes a ``Failed`` for its track; a message
that is not a chunk is logged and dropped. Run as many as there are cores.

Every receive and send is ``NOBLOCK`` after a poll of at most 0.2 s, and SIGTERM
abandons a chunk being analysed (its loss is noticed and it is re-sent), so the
process stops within a second in every state. A monitor on the chunk socket
says when the broker refused this analyzer's handshake, and an analyzer that
has had no work for ``FPSTREAM_IDLE_WARN_S`` while not connected says so.
"""

from __future__ import annotations

import argparse
import logging
import signal
import time
from typing import Any

import zmq
from threadpoolctl import threadpool_limits
from zmq.utils.monitor import recv_monitor_message

from base import logs, protocol
from base.config import env_float, settings_epilog
from base.sockets import PREFETCH, RESULT_HWM, Sockets
from dsp.chunk import partial_for, warm_up

log = logging.getLogger("analyzer")

LINK_EVENTS = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)


class Abandon(BaseException):
    """Raised by SIGTERM while a chunk is being analysed: stop now, the chunk will be re-sent.
    (Not an Exception: the DSP's catch-all turns exceptions into a failed track.)"""


class Analyzer:
    def __init__(self, sockets: Sockets, idle_warn_s: float) -> None:
        self.endpoint = sockets.endpoints["chunks_out"]
        self.has_keys = sockets.curve is not None
        self.chunks = sockets.connect(zmq.PULL, "chunks_out", rcvhwm=PREFETCH)
        self.results = sockets.connect(zmq.PUSH, "results_in", sndhwm=RESULT_HWM)
        self.link = self.chunks.get_monitor_socket(LINK_EVENTS)
        self.connected = False
        self.refusals = 0
        self.idle_warn_s = idle_warn_s
        self.last_work = self.disconnected_since = time.monotonic()
        self.next_idle_warning = 0.0
        self.drop = logs.DropReport(log)
        self.stopping = False
        self.busy = False
        self.analyzed = 0

    def run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.chunks, zmq.POLLIN)
        poller.register(self.link, zmq.POLLIN)
        while not self.stopping:
            ready = dict(poller.poll(200))  # wake up now and then to notice SIGTERM
            if self.link in ready:
                self.watch_link()
            if self.chunks not in ready:
                self.warn_if_idle()
                continue
            try:
                frames = self.chunks.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                continue  # POLLIN with nothing to read (a CurveZMQ handshake reports one)
            self.last_work = time.monotonic()
            try:
                # Set inside the try: a SIGTERM right after it raises Abandon, which must be caught here.
                self.busy = True
                reply = self.handle(frames)
            except Abandon:
                return
            finally:
                self.busy = False
            if reply is not None:
                self.send(reply)

    def watch_link(self) -> None:
        """Follow the connection to the broker's chunk socket, and say why it is refused."""
        while True:
            try:
                event = recv_monitor_message(self.link, zmq.NOBLOCK)
            except zmq.Again:
                return
            kind = event["event"]
            if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                if not self.connected:
                    log.info("connected to %s", self.endpoint)
                self.connected = True
            elif kind == zmq.EVENT_DISCONNECTED:
                if self.connected:
                    self.disconnected_since = time.monotonic()
                self.connected = False
            else:
                self.refusals += 1
                if self.refusals <= 3 or self.refusals % 100 == 0:
                    log.warning(
                        "the broker at %s refused this analyzer (#%d): %s",
                        self.endpoint,
                        self.refusals,
                        refusal_reason(kind, event["value"], self.has_keys),
                    )

    def warn_if_idle(self) -> None:
        now = time.monotonic()
        idle_since = max(self.last_work, self.disconnected_since)
        if self.connected or now - idle_since < self.idle_warn_s or now < self.next_idle_warning:
            return
        self.next_idle_warning = now + self.idle_warn_s
        log.warning(
            "no work for %.0f s and not connected to the broker at %s: is it running and reachable, "
            "and is this host's key on its allow-list?",
            now - self.last_work,
            self.endpoint,
        )

    def handle(self, frames: list[zmq.Frame]) -> list[Any] | None:
        try:
            header, pcm = protocol.decode_chunk(frames)  # pcm is a view of the received frame
        except Exception as exc:  # ProtocolError, or anything a hostile message provokes
            self.drop("chunks_out", exc, frames)
            return None
        result = partial_for(header, pcm)
        if isinstance(result, protocol.Failed):
            log.warning("%s: %s", header.ref.path, result.error)
            return protocol.encode_failed(result)
        self.analyzed += 1
        return protocol.encode_partial(result)

    def send(self, frames: list[Any]) -> None:
        # Waits only while the broker is away or the sink is back-pressuring;
        # keep checking for SIGTERM meanwhile.
        while not self.stopping:
            if self.results.poll(200, zmq.POLLOUT):
                try:
                    self.results.send_multipart(frames, zmq.NOBLOCK)
                except zmq.Again:
                    continue  # the broker left between the poll and the send
                return
        # Stopping before the result could go out: ingest re-sends the chunk (it never got a receipt).
        log.info("stopping: one computed result was not sent; its chunk will be re-sent")


def refusal_reason(event: int, value: int, has_keys: bool) -> str:
    if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        return "this host's key is not on the broker's allow-list (authorized_clients/)"
    if not has_keys:
        return "security mismatch: the broker requires CurveZMQ keys, this host has none (FPSTREAM_CURVE_DIR)"
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL and value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
        return "security mismatch: this host has CurveZMQ keys and the broker does not use them"
    return "handshake failed: wrong server.key in FPSTREAM_CURVE_DIR, or not an fpstream broker"


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m analyzer",
        description="An fpstream analyzer: pulls chunks from the broker, computes a partial fingerprint "
        "per chunk (numba kernels) and pushes it towards the sink. Start one per core.",
        epilog="The 25 numbers it computes: docs/fingerprint.md. " + settings_epilog("analyzer"),
    ).parse_args(argv)
    logs.setup("analyzer")
    # One analyzer is one core. OpenBLAS (numpy's matmul) otherwise starts a thread per
    # core whose spin-waits between calls took a second core: one analyzer measured 160 %
    # CPU and two analyzers ran no faster than one.
    threadpool_limits(1)
    t0 = time.monotonic()
    warm_up()
    ctx = zmq.Context()
    sockets = Sockets.from_env(ctx)
    analyzer = Analyzer(sockets, idle_warn_s=env_float("FPSTREAM_IDLE_WARN_S", 60.0))

    def stop(signum: int, _frame: object) -> None:
        analyzer.stopping = True
        if analyzer.busy:
            raise Abandon

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("ready: kernels warm in %.1f s, pulling from %s", time.monotonic() - t0, sockets.endpoints.base)
    try:
        analyzer.run()
    finally:
        analyzer.chunks.disable_monitor()
        analyzer.link.close(linger=0)
        sockets.close(linger_ms=500)  # a partial already computed still gets out
        ctx.term()
    log.info("stopped after %d chunks", analyzer.analyzed)
    return 0


if __name__ == "__main__":
    logs.run_main(main, "python -m analyzer")

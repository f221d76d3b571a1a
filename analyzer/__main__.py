"""Analyzer: a worker. Chunks in, partials out; no state between chunks.

    broker PUSH chunks_out ──► PULL [analyze_chunk] PUSH ──► broker PULL results_in

Kernels are compiled (or loaded from numba's cache) before the sockets
connect, so a new analyzer takes work only when it can do it at full speed.
A chunk that cannot be analysed becomes a ``Failed`` for its track; a message
that is not a chunk is logged and dropped. Run as many as there are cores.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from typing import Any

import zmq
from threadpoolctl import threadpool_limits

from analyzer.chunk import partial_for, warm_up
from base import logs, protocol
from base.sockets import PREFETCH, RESULT_HWM, Sockets

log = logging.getLogger("analyzer")


class Analyzer:
    def __init__(self, sockets: Sockets) -> None:
        self.chunks = sockets.connect(zmq.PULL, "chunks_out", rcvhwm=PREFETCH)
        self.results = sockets.connect(zmq.PUSH, "results_in", sndhwm=RESULT_HWM)
        self.drop = logs.DropReport(log)
        self.stopping = False
        self.analyzed = 0

    def run(self) -> None:
        while not self.stopping:
            if not self.chunks.poll(200):  # wake up now and then to notice SIGTERM
                continue
            frames = self.chunks.recv_multipart(copy=False)
            reply = self.handle(frames)
            if reply is not None:
                self.send(reply)

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
        # Blocks only while the broker is away or the sink is back-pressuring;
        # keep checking for SIGTERM meanwhile.
        while not self.stopping:
            if self.results.poll(200, zmq.POLLOUT):
                self.results.send_multipart(frames)
                return


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m analyzer",
        description="An fpstream analyzer: pulls chunks from the broker, computes a partial fingerprint "
        "per chunk (numba kernels) and pushes it towards the sink. Start one per core.",
        epilog="Settings (environment): FPSTREAM_BROKER (default ipc://$XDG_RUNTIME_DIR/fpstream), "
        "FPSTREAM_CURVE_DIR and FPSTREAM_CURVE_CLIENT (CurveZMQ client keys, for a tcp broker on another "
        "host), FPSTREAM_MAX_MESSAGE_MB (256), FPSTREAM_LOG_LEVEL (INFO). See README.md.",
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
    analyzer = Analyzer(sockets)

    def stop(signum: int, _frame: object) -> None:
        analyzer.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("ready: kernels warm in %.1f s, pulling from %s", time.monotonic() - t0, sockets.endpoints.base)
    try:
        analyzer.run()
    finally:
        sockets.close(linger_ms=0)
        ctx.term()
    log.info("stopped after %d chunks", analyzer.analyzed)
    return 0


if __name__ == "__main__":
    sys.exit(main())

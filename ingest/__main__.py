"""Ingest: paths in, chunks out; exits 0 when every path has a committed row.

    paths (stdin / FPSTREAM_INPUT) ─► decode ─► PUSH chunks_in ──► broker ──► analyzers
                                  undecodable ─► PUSH results_in ─► broker ──► sink
    broker XPUB acks_out ──► SUB (topic = this ingest's id) ─► tracker: done, or re-send

One poll loop, one chunk at a time: a chunk is decoded only when the socket
can take the previous one, so memory is one chunk plus the socket queues
(sized by FPSTREAM_QUEUE_MB) and acks are heard between any two chunks. At
most FPSTREAM_MAX_IN_FLIGHT tracks are unacknowledged at once.

Every chunk send is numbered (``seq``); the sink's receipts come back on the ack
channel and ``ingest.tracker`` decides which chunk is lost. A lost chunk is
decoded again on its own (``iter_chunks(first=index)`` seeks) and sent before
anything new. A send that the socket refuses (``zmq.Again``) is kept and tried
again, never dropped.

``main(argv)`` is also what ``fpstream feed`` runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
import time
from collections import deque
from collections.abc import Generator
from contextlib import closing
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import zmq

from base import logs, protocol
from base.config import database_path, env_float, env_int
from base.protocol import ChunkHeader
from base.sockets import RESULT_HWM, Sockets, chunk_seconds
from ingest.decode import DecodeError, file_identity, iter_chunks
from ingest.paths import PathReader, SeenPaths, row_path
from ingest.progress import Progress
from ingest.skip import PreviousRun
from ingest.tracker import Resend, Track, Tracker

log = logging.getLogger("ingest")

NEW_PATHS_PER_TURN = 256  # paths checked (stat, skip lookup) before the loop polls its sockets again


def env_flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SystemExit(f"{name}={raw!r}: expected 1 or 0")


@dataclass(frozen=True)
class Settings:
    source: str | None  # a file or fifo of paths; None = stdin
    nul: bool
    force: bool
    chunk_s: float
    max_in_flight: int
    ack_timeout_s: float
    ack_timeout_per_audio_s: float
    retries: int
    progress_s: float
    reorder_s: float
    tail_s: float
    commit_s: float

    @classmethod
    def from_env(cls, args: argparse.Namespace) -> Settings:
        settings = cls(
            source=args.input or os.environ.get("FPSTREAM_INPUT") or None,
            nul=args.null or env_flag("FPSTREAM_NUL"),
            force=args.force or env_flag("FPSTREAM_FORCE"),
            chunk_s=chunk_seconds(),
            max_in_flight=env_int("FPSTREAM_MAX_IN_FLIGHT", 16),
            ack_timeout_s=env_float("FPSTREAM_ACK_TIMEOUT_S", 30.0),
            ack_timeout_per_audio_s=env_float("FPSTREAM_ACK_TIMEOUT_PER_AUDIO_S", 2.0),
            retries=env_int("FPSTREAM_RETRIES", 3),
            progress_s=env_float("FPSTREAM_PROGRESS_S", 2.0),
            reorder_s=env_float("FPSTREAM_REORDER_S", 3.0),
            tail_s=env_float("FPSTREAM_TAIL_S", 10.0),
            commit_s=env_float("FPSTREAM_COMMIT_WAIT_S", 10.0),
        )
        if settings.max_in_flight < 1 or settings.retries < 0 or settings.ack_timeout_s <= 0:
            raise SystemExit("FPSTREAM_MAX_IN_FLIGHT >= 1, FPSTREAM_RETRIES >= 0, FPSTREAM_ACK_TIMEOUT_S > 0")
        return settings


@dataclass
class Sending:
    """The track whose chunks are going out now, and its next message."""

    track: Track
    chunks: Generator[tuple[ChunkHeader, np.ndarray], None, None]
    header: ChunkHeader | None = None
    pcm: np.ndarray | None = None  # the next chunk, decoded, not yet sent


@dataclass
class Outgoing:
    """A chunk message numbered and encoded, kept until the socket takes it."""

    track: Track
    header: ChunkHeader
    frames: list[Any]


class Ingest:
    def __init__(
        self, sockets: Sockets, settings: Settings, reader: PathReader, previous: PreviousRun
    ) -> None:
        self.id = secrets.token_hex(8)
        self.settings = settings
        self.max_message = sockets.limits.max_message_bytes
        self.chunks = sockets.connect(zmq.PUSH, "chunks_in", sndhwm=sockets.limits.chunk_hwm)
        self.results = sockets.connect(zmq.PUSH, "results_in", sndhwm=RESULT_HWM)
        self.acks = sockets.connect(zmq.SUB, "acks_out")
        self.acks.setsockopt(zmq.SUBSCRIBE, self.id.encode())  # only acks for this ingest's tracks
        self.reader = reader
        self.previous = previous
        self.seen = SeenPaths()
        self.waiting: deque[str] = deque()  # read, not yet looked at
        self.tracker = Tracker(
            settings.ack_timeout_s,
            settings.ack_timeout_per_audio_s,
            settings.retries,
            reorder_s=settings.reorder_s,
            tail_s=settings.tail_s,
            commit_s=settings.commit_s,
        )
        self.sending: Sending | None = None
        self.outgoing: Outgoing | None = None  # refused once by the socket (zmq.Again): sent next
        self.outbox: deque[list[bytes]] = deque()  # Failed messages for results_in
        self.progress = Progress(sys.stderr, settings.progress_s)
        self.drop = logs.DropReport(log)
        self.stopping: int | None = None  # the signal that asked us to stop

    # ------------------------------------------------------------ the loop

    def run(self) -> int:
        poller = zmq.Poller()
        poller.register(self.acks, zmq.POLLIN)
        while self.stopping is None:
            now = time.monotonic()
            self.waiting.extend(self.reader.take(NEW_PATHS_PER_TURN * 4))
            if self.reader.error is not None:
                log.error("cannot read the list of paths: %s", self.reader.error)
                return 2
            if self.sending is None:
                self.start_next(now)
            if self.finished():
                break
            to_send = (
                self.outgoing or self.tracker.chunk_resend or (self.sending and self.sending.pcm is not None)
            )
            poller.register(self.chunks, zmq.POLLOUT if to_send else 0)
            poller.register(self.results, zmq.POLLOUT if self.outbox else 0)
            busy = self.sending is None and self.waiting and len(self.tracker.in_flight) < self.max_in_flight
            ready = dict(poller.poll(0 if busy else 100))
            if ready.get(self.chunks, 0) & zmq.POLLOUT:
                self.send_chunk()
            if ready.get(self.results, 0) & zmq.POLLOUT:
                try:
                    self.results.send_multipart(self.outbox[0], flags=zmq.NOBLOCK)
                    self.outbox.popleft()
                except zmq.Again:
                    pass  # the broker left between the poll and the send: kept for the next turn
            if ready.get(self.acks, 0) & zmq.POLLIN:
                self.receive_acks()
            now = time.monotonic()
            self.tracker.chunks_due(now)
            for track in self.tracker.expire(now):
                log.error(
                    "%s: no acknowledgement after %d sends; is the sink running?", track.path, track.attempt
                )
            self.progress.tick(len(self.tracker.in_flight), not self.reader.eof, now)
        if self.stopping is not None:
            log.info(
                "%s: stopping with %d tracks unacknowledged",
                signal.Signals(self.stopping).name,
                len(self.tracker.in_flight),
            )
            return 128 + self.stopping
        self.progress.summary(len(self.tracker.in_flight), reading=False)
        for track in self.tracker.lost:
            log.error("lost (never acknowledged): %s", track.path)
        return 1 if self.tracker.lost else 0

    @property
    def max_in_flight(self) -> int:
        return self.settings.max_in_flight

    def finished(self) -> bool:
        return (
            self.reader.eof
            and not self.waiting
            and self.sending is None
            and self.outgoing is None
            and not self.outbox
            and not self.tracker.in_flight
        )

    # ------------------------------------------------------------ starting tracks

    def start_next(self, now: float) -> None:
        """Begin the next re-send, or else the next new path if fewer than the cap are in flight."""
        if self.tracker.resend:
            self.begin(self.tracker.resend.popleft(), resend=True)
            return
        for _ in range(NEW_PATHS_PER_TURN):
            if not self.waiting or len(self.tracker.in_flight) >= self.max_in_flight:
                return
            track = self.admit(self.waiting.popleft())
            if track is not None:
                if self.progress.first_sent is None:
                    self.progress.first_sent = now
                self.begin(track, resend=False)
                return

    def admit(self, given: str) -> Track | None:
        """A new path becomes a track, unless it is a repeat or already done and unchanged."""
        path = os.path.abspath(given)
        if not self.seen.add(path):
            return None
        self.progress.total += 1
        stored = row_path(path)
        try:
            size, mtime_ns = file_identity(path)
        except DecodeError as exc:
            return self.tracker.new(path, stored, -1, -1, error=str(exc))
        if not self.settings.force and self.previous.unchanged(stored, size, mtime_ns):
            self.progress.skipped += 1
            return None
        return self.tracker.new(path, stored, size, mtime_ns)

    def begin(self, track: Track, resend: bool) -> None:
        if resend:
            what = "audio" if track.error is None else f"failure ({track.error})"
            log.info("re-sending %s of %s (attempt %d): no ack in time", what, track.path, track.attempt + 1)
        if track.error is None and resend:
            try:
                identity = file_identity(track.path)
            except DecodeError as exc:  # gone or unreadable since the last attempt
                track.error = str(exc)
            else:
                if identity != (track.size, track.mtime_ns):
                    self.tracker.renumber(track, *identity)
        if track.error is not None:
            self.send_failed(track)
            return
        self.tracker.restart(track)
        chunks = iter_chunks(track.path, track.ref(self.id), self.settings.chunk_s)
        self.sending = Sending(track, chunks)
        self.next_chunk()

    # ------------------------------------------------------------ sending

    def next_chunk(self) -> None:
        """Decode the current track's next chunk (or fail the track if decoding fails)."""
        assert self.sending is not None
        s = self.sending
        try:
            s.header, pcm = next(s.chunks)
        except DecodeError as exc:
            self.fail_sending(str(exc))
            return
        if pcm.nbytes > self.max_message:
            self.fail_sending(
                f"chunk of {pcm.nbytes >> 20} MiB exceeds FPSTREAM_MAX_MESSAGE_MB "
                f"({self.max_message >> 20}); lower FPSTREAM_CHUNK_S"
            )
            return
        s.pcm = pcm

    def send_chunk(self) -> None:
        """Send one chunk: a refused one first, then a lost one again, then the next of the track."""
        if self.outgoing is None:
            self.outgoing = self.resend_chunk() if self.tracker.chunk_resend else None
        if self.outgoing is None and self.sending is not None and self.sending.pcm is not None:
            s = self.sending
            assert s.header is not None
            self.outgoing = self.numbered(s.track, s.header, s.pcm)
            s.pcm = None
            if s.header.last:
                s.track.duration_s = (s.header.start + s.header.frames) / s.header.sample_rate
                s.track.warning = s.header.warning
                if s.header.warning:
                    log.info("%s: %s", s.track.path, s.header.warning)
                self.tracker.sent(s.track, time.monotonic())
                self.sending = None
            else:
                self.next_chunk()
        out = self.outgoing
        if out is None:
            return
        try:
            self.chunks.send_multipart(out.frames, copy=False, flags=zmq.NOBLOCK)  # the PCM is not copied
        except zmq.Again:
            return  # the broker left between the poll and the send: kept, sent first when it is back
        self.outgoing = None
        h = out.header
        self.tracker.chunk_sent(out.track, h.index, h.seq, h.last, time.monotonic())

    def numbered(self, track: Track, header: ChunkHeader, pcm: np.ndarray) -> Outgoing:
        header = replace(header, seq=self.tracker.chunk_seq())
        return Outgoing(track, header, protocol.encode_chunk(header, pcm))

    def resend_chunk(self) -> Outgoing | None:
        """Decode one lost chunk again (seeking to it) and number it; None if that is no longer wanted."""
        resend: Resend = self.tracker.chunk_resend.popleft()
        track = resend.track
        if self.tracker.in_flight.get(track.seq) is not track or track.error is not None:
            return None  # acknowledged, failed or restarted meanwhile
        if track.deadline is None and (self.sending is None or self.sending.track is not track):
            return None  # the whole track is queued to be sent again
        try:
            changed = file_identity(track.path) != (track.size, track.mtime_ns)
            if not changed:
                chunks = iter_chunks(
                    track.path, track.ref(self.id), self.settings.chunk_s, first=resend.index
                )
                with closing(chunks):
                    header, pcm = next(chunks)
        except (DecodeError, StopIteration):
            changed = True
        if changed:  # the whole track again, with the file as it is now
            log.info("%s: changed or unreadable since it was sent; sending it again", track.path)
            track.deadline = None
            self.tracker.resend.append(track)
            return None
        log.info("re-sending chunk %d of %s (track %d): %s", resend.index, track.path, track.seq, resend.why)
        return self.numbered(track, header, pcm)

    def fail_sending(self, error: str) -> None:
        assert self.sending is not None
        self.sending.chunks.close()  # a generator: closes the file
        track = self.sending.track
        self.sending = None
        log.info("%s: %s", track.path, error)
        track.error = error
        self.send_failed(track)

    def send_failed(self, track: Track) -> None:
        assert track.error is not None
        self.outbox.append(protocol.encode_failed(protocol.Failed(ref=track.ref(self.id), error=track.error)))
        self.tracker.sent(track, time.monotonic())

    # ------------------------------------------------------------ acks

    def receive_acks(self) -> None:
        while True:
            try:
                frames = self.acks.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return  # drained, or POLLIN with nothing to read (CurveZMQ handshakes)
            try:
                ack = protocol.decode_ack(frames)
            except Exception as exc:
                self.drop("acks_out", exc, frames)
                continue
            if ack.ingest != self.id:
                continue
            if isinstance(ack, protocol.Receipt):
                self.tracker.receipt(ack.sink, ack.seqs, time.monotonic())
                continue
            track = self.tracker.acked(ack.track)
            if track is None:
                continue  # a duplicate ack (the track was re-sent and acknowledged twice)
            if self.sending is not None and self.sending.track is track:
                # acknowledged while a re-send is still going out: stop sending it
                self.sending.chunks.close()
                self.sending = None
            self.progress.finished(ack.status, track.duration_s, warned=bool(track.warning))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ingest",
        description="Feed audio file paths into a running fpstream stack: each file is decoded in "
        "chunks and sent to the analyzers; exits 0 once every path has a committed row (done or failed). "
        "Paths already in the database, done and unchanged (size, mtime), are skipped.",
        epilog="Settings (environment): FPSTREAM_BROKER, FPSTREAM_DB (fingerprints.db, read to skip "
        "finished files), FPSTREAM_INPUT (read paths from this file or fifo instead of stdin), "
        "FPSTREAM_NUL=1, FPSTREAM_FORCE=1, FPSTREAM_CHUNK_S (10), FPSTREAM_MAX_IN_FLIGHT (16), "
        "FPSTREAM_ACK_TIMEOUT_S (30), FPSTREAM_ACK_TIMEOUT_PER_AUDIO_S (2: seconds of patience per second "
        "of audio), FPSTREAM_RETRIES (3), FPSTREAM_REORDER_S (3), FPSTREAM_TAIL_S (10), "
        "FPSTREAM_COMMIT_WAIT_S (10) (when a lost chunk is re-sent: see README), FPSTREAM_PROGRESS_S (2), "
        "FPSTREAM_QUEUE_MB (64), "
        "FPSTREAM_CURVE_DIR, FPSTREAM_LOG_LEVEL. See README.md.",
    )
    parser.add_argument("-0", "--null", action="store_true", help="paths are NUL-separated (find -print0)")
    parser.add_argument("--force", action="store_true", help="re-analyse files even if done and unchanged")
    parser.add_argument("--input", metavar="FILE", help="read paths from FILE (or fifo) instead of stdin")
    args = parser.parse_args(argv)
    logs.setup("ingest")
    settings = Settings.from_env(args)
    previous = PreviousRun(None if settings.force else database_path())
    reader = PathReader(settings.source, settings.nul).start()
    ctx = zmq.Context()
    sockets = Sockets.from_env(ctx)
    ingest = Ingest(sockets, settings, reader, previous)

    def stop(signum: int, _frame: object) -> None:
        ingest.stopping = signum

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "ingest %s feeding %s (max %d tracks in flight)",
        ingest.id,
        sockets.endpoints.base,
        settings.max_in_flight,
    )
    try:
        return ingest.run()
    finally:
        if ingest.sending is not None:
            ingest.sending.chunks.close()
        previous.close()
        sockets.close(linger_ms=0)
        ctx.term()


if __name__ == "__main__":
    logs.exit_now(main())

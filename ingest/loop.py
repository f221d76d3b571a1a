"""The ingest process's loop: read paths, wait for a complete stack, start tracks (what a path
becomes is ``ingest.admission``'s, sending is ``ingest.sending``'s), hear acks, show progress,
and summarize at the end.

One poll loop sends, one chunk at a time, while up to FPSTREAM_DECODE_THREADS tracks decode at
once (``ingest.decode_pool``), and hears acks between any two chunks. At most
FPSTREAM_MAX_IN_FLIGHT tracks are unacknowledged at once.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import time
from collections import deque

import zmq

from base import logs, protocol
from base.durations import span
from base.sockets import RESULT_HWM, Sockets
from ingest.admission import Admission
from ingest.decode_pool import DecodePool
from ingest.paths import PathReader, SeenPaths
from ingest.progress import Progress
from ingest.sending import Sender
from ingest.settings import Settings
from ingest.skip import PreviousRun
from ingest.stack_check import StackWatch
from ingest.tracker import Track, Tracker

log = logging.getLogger("ingest")  # one logger for the process, whichever module speaks

NEW_PATHS_PER_TURN = 256  # paths checked (stat, skip lookup) before the loop polls its sockets again


class Ingest:
    """One ingest process: its sockets, its poll loop and what the loop keeps between turns."""

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
        self.reported_skips = 0  # folders the walk left out, reported so far
        self.admitted: deque[Track] = deque()  # to analyse, found while waiting for the stack (in flight)
        self.tracker = Tracker(
            settings.ack_timeout_s,
            settings.ack_timeout_per_audio_s,
            settings.retries,
            reorder_s=settings.reorder_s,
            tail_s=settings.tail_s,
            commit_s=settings.commit_s,
        )
        self.pool: DecodePool[Track] = DecodePool(settings.decode_threads)  # the tracks being sent
        self.progress = Progress.on(sys.stderr, settings.progress_s)
        self.admission = Admission(settings, previous, self.tracker, self.progress)
        self.sender = Sender(
            self.id, settings, self.chunks, self.results, self.tracker, self.pool, self.max_message
        )
        self.drop = logs.DropReport(log)
        self.stopping: int | None = None  # the signal that asked us to stop
        self.address = sockets.endpoints.base
        self.watch = StackWatch(sockets)
        # the broker said an analyzer and the sink are connected; FPSTREAM_STACK_WAIT_S=0: not checked
        self.stack_ready = settings.stack_wait_s == 0
        self.stack_problem = ""  # what is missing now (reported once per change), "" when complete
        self.aborted: str | None = None  # why the run cannot go on (set by abort(), maybe from a thread)
        self.root: str | None = None  # the deepest folder holding every path read (swept at the end)
        self.swept = False

    def abort(self, reason: str) -> None:
        """Stop the run with exit status 1 and ``reason`` (``make run``: a process of the stack died)."""
        self.aborted = reason

    # ------------------------------------------------------------ the loop

    def run(self) -> int:
        poller = zmq.Poller()
        poller.register(self.acks, zmq.POLLIN)
        poller.register(self.pool.fd, zmq.POLLIN)  # a decoding thread has a chunk (or a failure) ready
        if self.settings.stack_wait_s > 0:
            self.watch.start()
        started = time.monotonic()
        while self.stopping is None and self.aborted is None:
            now = time.monotonic()
            self.read_paths()
            if self.reader.error is not None:
                self.progress.end_line()
                log.error("cannot read the list of paths: %s", self.reader.error)
                return 2
            self.check_stack(now, started)
            if self.pool.has_room() and self.stack_ready:
                self.start_next(now)
            elif not self.stack_ready:
                self.screen_while_waiting()
            if self.finished() and not self.sweep():
                break
            to_send = self.sender.outgoing or self.tracker.chunk_resend or self.pool.has_ready()
            poller.register(self.chunks, zmq.POLLOUT if to_send else 0)
            poller.register(self.results, zmq.POLLOUT if self.sender.outbox else 0)
            busy = self.pool.has_room() and self.waiting and len(self.tracker.in_flight) < self.max_in_flight
            ready = dict(poller.poll(0 if busy else 100))
            if ready.get(self.pool.fd, 0) & zmq.POLLIN:
                self.pool.drain_wakeups()  # has_ready() says what is there; the pipe only wakes the poll
            if ready.get(self.chunks, 0) & zmq.POLLOUT:
                self.sender.send_chunk()
            if ready.get(self.results, 0) & zmq.POLLOUT:
                self.sender.send_result()
            if ready.get(self.acks, 0) & zmq.POLLIN:
                self.receive_acks()
            now = time.monotonic()
            self.tracker.chunks_due(now)
            for track in self.tracker.expire(now):
                log.error(
                    "%s: no acknowledgement after %d sends; is the sink running?", track.path, track.attempt
                )
            if self.progress.due(now) and (line := self.status_line(now)):
                self.progress.show(line)
        if self.aborted is not None and not self.stack_ready:
            self.progress.end_line()  # nothing was sent: the reason is the whole story
            log.error("%s", self.aborted)
            return 1
        if self.aborted is not None:
            self.progress.end_line()
            log.error("%s", self.aborted)
        self.summarize(interrupted=self.stopping is not None, stopped=self.aborted is not None)
        if self.aborted is not None:
            return 1
        if self.stopping is not None:
            return 128 + self.stopping
        for track in self.tracker.lost:
            log.error("lost (never acknowledged): %s", track.path)
        return 1 if self.tracker.lost else 0

    def read_paths(self) -> None:
        """Take the paths that arrived; each distinct one counts in the total at once."""
        for given in self.reader.take(NEW_PATHS_PER_TURN * 4):
            path = os.path.abspath(given)
            if self.seen.add(path):
                self.waiting.append(path)
                self.progress.total += 1
                folder = os.path.dirname(path)
                self.root = folder if self.root is None else os.path.commonpath([self.root, folder])
        while self.reported_skips < len(self.reader.skipped):
            log.warning("%s", self.reader.skipped[self.reported_skips])
            self.reported_skips += 1

    def check_stack(self, now: float, started: float) -> None:
        """Wait for a complete stack at start (abort after stack_wait_s); report one that breaks later."""
        state = self.watch.state
        if not self.stack_ready:
            if state is not None and state.ready:
                self.stack_ready = True
            elif state is not None and now - started > self.settings.stack_wait_s:
                self.abort(f"{state.describe(self.address)} (waited {span(now - started)})")
            return
        if state is None:
            return
        problem = "" if state.ready else state.describe(self.address)
        if problem != self.stack_problem:
            if problem:
                log.warning("the stack is incomplete: %s", problem)
            else:
                log.warning("the stack is complete again")
            self.stack_problem = problem

    def status_line(self, now: float) -> str:
        """The progress line; "" while the user is typing paths into this terminal and none came yet."""
        if not self.stack_ready:
            state = self.watch.state
            if state is not None and state.ready:  # answered since check_stack looked
                return self.progress_line(now)
            if state is None:
                waiting = "asking the broker"
            else:
                waiting = ", ".join(state.missing)
                if state.missing == ["analyzer"]:
                    waiting += " (an analyzer compiles its kernels at its first start)"
            return f"waiting for the stack at {self.address}: {waiting}; {self.progress.total} paths read"
        if self.progress.total == 0 and not self.reader.eof:
            return "" if self.reader.source is None and sys.stdin.isatty() else "waiting for paths"
        return self.progress_line(now)

    def progress_line(self, now: float) -> str:
        in_flight = self.tracker.in_flight.values()
        known = [t.duration_s for t in in_flight if t.deadline is not None and t.error is None]
        return self.progress.line(
            len(self.tracker.in_flight), not self.reader.eof, sum(known), len(known), now
        )

    def summarize(self, interrupted: bool, stopped: bool = False) -> None:
        p = self.progress
        unknown = [f.path for f in p.failures + p.failed_before if f.error is None]
        errors = self.previous.errors(unknown)
        for f in p.failures + p.failed_before:
            f.error = f.error or errors.get(f.path)
        line = self.progress_line(time.monotonic())
        db = str(self.previous.db_path) if self.previous.db_path else ""
        p.summary(line, interrupted=interrupted, database=db, stopped=stopped)

    @property
    def max_in_flight(self) -> int:
        return self.settings.max_in_flight

    def finished(self) -> bool:
        return (
            self.reader.eof
            and not self.waiting
            and not self.pool.jobs
            and self.sender.outgoing is None
            and not self.sender.outbox
            and not self.tracker.in_flight
        )

    # ------------------------------------------------------------ starting tracks

    def screen_while_waiting(self) -> None:
        """Settle the paths a re-run skips before the stack is complete: they need no stack at all."""
        for _ in range(NEW_PATHS_PER_TURN):
            if not self.waiting or len(self.tracker.in_flight) >= self.max_in_flight:
                return
            self.admitted.extend(self.admission.admit(self.waiting.popleft()))

    def start_next(self, now: float) -> None:
        """Begin re-sends, or else new paths if fewer than the cap are in flight, while a decoding
        thread is free."""
        for _ in range(NEW_PATHS_PER_TURN):
            if not self.pool.has_room() or not self.start_one(now):
                return

    def start_one(self, now: float) -> bool:
        """Begin the next re-send, or else the next new path; False if there is nothing to begin."""
        if self.tracker.resend:
            self.sender.begin(self.tracker.resend.popleft(), resend=True)
            return True
        if self.admitted:
            if self.progress.first_sent is None:
                self.progress.first_sent = now
            self.sender.begin(self.admitted.popleft(), resend=False)
            return True
        for _ in range(NEW_PATHS_PER_TURN):
            if not self.waiting or len(self.tracker.in_flight) >= self.max_in_flight:
                return False
            tracks = self.admission.admit(self.waiting.popleft())
            if tracks:
                if self.progress.first_sent is None:
                    self.progress.first_sent = now
                self.admitted.extend(tracks[1:])
                self.sender.begin(tracks[0], resend=False)
                return True
        return False

    def sweep(self) -> bool:
        """Once every path is done: tell the sink which stored rows under the folder of this
        run's paths have lost their file (``missing_since``), or found it again. True if a
        sweep went out (the run then waits for its ack)."""
        if self.swept or self.root is None or self.previous.conn is None or self.stopping is not None:
            return False
        self.swept = True
        tracks = self.admission.sweep(self.root)
        for track in tracks:
            self.sender.send_failed(track)
        return bool(tracks)

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
            if track.tags_only:
                if not track.after_update:  # (a kept file's tags were counted with it as kept)
                    self.progress.skip(failed_before=False, path=track.row_path)
                    self.progress.tags_added += 1
                continue
            # acknowledged while a re-send is still going out: stop sending it
            self.pool.cancel(track)
            if track.sweep is not None:
                continue  # not a track
            if track.keep_from is not None and track.error is None and ack.status == "done":
                self.progress.kept += 1
                # a moved or re-tagged file kept its fingerprint: now its tags as they are, once the
                # row is under its new key (acked), as a tracked message of its own (re-sent if lost)
                tags = self.tracker.new(
                    track.path, track.row_path, track.size, track.mtime_ns, span=track.span, meta=track.meta
                )
                tags.tags_only = tags.after_update = True
                self.admitted.append(tags)
                continue
            self.progress.finished(
                ack.status, track.duration_s, track.row_path, track.error, warned=bool(track.warning)
            )

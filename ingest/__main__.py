"""Ingest: paths in, chunks out; exits 0 when every path has a committed row.

    paths (stdin / FPSTREAM_INPUT) ─► decode ─► PUSH chunks_in ──► broker ──► analyzers
                                  undecodable ─► PUSH results_in ─► broker ──► sink
    broker XPUB acks_out ──► SUB (topic = this ingest's id) ─► tracker: done, or re-send

One poll loop sends, one chunk at a time, while up to FPSTREAM_DECODE_THREADS
tracks decode at once, each on its own thread a couple of chunks ahead
(``ingest.decode_pool``); chunks of those tracks interleave on the wire. So
memory is a few chunks per decoding thread plus the socket queues (sized by
FPSTREAM_QUEUE_MB), and acks are heard between any two chunks. At most
FPSTREAM_MAX_IN_FLIGHT tracks are unacknowledged at once. Integer sources
travel as their integer samples (``iter_chunks(dtype="native")``), lossy ones
as float32.

Every chunk send is numbered (``seq``); the sink's receipts come back on the ack
channel and ``ingest.tracker`` decides which chunk is lost. A lost chunk is
decoded again on its own (``iter_chunks(first=index)`` seeks) and sent before
anything new. A send that the socket refuses (``zmq.Again``) is kept and tried
again, never dropped.

Nothing is sent until the broker answers and says an analyzer and the sink
are connected (``ingest.stack_check``); paths are read and counted
meanwhile. A stack that is not complete within FPSTREAM_STACK_WAIT_S is
reported by name and ingest exits 1; one that stops answering later is
reported when it happens.

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
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import zmq

from audio.decode import DecodeError, file_identity, iter_chunks
from audio.derived import derived_source, is_derived
from audio.not_audio import not_audio_kind
from audio.paths import row_file_exists, row_path
from audio.tags import read_tags
from base import logs, protocol
from base.config import database_path, env_float, env_int, settings_epilog
from base.durations import span
from base.protocol import ChunkHeader
from base.sockets import RESULT_HWM, Sockets, chunk_seconds
from ingest.decode_pool import DecodePool
from ingest.paths import PathReader, SeenPaths
from ingest.progress import Progress
from ingest.skip import ANALYSE, SKIP_DONE, SKIP_FAILED, TAGS_ONLY, PreviousRun
from ingest.stack_check import StackWatch
from ingest.tracker import Resend, Track, Tracker
from ingest.units import KEEP, Expander, describe, identify, meta_changed
from store.db import now_utc
from store.readonly import rows_under

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
    arguments: list[str]  # paths given as arguments (read instead of stdin), folders walked
    list_ignored: bool  # name the files that are not audio in the summary
    force: bool
    retry_failed: bool
    include_derived: bool  # feed files written by fpstream master (audio.derived) too
    chunk_s: float
    max_in_flight: int
    ack_timeout_s: float
    ack_timeout_per_audio_s: float
    retries: int
    progress_s: float | None  # None: 2 s on a terminal, 10 s otherwise
    stack_wait_s: float  # how long to wait at start for broker, analyzer and sink
    reorder_s: float
    tail_s: float
    commit_s: float
    decode_threads: int

    @classmethod
    def from_env(cls, args: argparse.Namespace) -> Settings:
        settings = cls(
            source=args.input or os.environ.get("FPSTREAM_INPUT") or None,
            nul=args.null or env_flag("FPSTREAM_NUL"),
            arguments=list(args.paths),
            list_ignored=args.list_ignored or env_flag("FPSTREAM_LIST_IGNORED"),
            force=args.force or env_flag("FPSTREAM_FORCE"),
            retry_failed=args.retry_failed or env_flag("FPSTREAM_RETRY_FAILED"),
            include_derived=args.include_derived or env_flag("FPSTREAM_INCLUDE_DERIVED"),
            chunk_s=chunk_seconds(),
            max_in_flight=env_int("FPSTREAM_MAX_IN_FLIGHT", 16),
            ack_timeout_s=env_float("FPSTREAM_ACK_TIMEOUT_S", 30.0),
            ack_timeout_per_audio_s=env_float("FPSTREAM_ACK_TIMEOUT_PER_AUDIO_S", 2.0),
            retries=env_int("FPSTREAM_RETRIES", 3),
            progress_s=env_float("FPSTREAM_PROGRESS_S", 0.0) or None,
            stack_wait_s=env_float("FPSTREAM_STACK_WAIT_S", 5.0),
            reorder_s=env_float("FPSTREAM_REORDER_S", 3.0),
            tail_s=env_float("FPSTREAM_TAIL_S", 10.0),
            commit_s=env_float("FPSTREAM_COMMIT_WAIT_S", 10.0),
            decode_threads=env_int("FPSTREAM_DECODE_THREADS", default_decode_threads()),
        )
        if settings.max_in_flight < 1 or settings.retries < 0 or settings.ack_timeout_s <= 0:
            raise SystemExit("FPSTREAM_MAX_IN_FLIGHT >= 1, FPSTREAM_RETRIES >= 0, FPSTREAM_ACK_TIMEOUT_S > 0")
        if settings.decode_threads < 1:
            raise SystemExit("FPSTREAM_DECODE_THREADS must be >= 1")
        return settings


def default_decode_threads() -> int:
    """One decoding thread per core, up to 8: one thread decodes FLAC for about five analyzer cores."""
    return max(1, min(8, os.cpu_count() or 1))


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
        self.outgoing: Outgoing | None = None  # refused once by the socket (zmq.Again): sent next
        self.outbox: deque[list[bytes]] = deque()  # Failed messages for results_in
        self.progress = Progress.on(sys.stderr, settings.progress_s)
        self.drop = logs.DropReport(log)
        self.stopping: int | None = None  # the signal that asked us to stop
        self.address = sockets.endpoints.base
        self.watch = StackWatch(sockets)
        # the broker said an analyzer and the sink are connected; FPSTREAM_STACK_WAIT_S=0: not checked
        self.stack_ready = settings.stack_wait_s == 0
        self.stack_problem = ""  # what is missing now (reported once per change), "" when complete
        self.aborted: str | None = None  # why the run cannot go on (set by abort(), maybe from a thread)
        self.expander = Expander()
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
            to_send = self.outgoing or self.tracker.chunk_resend or self.pool.has_ready()
            poller.register(self.chunks, zmq.POLLOUT if to_send else 0)
            poller.register(self.results, zmq.POLLOUT if self.outbox else 0)
            busy = self.pool.has_room() and self.waiting and len(self.tracker.in_flight) < self.max_in_flight
            ready = dict(poller.poll(0 if busy else 100))
            if ready.get(self.pool.fd, 0) & zmq.POLLIN:
                self.pool.drain_wakeups()  # has_ready() says what is there; the pipe only wakes the poll
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
            and self.outgoing is None
            and not self.outbox
            and not self.tracker.in_flight
        )

    # ------------------------------------------------------------ starting tracks

    def screen_while_waiting(self) -> None:
        """Settle the paths a re-run skips before the stack is complete: they need no stack at all."""
        for _ in range(NEW_PATHS_PER_TURN):
            if not self.waiting or len(self.tracker.in_flight) >= self.max_in_flight:
                return
            self.admitted.extend(self.admit(self.waiting.popleft()))

    def start_next(self, now: float) -> None:
        """Begin re-sends, or else new paths if fewer than the cap are in flight, while a decoding
        thread is free."""
        for _ in range(NEW_PATHS_PER_TURN):
            if not self.pool.has_room() or not self.start_one(now):
                return

    def start_one(self, now: float) -> bool:
        """Begin the next re-send, or else the next new path; False if there is nothing to begin."""
        if self.tracker.resend:
            self.begin(self.tracker.resend.popleft(), resend=True)
            return True
        if self.admitted:
            if self.progress.first_sent is None:
                self.progress.first_sent = now
            self.begin(self.admitted.popleft(), resend=False)
            return True
        for _ in range(NEW_PATHS_PER_TURN):
            if not self.waiting or len(self.tracker.in_flight) >= self.max_in_flight:
                return False
            tracks = self.admit(self.waiting.popleft())
            if tracks:
                if self.progress.first_sent is None:
                    self.progress.first_sent = now
                self.admitted.extend(tracks[1:])
                self.begin(tracks[0], resend=False)
                return True
        return False

    def admit(self, path: str) -> list[Track]:
        """A new (absolute, distinct) path becomes its tracks (one, or one per track of its CUE
        sheet), less those the database says to skip; a unit whose audio is stored under
        another path (moved) or with other tags becomes an update that keeps that row."""
        stored = row_path(path)
        try:
            size, mtime_ns = file_identity(path)
        except DecodeError as exc:
            if self.decide(stored, None, None, str(exc)) == SKIP_FAILED:
                self.progress.skip(failed_before=True, path=stored, error=str(exc))
                return []
            return [self.tracker.new(path, stored, -1, -1, error=str(exc))]
        if not self.expander.folder_has_cue(os.path.dirname(path)):
            # the common case, decided without opening the file: an unchanged file (or cue image
            # whose sheet is embedded: changing it changes the file) is skipped by size and mtime
            decision = self.decide(stored, size, mtime_ns)
            if decision == TAGS_ONLY:  # a row from before tags: its tags alone are sent, no audio
                track = self.tracker.new(path, stored, size, mtime_ns)
                track.tags_only = True
                return [track]
            if decision != ANALYSE:
                self.progress.skip(failed_before=decision == SKIP_FAILED, path=stored)
                return []
            parts = [] if self.settings.force else self.previous.cue_rows(stored)
            if parts and all(self.decide(key, size, mtime_ns) == SKIP_DONE for key in parts):
                self.progress.total += len(parts) - 1
                for key in parts:
                    self.progress.skip(failed_before=False, path=key)
                return []
        kind = not_audio_kind(path)  # only for files to analyse: a re-run does not open skipped ones
        if kind is not None:
            self.progress.ignore(stored, kind, keep_path=self.settings.list_ignored)
            log.debug("%s: not audio (%s): ignored", stored, kind)
            return []
        derived = is_derived(path)  # one 64 KiB read of a WAV or FLAC file, nothing for the others
        if derived and not self.settings.include_derived:
            self.progress.skipped_derived += 1
            return []
        units = self.expander.units(path, stored)
        self.progress.total += len(units) - 1  # a cue sheet's tracks count one by one
        tracks, image_id = [], {}
        conn = None if self.settings.force else self.previous.conn
        for unit in units:
            decision = self.decide(unit.key, size, mtime_ns)
            if decision in (SKIP_DONE, TAGS_ONLY) and meta_changed(unit, conn):
                decision = ANALYSE
            if decision == TAGS_ONLY:  # a row from before tags: its tags alone are sent, no audio
                track = self.tracker.new(path, unit.key, size, mtime_ns, span=unit.span, meta=unit.meta)
                track.tags_only = True
                tracks.append(track)
                continue
            if decision != ANALYSE:
                self.progress.skip(failed_before=decision == SKIP_FAILED, path=unit.key)
                continue
            if identify(unit, path, conn, self.expander, image_id) == KEEP:
                log.debug("%s: same audio as %s, fingerprint kept", describe(unit), unit.keep_from)
            track = self.tracker.new(
                path, unit.key, size, mtime_ns, span=unit.span, meta=unit.meta, keep_from=unit.keep_from
            )
            if derived:
                track.derived_from = derived_source(path) or ""
            tracks.append(track)
        return tracks

    def sweep(self) -> bool:
        """Once every path is done: tell the sink which stored rows under the folder of this
        run's paths have lost their file (``missing_since``), or found it again. True if a
        sweep went out (the run then waits for its ack)."""
        if self.swept or self.root is None or self.previous.conn is None or self.stopping is not None:
            return False
        self.swept = True
        try:
            rows = rows_under(self.previous.conn, self.root)
        except Exception as exc:  # a locked or damaged database: the sweep waits for the next run
            log.warning("cannot look for missing files in %s: %s", self.previous.db_path, exc)
            return False
        missing, found = [], []
        for key, since in rows:
            there = row_file_exists(key)
            if not there and since is None:
                missing.append(key)
            elif there and since is not None:
                found.append(key)
        if missing:
            log.info("%d stored tracks under %s have lost their file", len(missing), self.root)
        step = protocol.MAX_SWEEP_PATHS
        now, sent = now_utc(), False
        for i in range(0, max(len(missing), len(found)), step):
            part = (missing[i : i + step], found[i : i + step], now)
            track = self.tracker.new("", f"sweep of {self.root}", -1, -1, sweep=part)
            self.send_failed(track)
            sent = True
        return sent

    def decide(self, stored: str, size: int | None, mtime_ns: int | None, error: str | None = None) -> str:
        if self.settings.force:
            return ANALYSE
        decision = self.previous.decide(stored, size, mtime_ns, error)
        assert decision in (ANALYSE, SKIP_DONE, SKIP_FAILED, TAGS_ONLY)
        return decision

    def begin(self, track: Track, resend: bool) -> None:
        self.pool.cancel(track)  # still decoding the attempt before (its file changed): that one is void
        if resend:
            what = "audio" if track.error is None else f"failure ({track.error})"
            log.info("re-sending %s of %s (attempt %d): no ack in time", what, track.path, track.attempt + 1)
        if track.error is None and (track.keep_from is not None or track.sweep is not None):
            self.send_failed(track)  # an update or a sweep: one message, no audio
            return
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
        if track.tags is None:
            track.tags = read_tags(track.path)  # once per file: a re-send carries the same tags
        if track.tags_only:
            update = protocol.TagsUpdate(ref=track.ref(self.id), tags=track.tags)
            self.outbox.append(protocol.encode_tags(update))
            self.tracker.sent(track, time.monotonic())
            return
        self.tracker.restart(track)
        self.pool.start(track, self.track_chunks(track))

    def track_chunks(self, track: Track, first: int = 0) -> Iterator[tuple[ChunkHeader, np.ndarray]]:
        """The track's chunks as they travel: integer sources as their own integer samples."""
        return iter_chunks(
            track.path, track.ref(self.id), self.settings.chunk_s,
            first=first, span=track.span, dtype="native",
        )

    # ------------------------------------------------------------ sending

    def next_decoded(self) -> Outgoing | None:
        """The next chunk a decoding thread has ready, numbered; None if none is (a failed track is
        sent as its Failed instead)."""
        while (taken := self.pool.take()) is not None:
            job, item = taken
            track = job.owner
            if isinstance(item, DecodeError):
                self.fail_track(track, str(item))
                continue
            header, pcm = item
            if pcm.nbytes > self.max_message:
                self.pool.cancel(track)
                self.fail_track(
                    track,
                    f"chunk of {pcm.nbytes >> 20} MiB exceeds FPSTREAM_MAX_MESSAGE_MB "
                    f"({self.max_message >> 20}); lower FPSTREAM_CHUNK_S",
                )
                continue
            if header.last:
                track.duration_s = (header.start + header.frames) / header.sample_rate
                track.warning = header.warning
                track.chromaprint = header.chromaprint  # kept for a last chunk re-sent alone
                if header.warning:
                    log.info("%s: %s", track.path, header.warning)
                self.tracker.sent(track, time.monotonic())
            return self.numbered(track, header, pcm)
        return None

    def send_chunk(self) -> None:
        """Send one chunk: a refused one first, then a lost one again, then the next decoded one."""
        if self.outgoing is None:
            self.outgoing = self.resend_chunk() if self.tracker.chunk_resend else None
        if self.outgoing is None:
            self.outgoing = self.next_decoded()
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
        header = replace(
            header, seq=self.tracker.chunk_seq(), derived_from=track.derived_from if header.last else ""
        )
        if header.last and track.tags:
            header = replace(header, tags=track.tags)  # the last chunk carries the file's tags
        return Outgoing(track, header, protocol.encode_chunk(header, pcm))

    def resend_chunk(self) -> Outgoing | None:
        """Decode one lost chunk again (seeking to it) and number it; None if that is no longer wanted."""
        resend: Resend = self.tracker.chunk_resend.popleft()
        track = resend.track
        if self.tracker.in_flight.get(track.seq) is not track or track.error is not None:
            return None  # acknowledged, failed or restarted meanwhile
        if track.deadline is None and self.pool.job_of(track) is None:
            return None  # the whole track is queued to be sent again
        try:
            changed = file_identity(track.path) != (track.size, track.mtime_ns)
            if not changed:
                chunks = self.track_chunks(track, first=resend.index)
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
        if header.last:  # decoded alone: what the whole decode found is what was sent before
            header = replace(header, chromaprint=track.chromaprint, warning=track.warning)
        return self.numbered(track, header, pcm)

    def fail_track(self, track: Track, error: str) -> None:
        """Decoding ``track`` failed (its thread has closed the file): it becomes a Failed."""
        if self.tracker.in_flight.get(track.seq) is not track:
            return  # acknowledged meanwhile
        log.debug("%s: %s", track.path, error)  # the summary names failed paths with their errors
        track.error = error
        self.send_failed(track)

    def send_failed(self, track: Track) -> None:
        """Send the one message of a track that sends no audio: its failure, update or sweep."""
        ref = track.ref(self.id)
        if track.error is not None:
            message = protocol.encode_failed(protocol.Failed(ref=ref, error=track.error))
        elif track.keep_from is not None:
            message = protocol.encode_update(protocol.Update(ref=ref, old_path=track.keep_from))
        else:
            assert track.sweep is not None
            missing, found, since = track.sweep
            sweep = protocol.Sweep(ref=ref, missing=missing, found=found, since=since)
            message = protocol.encode_sweep(sweep)
        self.outbox.append(message)
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




def build_parser(prog: str = "python -m ingest") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Feed audio file paths into a running fpstream stack: each file is decoded in "
        "chunks and sent to the analyzers; exits 0 once every path has a committed row (done or failed). "
        "Paths are read as they arrive, one per line (or NUL-separated with -0). Files done before and "
        "unchanged (size, mtime) are skipped, and so are files that failed before and are unchanged "
        "(--retry-failed retries them). Before sending anything it checks that the broker, an analyzer "
        "and the sink are there, and says which is missing.",
        epilog=f"The library here: {database_path()}. ".replace("%", "%%") + settings_epilog("ingest"),
    )
    parser.add_argument("-0", "--null", action="store_true", help="paths are NUL-separated (find -print0)")
    parser.add_argument("--force", action="store_true", help="re-analyse files even if done and unchanged")
    parser.add_argument(
        "--retry-failed", action="store_true", help="analyse files that failed before even if unchanged"
    )
    parser.add_argument("--input", metavar="FILE", help="read paths from FILE (or fifo) instead of stdin")
    parser.add_argument(
        "--include-derived",
        action="store_true",
        help="feed files written by `fpstream master` too (skipped by default: they carry its mark)",
    )
    parser.add_argument(
        "--list-ignored", action="store_true", help="name the files that are not audio in the summary"
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files and folders to feed instead of stdin (a folder is walked, sorted, links followed)",
    )
    return parser


def main(
    argv: list[str] | None = None,
    *,
    announce: bool = True,
    started: Callable[[Ingest], None] | None = None,
) -> int:
    """Run ingest to the end; the exit status.

    ``announce``: print the library's path first (``make run`` prints it itself).
    ``started``: called with the Ingest before its loop runs (``make run`` keeps it to ``abort`` it).
    """
    args = build_parser().parse_args(argv)
    logs.setup("ingest")
    settings = Settings.from_env(args)
    db = database_path()
    if announce:
        print(f"library: {db}", file=sys.stderr, flush=True)
    previous = PreviousRun(db, force=settings.force, retry_failed=settings.retry_failed)
    if settings.source is None and not settings.arguments and sys.stdin.isatty():
        print("reading paths from the terminal, one per line; end with Ctrl-D", file=sys.stderr, flush=True)
    reader = PathReader(settings.source, settings.nul, settings.arguments).start()
    ctx = zmq.Context()
    sockets = Sockets.from_env(ctx)
    ingest = Ingest(sockets, settings, reader, previous)
    root = logging.getLogger()
    if ingest.progress.tty:  # log lines must not break the line that updates in place
        root.handlers[:] = [ingest.progress.log_handler(root.handlers[0].formatter or logging.Formatter())]

    def stop(signum: int, _frame: object) -> None:
        ingest.stopping = signum

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.debug(
        "ingest %s feeding %s (max %d tracks in flight)",
        ingest.id,
        sockets.endpoints.base,
        settings.max_in_flight,
    )
    if started is not None:
        started(ingest)
    try:
        return ingest.run()
    finally:
        ingest.watch.stop()
        ingest.pool.close()
        previous.close()
        sockets.close(linger_ms=0)
        ctx.term()


if __name__ == "__main__":
    logs.run_main(main, "python -m ingest")

"""Sending: a track's audio chunk by chunk from the decoding threads, numbered (``seq``) so the
sink's receipts tell ``ingest.tracker`` which chunk is lost; a lost chunk decoded again on its own
(``iter_chunks(first=index)`` seeks) and sent before anything new; the one message of a track
that sends no audio (its failure, an update that keeps a row, its tags, a sweep).

A send that the socket refuses (``zmq.Again``) is kept and tried again, never dropped.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import zmq

from audio.decode import DecodeError, file_identity, iter_chunks
from audio.tags import read_tags
from base import protocol
from base.protocol import ChunkHeader
from ingest.decode_pool import DecodePool
from ingest.settings import Settings
from ingest.tracker import Resend, Track, Tracker

log = logging.getLogger("ingest")  # one logger for the process, whichever module speaks


@dataclass
class Outgoing:
    """A chunk message numbered and encoded, kept until the socket takes it."""

    track: Track
    header: ChunkHeader
    frames: list[Any]



class Sender:
    """Sends on ``chunks`` (to the analyzers) and ``results`` (straight to the sink) for the
    ingest ``ingest_id``; ``pool`` decodes the tracks being sent."""

    def __init__(
        self,
        ingest_id: str,
        settings: Settings,
        chunks: zmq.Socket,
        results: zmq.Socket,
        tracker: Tracker,
        pool: DecodePool[Track],
        max_message: int,
    ) -> None:
        self.id = ingest_id
        self.settings = settings
        self.chunks = chunks
        self.results = results
        self.tracker = tracker
        self.pool = pool
        self.max_message = max_message  # bytes (FPSTREAM_MAX_MESSAGE_MB)
        self.outgoing: Outgoing | None = None  # refused once by the socket (zmq.Again): sent next
        self.outbox: deque[list[bytes]] = deque()  # Failed messages for results_in

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

    def send_result(self) -> None:
        """Send the oldest message of the outbox to results_in."""
        try:
            self.results.send_multipart(self.outbox[0], flags=zmq.NOBLOCK)
            self.outbox.popleft()
        except zmq.Again:
            pass  # the broker left between the poll and the send: kept for the next turn

"""Every track ingest has sent and not yet seen acknowledged, with its re-send deadline.

PUSH/PULL loses whatever sat queued at a worker that died, and PUB/SUB loses
an ack sent while ingest was reconnecting. So a track stays here until the
sink's ack arrives; if it does not arrive by its deadline the track is sent
again (re-decoded from the file: ingest keeps no PCM), up to ``retries``
times. Then ingest gives up on the audio and sends a ``Failed`` with a
timeout error instead, which is itself re-sent up to ``retries`` times; a
track that is not acknowledged even then is *lost* (the sink is unreachable)
and makes ingest exit non-zero.

The deadline counts from when the track's last chunk was handed to the
socket, and scales with the audio: ``timeout_s + per_audio_s x duration``.
That deadline is the last resort. A lost chunk is found within seconds, by
*selective acknowledgement* as TCP does it (RFC 2018, and fast retransmit, RFC
5681; the ZeroMQ Guide's reliability patterns put this end to end, in the
client): every chunk send gets a number (``seq``), the sink returns the numbers
it received in *receipts*, and

- a chunk is **overtaken** when a chunk sent after it has been received and it
  has not; ``reorder_s`` later (analyzers run in parallel, so results overtake
  each other a little) it is re-sent, alone. This finds a chunk dropped on the
  way and the chunks that sat queued at an analyzer that died, as soon as any
  later chunk comes back.
- when no receipt came for ``tail_s`` although chunks are outstanding (the lost
  chunk was the last one sent), the oldest outstanding chunk is re-sent as a
  **probe**; its receipt overtakes everything sent before it. Probes back off
  (x2, up to x8) while nothing comes back: a stack with no analyzer is not
  flooded.
- a track whose chunks were all received but whose ack did not come within
  ``commit_s`` gets its last chunk again: the sink answers a duplicate last chunk
  of a committed track with the ack again (an ack lost while the broker restarted).
- receipts name the sink instance: when a new one appears (the sink restarted),
  chunks only the old one had received are re-sent.

A false alarm costs one chunk analysed twice (the sink keeps the first copy).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from base.protocol import TrackRef

MAX_FAST_RESENDS = 5  # per chunk; after that only the probe and the track deadline re-send it
MAX_BACKOFF = 8  # probes wait at most this many times tail_s


@dataclass
class Track:
    seq: int
    path: str  # absolute, opened for decoding
    row_path: str  # as stored in the database (see paths.row_path)
    size: int  # -1 when the file could not be stat'ed
    mtime_ns: int
    error: str | None = None  # set: the track is sent as a Failed with this error, not as audio
    duration_s: float = 0.0  # known once every chunk was sent
    warning: str = ""  # decoding's note on the track (its last chunk carried it), "" if none
    # The track's Chromaprint, from the decode of the whole track (its last chunk carried it): a
    # last chunk decoded again alone has none of its own and is sent with this one.
    chromaprint: bytes = b""
    derived_from: str = ""  # the source in the mark of a file fpstream master wrote (audio.derived)
    tags: dict[str, str | int] | None = None  # the file's tags, read once when it is first sent
    tags_only: bool = False  # done before and unchanged: only its tags are sent (protocol.TagsUpdate)
    after_update: bool = False  # tags_only, following the Update of a moved or re-tagged file
    deadline: float | None = None  # None while the track is being sent (or waits to be)
    audio_sends: int = 0  # completed sends of the audio, and of a Failed in its place
    failed_sends: int = 0
    last_index: int | None = None  # known once the last chunk was sent
    receipted: dict[int, str] = field(default_factory=dict)  # chunk index -> sink instance holding it
    ack_due: float | None = None  # every chunk received: ask again if no ack by then
    ack_probes: int = 0
    span: tuple[int, int | None] | None = None  # a track of a CUE sheet: its frames of the image (path)
    meta: dict[str, Any] = field(default_factory=dict)  # protocol.META_FIELDS, stored with the row
    keep_from: str | None = None  # an Update: the stored row this track takes over (no audio sent)
    sweep: tuple[list[str], list[str], str] | None = None  # a Sweep (missing, found, since), not a track

    @property
    def all_received(self) -> bool:
        return self.last_index is not None and len(self.receipted) == self.last_index + 1

    @property
    def attempt(self) -> int:
        """The attempt being (or last) sent, from 0: one per completed send."""
        return self.audio_sends + self.failed_sends

    def ref(self, ingest: str) -> TrackRef:
        return TrackRef(
            ingest=ingest,
            track=self.seq,
            attempt=self.attempt,
            path=self.row_path,
            size=self.size,
            mtime_ns=self.mtime_ns,
            meta=self.meta,
        )


@dataclass
class Sent:
    """A chunk sent and not yet received by the sink."""

    track: Track
    index: int
    seq: int  # of its latest send
    overtaken_at: float | None = None  # when a chunk sent after it was received
    fast_resends: int = 0


@dataclass(frozen=True)
class Resend:
    """A chunk to send again, and why (for the log)."""

    track: Track
    index: int
    why: str


class Tracker:
    def __init__(
        self,
        timeout_s: float,
        per_audio_s: float,
        retries: int,
        reorder_s: float = 3.0,
        tail_s: float = 10.0,
        commit_s: float = 10.0,
    ) -> None:
        self.timeout_s = timeout_s
        self.per_audio_s = per_audio_s
        self.retries = retries
        self.reorder_s = reorder_s
        self.tail_s = tail_s
        self.commit_s = commit_s
        self.in_flight: dict[int, Track] = {}
        self.resend: deque[Track] = deque()  # expired tracks, sent again before any new path
        self.lost: list[Track] = []
        self._next_seq = 0
        # chunk level
        self.outstanding: OrderedDict[int, Sent] = OrderedDict()  # by seq of the latest send
        self.chunks: dict[tuple[int, int], Sent] = {}  # (track, index) -> its entry in outstanding
        self.sends: dict[int, tuple[int, int]] = {}  # every seq of a track in flight -> (track, index)
        self.chunk_resend: deque[Resend] = deque()
        self._next_chunk_seq = 0
        self.sink: str | None = None
        self.sinks_seen: set[str] = set()
        self.quiet_since: float | None = None  # last receipt or probe
        self.probes = 0  # since the last receipt

    # ------------------------------------------------------------ chunks

    def chunk_seq(self) -> int:
        self._next_chunk_seq += 1
        return self._next_chunk_seq

    def chunk_sent(self, track: Track, index: int, seq: int, last: bool, now: float) -> None:
        """A chunk (or a re-send of it) was handed to the socket with this ``seq``."""
        if self.in_flight.get(track.seq) is not track:
            return  # acknowledged while it was waiting for the socket
        key = (track.seq, index)
        old = self.chunks.pop(key, None)
        if old is not None:
            self.outstanding.pop(old.seq, None)
        sent = Sent(track, index, seq, fast_resends=old.fast_resends if old else 0)
        self.chunks[key] = self.outstanding[seq] = sent
        self.sends[seq] = key
        track.receipted.pop(index, None)
        if last:
            track.last_index = index
        if self.quiet_since is None:
            self.quiet_since = now

    def receipt(self, sink: str, seqs: list[int], now: float) -> None:
        """The sink ``sink`` has received the results of these sends."""
        if sink != self.sink and sink not in self.sinks_seen:
            self._sink_restarted(sink)
        self.sinks_seen.add(sink)
        for seq in seqs:
            key = self.sends.get(seq)
            if key is None:
                continue  # a track already acknowledged
            track = self.in_flight.get(key[0])
            sent = self.chunks.pop(key, None)
            if sent is not None:
                self.outstanding.pop(sent.seq, None)
            if track is None:
                continue
            track.receipted[key[1]] = sink
            if track.all_received and track.ack_due is None:
                track.ack_due = now + self.commit_s
            for earlier in self.outstanding.values():  # in send order
                if earlier.seq >= seq:
                    break
                if earlier.overtaken_at is None:
                    earlier.overtaken_at = now
        if seqs:
            self.quiet_since, self.probes = now, 0

    def _sink_restarted(self, sink: str) -> None:
        previous, self.sink = self.sink, sink
        if previous is None:
            return
        for track in self.in_flight.values():
            lost = [i for i, holder in track.receipted.items() if holder != sink]
            for index in lost:
                del track.receipted[index]
                self.chunk_resend.append(Resend(track, index, "the sink restarted before committing it"))
            track.ack_due = None

    def chunks_due(self, now: float) -> None:
        """Queue (``chunk_resend``) every chunk that is now presumed lost."""
        for sent in list(self.outstanding.values()):
            if sent.overtaken_at is None:
                break  # the rest were sent after every chunk received so far
            if now - sent.overtaken_at < self.reorder_s:
                break  # overtaken later than this one, in send order
            if sent.fast_resends >= MAX_FAST_RESENDS or sent.track.error is not None:
                continue
            sent.fast_resends += 1
            age = now - sent.overtaken_at
            self._take(sent)
            self.chunk_resend.append(
                Resend(sent.track, sent.index, f"chunks sent after it arrived {age:.1f} s ago, it did not")
            )
        wait = self.tail_s * min(MAX_BACKOFF, 2**self.probes)
        if self.outstanding and self.quiet_since is not None and now - self.quiet_since >= wait:
            sent = next(iter(self.outstanding.values()))
            self._take(sent)
            self.chunk_resend.append(Resend(sent.track, sent.index, f"no receipt for {wait:.0f} s"))
            self.quiet_since, self.probes = now, self.probes + 1
        for track in self.in_flight.values():
            if track.ack_due is not None and now >= track.ack_due and track.last_index is not None:
                track.ack_probes += 1
                track.ack_due = now + self.commit_s * min(MAX_BACKOFF, 2**track.ack_probes)
                self.chunk_resend.append(
                    Resend(track, track.last_index, "every chunk arrived but no ack came: asking again")
                )

    def _take(self, sent: Sent) -> None:
        """Out of ``outstanding`` until it is sent again (``chunk_sent``)."""
        self.outstanding.pop(sent.seq, None)
        sent.overtaken_at = None

    def _forget_chunks(self, track: Track) -> None:
        for key in [k for k in self.chunks if k[0] == track.seq]:
            self.outstanding.pop(self.chunks.pop(key).seq, None)
        for seq in [s for s, k in self.sends.items() if k[0] == track.seq]:
            del self.sends[seq]
        track.receipted.clear()
        track.last_index = track.ack_due = None

    # ------------------------------------------------------------ tracks

    def new(
        self, path: str, row_path: str, size: int, mtime_ns: int, error: str | None = None, **unit: Any
    ) -> Track:
        """A track in flight; ``unit``: its span, meta, keep_from or sweep (Track's fields)."""
        track = Track(self._take_seq(), path, row_path, size, mtime_ns, error=error, **unit)
        self.in_flight[track.seq] = track
        return track

    def renumber(self, track: Track, size: int, mtime_ns: int) -> None:
        """The file changed since the last attempt: partials of the old version must not mix with the new."""
        self._forget_chunks(track)
        del self.in_flight[track.seq]
        track.seq, track.size, track.mtime_ns = self._take_seq(), size, mtime_ns
        self.in_flight[track.seq] = track

    def sent(self, track: Track, now: float) -> None:
        """Every message of this attempt is on its way: start the clock."""
        if track.error is None:
            track.audio_sends += 1
            track.deadline = now + self.timeout_s + self.per_audio_s * track.duration_s
        else:
            track.failed_sends += 1
            track.deadline = now + self.timeout_s

    def acked(self, seq: int) -> Track | None:
        track = self.in_flight.pop(seq, None)
        if track is not None:
            self._forget_chunks(track)
            if track in self.resend:
                self.resend.remove(track)
        return track

    def restart(self, track: Track) -> None:
        """The whole track is being sent again: what was known of its chunks no longer matters."""
        self._forget_chunks(track)

    def expire(self, now: float) -> list[Track]:
        """Queue for re-sending every track past its deadline; returns the tracks given up on (lost)."""
        lost = []
        for track in list(self.in_flight.values()):
            if track.deadline is None or now < track.deadline:
                continue
            track.deadline = None
            if track.sweep is not None and track.audio_sends > self.retries:
                del self.in_flight[track.seq]  # the sink never answered: no failed row stands for a sweep
                lost.append(track)
                continue
            if track.error is None and track.audio_sends > self.retries:
                track.error = (
                    f"timed out: no result after {track.audio_sends} attempts "
                    f"({self.timeout_s + self.per_audio_s * track.duration_s:.0f} s each)"
                )
            if track.error is not None and track.failed_sends > self.retries:
                del self.in_flight[track.seq]
                lost.append(track)
                continue
            self.resend.append(track)
        self.lost += lost
        return lost

    def _take_seq(self) -> int:
        self._next_seq += 1
        return self._next_seq

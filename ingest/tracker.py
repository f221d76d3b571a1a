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
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from base.protocol import TrackRef


@dataclass
class Track:
    seq: int
    path: str  # absolute, opened for decoding
    row_path: str  # as stored in the database (see paths.row_path)
    size: int  # -1 when the file could not be stat'ed
    mtime_ns: int
    error: str | None = None  # set: the track is sent as a Failed with this error, not as audio
    duration_s: float = 0.0  # known once every chunk was sent
    deadline: float | None = None  # None while the track is being sent (or waits to be)
    audio_sends: int = 0  # completed sends of the audio, and of a Failed in its place
    failed_sends: int = 0

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
        )


class Tracker:
    def __init__(self, timeout_s: float, per_audio_s: float, retries: int) -> None:
        self.timeout_s = timeout_s
        self.per_audio_s = per_audio_s
        self.retries = retries
        self.in_flight: dict[int, Track] = {}
        self.resend: deque[Track] = deque()  # expired tracks, sent again before any new path
        self.lost: list[Track] = []
        self._next_seq = 0

    def new(self, path: str, row_path: str, size: int, mtime_ns: int, error: str | None = None) -> Track:
        track = Track(self._take_seq(), path, row_path, size, mtime_ns, error=error)
        self.in_flight[track.seq] = track
        return track

    def renumber(self, track: Track, size: int, mtime_ns: int) -> None:
        """The file changed since the last attempt: partials of the old version must not mix with the new."""
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
        if track is not None and track in self.resend:
            self.resend.remove(track)
        return track

    def expire(self, now: float) -> list[Track]:
        """Queue for re-sending every track past its deadline; returns the tracks given up on (lost)."""
        lost = []
        for track in list(self.in_flight.values()):
            if track.deadline is None or now < track.deadline:
                continue
            track.deadline = None
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

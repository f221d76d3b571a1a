"""sink.assembler's decisions, with ``now`` injected: each track decided once, whatever arrives.

Partials arrive in any order, from any analyzer and any attempt; the first copy of each chunk
index is kept, a track is complete when every index up to the last is there, duplicates after the
decision never make a second row (a duplicate last chunk of a committed track is answered with the
same ack again), contradictions discard the track's partials, and stale tracks are dropped.
"""

from __future__ import annotations

import pytest

from base.protocol import Ack, Failed, Partial, ProtocolError, TrackRef
from sink.assembler import Assembler, Complete, Reack


def ref(track: int = 1, attempt: int = 0, path: str = "/m/a.flac") -> TrackRef:
    return TrackRef(ingest="in1", track=track, attempt=attempt, path=path, size=100, mtime_ns=1)


def part(index: int, last: bool = False, track: int = 1, attempt: int = 0, rate: int = 44100) -> Partial:
    return Partial(
        ref=ref(track, attempt), index=index, last=last, sample_rate=rate, channels=2, body={"i": index}
    )


def test_out_of_order_partials_complete_in_chunk_order() -> None:
    a = Assembler()
    assert a.partial(part(2, last=True), now=0.0) is None
    assert a.partial(part(0), now=0.1) is None
    done = a.partial(part(1), now=0.2)
    assert isinstance(done, Complete)
    assert [b["i"] for b in done.bodies] == [0, 1, 2]
    assert (done.sample_rate, done.channels, done.ref.path) == (44100, 2, "/m/a.flac")


def test_a_duplicate_chunk_from_another_attempt_is_kept_once() -> None:
    a = Assembler()
    a.partial(part(0, attempt=0), now=0.0)
    assert a.partial(part(0, attempt=1), now=0.1) is None
    assert a.duplicates == 1
    assert isinstance(a.partial(part(1, last=True, attempt=1), now=0.2), Complete)


def test_after_the_decision_duplicates_write_nothing_and_a_committed_last_chunk_is_reacked() -> None:
    a = Assembler()
    a.partial(part(0, last=True), now=0.0)  # a one-chunk track: complete at once
    assert a.partial(part(0, last=True), now=1.0) is None  # decided, not yet committed: no ack yet
    ack = Ack(ingest="in1", track=1, path="/m/a.flac", status="done")
    a.committed(ack)
    assert a.partial(part(0, last=True), now=2.0) == Reack(ack)
    assert a.failed(Failed(ref=ref(), error="late")) == Reack(ack)
    assert a.duplicates == 3


def test_a_failed_message_decides_a_track_and_drops_its_partials() -> None:
    a = Assembler()
    a.partial(part(0), now=0.0)
    f = Failed(ref=ref(), error="decode error")
    assert a.failed(f) is f
    assert not a.assembling
    assert a.partial(part(1, last=True), now=1.0) is None  # decided: not a Complete


@pytest.mark.parametrize(
    ("second", "why"),
    [
        (part(1, rate=48000), "format or path"),
        (part(3), "beyond the last chunk 1"),
    ],
)
def test_a_contradiction_discards_the_track_so_a_resend_can_complete_it(second: Partial, why: str) -> None:
    a = Assembler()
    a.partial(part(1, last=True), now=0.0)
    with pytest.raises(ProtocolError, match=why):
        a.partial(second, now=0.1)
    assert not a.assembling
    a.partial(part(0), now=1.0)  # the re-sent attempt starts afresh
    assert isinstance(a.partial(part(1, last=True), now=1.1), Complete)


def test_stale_tracks_are_dropped_by_their_last_news() -> None:
    a = Assembler(stale_after_s=10.0)
    a.partial(part(0, track=1), now=0.0)
    a.partial(part(0, track=2), now=5.0)
    a.partial(part(1, track=1), now=6.0)  # news for track 1 keeps it
    assert a.evict_stale(now=15.5) == 1  # track 2: last news at 5.0
    assert [k[1] for k in a.assembling] == [1]
    assert a.evict_stale(now=15.9) == 0
    assert a.evict_stale(now=16.0) == 1 and a.evicted == 2


def test_at_most_max_tracks_are_assembled_the_oldest_goes_first() -> None:
    a = Assembler(max_tracks=2)
    for t in (1, 2, 3):
        a.partial(part(0, track=t), now=float(t))
    assert [k[1] for k in a.assembling] == [2, 3] and a.evicted == 1


def test_decided_keys_are_remembered_up_to_a_bound() -> None:
    a = Assembler(remember=2)
    for t in (1, 2, 3):
        a.partial(part(0, last=True, track=t), now=float(t))
    assert [k[1] for k in a.decided] == [2, 3]
    # track 1 was forgotten: a late duplicate of it assembles again (ingest's ack decides it)
    assert isinstance(a.partial(part(0, last=True, track=1), now=4.0), Complete)

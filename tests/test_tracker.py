"""ingest.tracker's re-send decisions, with ``now`` injected: which chunk goes again, when, and why.

The live-stack tests (test_faults_loss.py, test_faults_kill.py) show the whole mechanism works;
these pin each rule down alone: reorder (a chunk overtaken by later receipts), the tail probe and
its back-off, the commit wait (every chunk received, no ack), a new sink instance, and the track
deadline with its retries.
"""

from __future__ import annotations

import pytest

from ingest.tracker import MAX_BACKOFF, MAX_FAST_RESENDS, Tracker


def tracker(**kw: float) -> Tracker:
    settings = {"timeout_s": 30.0, "per_audio_s": 2.0, "retries": 2, "reorder_s": 3.0, "tail_s": 10.0}
    settings.update(kw)
    return Tracker(**settings)  # type: ignore[arg-type]


def send_track(t: Tracker, chunks: int, now: float = 0.0, name: str = "a") -> tuple[object, list[int]]:
    """A track of ``chunks`` chunks, every chunk handed to the socket at ``now``; returns its seqs."""
    track = t.new(f"/m/{name}.flac", f"/m/{name}.flac", 100, 1)
    seqs = []
    for i in range(chunks):
        seq = t.chunk_seq()
        t.chunk_sent(track, i, seq, last=i == chunks - 1, now=now)
        seqs.append(seq)
    track.duration_s = 10.0 * chunks
    t.sent(track, now)
    return track, seqs


def due(t: Tracker, now: float) -> list[tuple[int, str]]:
    t.chunks_due(now)
    out = [(r.index, r.why) for r in t.chunk_resend]
    t.chunk_resend.clear()
    return out


def test_an_overtaken_chunk_is_resent_alone_after_the_reorder_window() -> None:
    t = tracker()
    _, seqs = send_track(t, 4)
    t.receipt("sink1", [seqs[0], seqs[2], seqs[3]], now=1.0)  # chunk 1 lost on the way
    assert due(t, now=3.9) == []  # within reorder_s: results overtake each other a little
    resent = due(t, now=4.0)
    assert [i for i, _ in resent] == [1] and "arrived 3.0 s ago" in resent[0][1]
    assert due(t, now=4.5) == []  # taken out until it is sent again


def test_reordering_within_the_window_resends_nothing() -> None:
    t = tracker()
    _, seqs = send_track(t, 3)
    t.receipt("sink1", [seqs[1]], now=1.0)
    t.receipt("sink1", [seqs[0], seqs[2]], now=2.0)  # chunk 0 came late, within reorder_s
    assert due(t, now=10.0) == []


def test_fast_resends_of_one_chunk_are_bounded() -> None:
    t = tracker(tail_s=1e9)  # no probes: only the reorder rule
    track, seqs = send_track(t, 2)
    now = 0.0
    for n in range(MAX_FAST_RESENDS + 2):
        later = t.chunk_seq()  # something sent after it keeps arriving
        t.chunk_sent(track, 1, later, last=True, now=now)
        t.receipt("sink1", [later], now=now + 0.1)
        resent = due(t, now=now + 3.2)
        assert [i for i, _ in resent] == ([0] if n < MAX_FAST_RESENDS else [])
        if resent:
            t.chunk_sent(track, 0, t.chunk_seq(), last=False, now=now + 3.2)
        now += 4.0


def test_the_tail_probe_resends_the_oldest_chunk_and_backs_off() -> None:
    t = tracker()
    _, seqs = send_track(t, 3)  # every chunk lost: no receipt will come
    assert due(t, now=9.9) == []
    first = due(t, now=10.0)
    assert first == [(0, "no receipt for 10 s")]
    # the probe was taken out of outstanding; the next oldest is probed after 2 x tail_s
    assert due(t, now=29.9) == []
    assert due(t, now=30.0) == [(1, "no receipt for 20 s")]
    assert due(t, now=70.0) == [(2, "no receipt for 40 s")]


def test_the_probe_back_off_is_capped_and_a_receipt_resets_it() -> None:
    t = tracker()
    track, seqs = send_track(t, 1)
    now = 0.0
    waits = []
    for _ in range(6):
        nxt = now + 1
        while not due(t, now=nxt):
            nxt += 1
        waits.append(nxt - now)
        now = nxt
        t.chunk_sent(track, 0, t.chunk_seq(), last=True, now=now)  # the probe goes out again
    assert waits == [10, 20, 40, 80, 80, 80][: len(waits)] and max(waits) == 10 * MAX_BACKOFF
    t.receipt("sink1", [t._next_chunk_seq], now=now + 1)
    assert t.probes == 0


def test_every_chunk_received_but_no_ack_asks_again_with_the_last_chunk() -> None:
    t = tracker(commit_s=10.0)
    track, seqs = send_track(t, 3)
    t.receipt("sink1", seqs, now=1.0)
    assert track.all_received
    assert due(t, now=10.9) == []
    assert due(t, now=11.0) == [(2, "every chunk arrived but no ack came: asking again")]
    assert due(t, now=20.0) == []  # backs off: next ask after 2 x commit_s
    assert due(t, now=31.0) == [(2, "every chunk arrived but no ack came: asking again")]


def test_an_ack_forgets_the_track_and_its_chunks() -> None:
    t = tracker()
    track, seqs = send_track(t, 3)
    t.receipt("sink1", seqs[:1], now=1.0)
    assert t.acked(track.seq) is track
    assert not t.outstanding and not t.chunks and not t.sends
    assert due(t, now=100.0) == []
    assert t.acked(track.seq) is None  # a duplicate ack


def test_a_new_sink_instance_gets_what_only_the_old_one_had() -> None:
    t = tracker()
    track, seqs = send_track(t, 3)
    t.receipt("sink1", seqs[:2], now=1.0)  # the old sink held chunks 0 and 1, uncommitted
    t.receipt("sink2", [seqs[2]], now=2.0)  # a restarted sink received chunk 2
    resent = sorted(i for i, why in due(t, now=2.0) if "restarted" in why)
    assert resent == [0, 1]
    assert track.receipted == {2: "sink2"}


def test_the_first_sink_seen_is_not_a_restart() -> None:
    t = tracker()
    _, seqs = send_track(t, 2)
    t.receipt("sink1", seqs, now=1.0)
    assert not any("restarted" in why for _, why in due(t, now=1.0))


def test_the_deadline_scales_with_the_audio_and_retries_end_in_a_failed_then_lost() -> None:
    t = tracker(timeout_s=30.0, per_audio_s=2.0, retries=1)
    track, _ = send_track(t, 3)  # 30 s of audio: deadline 30 + 2 x 30 = 90 s
    assert t.expire(now=89.9) == [] and not t.resend
    assert t.expire(now=90.0) == [] and list(t.resend) == [track]
    t.resend.clear()
    t.restart(track)
    t.sent(track, now=100.0)  # second audio send
    assert t.expire(now=190.0) == []
    assert track.error is not None and track.error.startswith("timed out: no result after 2 attempts")
    t.resend.clear()
    for attempt in range(2):  # the Failed in its place, sent retries + 1 times
        t.sent(track, now=200.0 + 100 * attempt)
        lost = t.expire(now=230.0 + 100 * attempt)
        if attempt == 0:
            assert lost == [] and list(t.resend) == [track]
            t.resend.clear()
    assert lost == [track] and t.lost == [track] and track.seq not in t.in_flight


def test_renumbering_a_changed_file_drops_what_was_known_of_its_old_chunks() -> None:
    t = tracker()
    track, seqs = send_track(t, 2)
    old = track.seq
    t.receipt("sink1", seqs[:1], now=1.0)
    t.renumber(track, size=200, mtime_ns=2)
    assert track.seq != old and old not in t.in_flight and t.in_flight[track.seq] is track
    assert not t.outstanding and track.receipted == {}
    assert (track.size, track.mtime_ns) == (200, 2)


@pytest.mark.parametrize("late", [0.5, 2.9])
def test_a_receipt_for_an_acknowledged_track_is_ignored(late: float) -> None:
    t = tracker()
    track, seqs = send_track(t, 2)
    t.acked(track.seq)
    t.receipt("sink1", seqs, now=late)
    assert due(t, now=100.0) == []

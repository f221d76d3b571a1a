"""ingest.decode_pool: several tracks decode at once, each track's chunks come out whole and in order.

Real files through the real ``audio.decode.iter_chunks`` in real threads: the pool must hand
out exactly the chunks a plain loop over ``iter_chunks`` gives, track by track, with a file
that cannot be decoded ending as one DecodeError after whatever it yielded, and a cancelled
track's thread must end (its file closed) without leaving anything behind.
"""

from __future__ import annotations

import select
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from audio.decode import DecodeError, iter_chunks
from base.protocol import TrackRef
from ingest.decode_pool import THREAD_NAME, DecodePool
from tests.stack_harness import write_audio

CHUNK_S = 0.5


def ref_of(path: Path, track: int) -> TrackRef:
    st = path.stat()
    return TrackRef("pool-test", track, 0, str(path), st.st_size, st.st_mtime_ns)


def drain(pool: DecodePool, timeout_s: float = 60.0) -> list:
    """Every item the pool hands out until no job is left, waiting on its fd as ingest's poll does."""
    got = []
    deadline = time.monotonic() + timeout_s
    while pool.jobs:
        assert time.monotonic() < deadline, "the pool stopped handing out chunks"
        taken = pool.take()
        if taken is None:
            select.select([pool.fd], [], [], 0.5)
            continue
        got.append(taken)
    return got


@pytest.fixture(scope="module")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("pool")
    paths = [write_audio(d / f"t{i}.flac", 2.0 + i, seed=i) for i in range(3)]
    paths.append(write_audio(d / "t3.wav", 1.7, seed=3, subtype="PCM_24"))
    return paths


def test_each_tracks_chunks_come_out_whole_in_order_and_tracks_interleave(tracks) -> None:
    pool: DecodePool[int] = DecodePool(threads=len(tracks), depth=2)
    try:
        for i, path in enumerate(tracks):
            pool.start(i, iter_chunks(str(path), ref_of(path, i), CHUNK_S, dtype="native"))
        assert not pool.has_room()
        with pytest.raises(RuntimeError, match="full"):
            pool.start(99, iter([]))
        # every track decodes ahead at once: each fills its buffer before the loop takes anything
        deadline = time.monotonic() + 60
        while not all(len(job.ready) == pool.depth for job in pool.jobs):
            assert time.monotonic() < deadline, [len(job.ready) for job in pool.jobs]
            time.sleep(0.01)
        got = drain(pool)
    finally:
        pool.close()
    owners = [job.owner for job, _ in got]
    assert owners[:2] == [0, 0]  # the oldest track is sent first
    for i, path in enumerate(tracks):
        expected = list(iter_chunks(str(path), ref_of(path, i), CHUNK_S, dtype="native"))
        mine = [item for job, item in got if job.owner == i]
        assert [h for h, _ in mine] == [h for h, _ in expected]
        assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(mine, expected, strict=True))
        assert mine[-1][0].last and not any(h.last for h, _ in mine[:-1])
    assert all(not t.is_alive() for t in threading.enumerate() if t.name == "decode")
    assert THREAD_NAME == b"fps-decode"


def test_a_file_that_fails_to_decode_ends_its_track_with_one_decode_error(tracks, tmp_path) -> None:
    bad = tmp_path / "bad.flac"
    bad.write_bytes(b"fLaC" + bytes(range(256)) * 40)  # a FLAC signature, then garbage
    pool: DecodePool[str] = DecodePool(threads=2)
    try:
        pool.start("bad", iter_chunks(str(bad), ref_of(bad, 1), CHUNK_S, dtype="native"))
        pool.start("good", iter_chunks(str(tracks[0]), ref_of(tracks[0], 2), CHUNK_S, dtype="native"))
        got = drain(pool)
    finally:
        pool.close()
    bad_items = [item for job, item in got if job.owner == "bad"]
    assert len(bad_items) == 1 and isinstance(bad_items[0], DecodeError), bad_items
    assert str(bad_items[0])  # the row's error
    good = [item for job, item in got if job.owner == "good"]
    assert good[-1][0].last and not any(isinstance(i, DecodeError) for i in good)


def test_a_cancelled_track_stops_decoding_and_closes_its_file(tracks) -> None:
    closed = threading.Event()

    def chunks():
        try:
            yield from iter_chunks(str(tracks[2]), ref_of(tracks[2], 1), CHUNK_S)
        finally:
            closed.set()

    pool: DecodePool[str] = DecodePool(threads=1, depth=1)
    try:
        job = pool.start("x", chunks())
        deadline = time.monotonic() + 30
        while not pool.has_ready():  # the worker filled its one slot and waits
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert pool.cancel("x") and not pool.cancel("x")
        assert job.thread is not None
        job.thread.join(30)
        assert not job.thread.is_alive() and closed.is_set() and job.ended
        assert pool.take() is None and pool.has_room()
    finally:
        pool.close()

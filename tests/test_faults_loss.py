"""A chunk lost on the way costs seconds, not an ack timeout: the test plays a lossy broker.

The test binds the stack's endpoints itself and forwards like the broker does,
except that it drops chosen chunks. Real ingest, analyzers and sink run around
it, with the default recovery settings (FPSTREAM_REORDER_S 3, FPSTREAM_TAIL_S
10) and the default ack timeout (30 s + 2 s per audio second), so only the
receipts can bring a track back within 15 s of the drop.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zmq

from audio.decode import DecodeError, file_identity, iter_chunks
from base import protocol
from base.config import Endpoints
from tests.stack_harness import Stack, write_audio

RECOVERY_LIMIT_S = 15.0


@dataclass
class LossyBroker:
    """Forwards chunks_in -> chunks_out, results_in -> results_out and acks_in -> acks_out,
    dropping the chunks ``drop(header)`` picks; records when each drop and each ack happened."""

    endpoints: Endpoints
    drop: Any  # Callable[[protocol.ChunkHeader], bool]
    dropped: list[tuple[float, protocol.ChunkHeader]] = field(default_factory=list)
    acked: dict[tuple[str, int], float] = field(default_factory=dict)  # (ingest, track) -> its ack
    stopping: bool = False

    def run(self) -> None:
        ctx = zmq.Context.instance()
        kinds = {
            "chunks_in": zmq.PULL,
            "chunks_out": zmq.PUSH,
            "results_in": zmq.PULL,
            "results_out": zmq.PUSH,
            "acks_in": zmq.XSUB,
            "acks_out": zmq.XPUB,
        }
        socks = {name: ctx.socket(kind) for name, kind in kinds.items()}
        self.endpoints.ensure_private_dir()
        for name, sock in socks.items():
            sock.linger = 0
            sock.bind(self.endpoints[name])
        pairs = [("chunks_in", "chunks_out"), ("results_in", "results_out"), ("acks_in", "acks_out")]
        poller = zmq.Poller()
        for front, _ in pairs:
            poller.register(socks[front], zmq.POLLIN)
        poller.register(socks["acks_out"], zmq.POLLIN)  # subscriptions travel upstream
        try:
            while not self.stopping:
                ready = dict(poller.poll(100))
                for front, back in pairs:
                    if socks[front] in ready:
                        self.forward(front, socks[front], socks[back])
                if socks["acks_out"] in ready:
                    socks["acks_in"].send_multipart(socks["acks_out"].recv_multipart())
        finally:
            for sock in socks.values():
                sock.close()

    def forward(self, channel: str, front: zmq.Socket, back: zmq.Socket) -> None:
        try:
            frames = front.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return
        if channel == "chunks_in":
            header, _ = protocol.decode_chunk(frames)
            if self.drop(header):
                self.dropped.append((time.monotonic(), header))
                return
        if channel == "acks_in":
            message = protocol.decode_ack(frames)
            if isinstance(message, protocol.Ack):
                self.acked.setdefault((message.ingest, message.track), time.monotonic())
        back.send_multipart(frames)  # blocks only while no peer is connected: fine for a test


def test_dropped_chunks_are_sent_again_within_seconds(tmp_path: Path) -> None:
    """Two losses: a chunk in the middle of a run (found because later chunks came back), then,
    in a second feed, the run's very last chunk (nothing comes after it: found by the probe)."""
    music = tmp_path / "music"
    music.mkdir()
    first = [write_audio(music / f"song {i}.flac", 5.0, seed=i) for i in range(4)]
    late = write_audio(music / "late.flac", 3.0, seed=9)
    chosen = {(str(first[1]), 2), (str(late), 2)}  # (path, chunk index): 1 s chunks, so 2 is late's last
    # the test's broker has no status channel: ingest must not wait for its answer
    with Stack(tmp_path, env={"FPSTREAM_CHUNK_S": "1", "FPSTREAM_STACK_WAIT_S": "0"}) as stack:

        def drop(header: protocol.ChunkHeader) -> bool:  # the first send of each chosen chunk
            key = (header.ref.path, header.index)
            if key in chosen:
                chosen.discard(key)
                return True
            return False

        broker = LossyBroker(stack.endpoints, drop)
        thread = threading.Thread(target=broker.run, daemon=True)
        thread.start()
        try:
            stack.start_sink()
            stack.start_analyzers(2)
            logs = []
            for files in (first, [late]):
                ingest = stack.start_ingest(files)
                assert ingest.wait(120) == 0, stack.all_logs()
                logs.append(ingest.log())
            rows = stack.rows()
        finally:
            broker.stopping = True
            thread.join(5)
    assert sorted(rows) == sorted(map(str, [*first, late]))
    assert all(r["status"] == "done" for r in rows.values()), rows
    assert [(h.ref.path, h.index) for _, h in broker.dropped] == [(str(first[1]), 2), (str(late), 2)]
    assert "re-sending chunk 2 of" in logs[0] and "chunks sent after it arrived" in logs[0], logs[0]
    assert "re-sending chunk 2 of" in logs[1] and "no receipt for 10 s" in logs[1], logs[1]
    assert not any("re-sending audio" in log for log in logs)  # never the whole track: only the chunk
    mid, tail = (broker.acked[(h.ref.ingest, h.ref.track)] - t for t, h in broker.dropped)
    print(f"\nchunk dropped mid-run: its track was committed {mid:.1f} s after the drop")
    print(f"the run's last chunk dropped: its track was committed {tail:.1f} s after the drop")
    assert mid < RECOVERY_LIMIT_S and tail < RECOVERY_LIMIT_S
    # late's last chunk went again alone: it carried the Chromaprint of the whole decode all the same
    for path in [*first, late]:
        size, mtime_ns = file_identity(str(path))
        ref = protocol.TrackRef("test", 0, 0, str(path), size, mtime_ns)
        *_, (last, _pcm) = iter_chunks(str(path), ref, chunk_s=1.0)
        assert last.chromaprint and rows[str(path)]["chromaprint"] == last.chromaprint, path


@pytest.mark.parametrize("suffix", [".flac", ".wav", ".ogg"])  # seek (exact), seek, decode-and-skip
def test_a_chunk_decoded_alone_equals_the_same_chunk_of_the_whole_track(tmp_path: Path, suffix: str) -> None:
    path = write_audio(tmp_path / f"song{suffix}", 7.3, seed=3)
    size, mtime_ns = file_identity(str(path))
    ref = protocol.TrackRef("test", 1, 0, str(path), size, mtime_ns)
    whole = list(iter_chunks(str(path), ref, chunk_s=1.0))
    assert len(whole) == 8
    for index in (1, 4, 7):
        header, pcm = next(iter_chunks(str(path), ref, chunk_s=1.0, first=index))
        # the track's Chromaprint comes only from the decode of the whole track (ingest keeps it)
        assert header.chromaprint == b"" and bool(whole[index][0].chromaprint) == (index == 7)
        assert replace(header, chromaprint=whole[index][0].chromaprint) == whole[index][0]
        assert np.array_equal(pcm, whole[index][1])
    with pytest.raises(DecodeError, match="beyond the end"):
        next(iter_chunks(str(path), ref, chunk_s=1.0, first=8))

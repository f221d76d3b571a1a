"""Malformed messages on real sockets: logged with the socket, dropped, never a crash or a wrong row.

The broker is attacked inside a running stack. The analyzer and the sink only
ever hear from the broker (which already drops bad messages), so each is also
attacked directly: the test binds the broker's endpoints itself and plays a
broker that forwards garbage.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
import zmq

from base import protocol
from base.protocol import ChunkHeader, Failed, Partial, TrackRef
from base.status import query_status
from dsp.chunk import analyze_chunk
from tests.stack_harness import Stack, write_audio
from tests.synth import chunks_of
from tests.test_protocol import repack


def bad_chunks(good: list[Any]) -> list[list[bytes]]:
    header, pcm = bytes(good[0]), bytes(good[1])
    return [
        [b"\xc1 not msgpack"],
        [msgpack.packb([1, 2, 3]), pcm],  # wrong type: an array, not a map
        [msgpack.packb({"v": protocol.VERSION, "kind": "chunk", "ref": 5}), pcm],  # wrong field types
        [header[: len(header) // 2], pcm],  # truncated header
        [repack(good, frames=1 << 30, preroll=0, channels=1, start=0), pcm[:64]],  # claims 4 GB
        [header, pcm[:-4]],  # PCM length disagrees with the header
        [repack(good, v=99), pcm],  # unknown protocol version
        [header, pcm, b"extra"],  # too many frames
        [header],  # PCM missing
    ]


def bad_results(good: list[Any]) -> list[list[bytes]]:
    return [
        [b"\x00\x01garbage"],
        [repack(good, body=[1, 2, 3])],
        [repack(good, index="zero")],
        [repack(good, v=1)],  # an older protocol version
        [repack(good, kind="ack")],
        [bytes(good[0]), b"extra frame"],
        [bytes(good[0])[:-3]],
    ]


def send_all(sock: zmq.Socket, messages: list[list[bytes]]) -> None:
    for frames in messages:
        assert sock.poll(5000, zmq.POLLOUT), "nobody connected"
        sock.send_multipart(frames)


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


def test_broker_drops_malformed_messages_and_keeps_working(tmp_path: Path, ctx: zmq.Context) -> None:
    good_file = write_audio(tmp_path / "good.flac", 2.0)
    header, pcm = chunks_of(good_file, chunk_s=1.0, ingest="cafe")[0]
    good_chunk = protocol.encode_chunk(header, pcm)
    partial = protocol.encode_partial(Partial(header.ref, 0, False, 44_100, 2, {"x": 1}))
    with Stack(tmp_path, env={"FPSTREAM_MAX_MESSAGE_MB": "1"}) as stack:
        stack.start(analyzers=1)
        endpoints = stack.endpoints
        chunks, results = ctx.socket(zmq.PUSH), ctx.socket(zmq.PUSH)
        acks, listener = ctx.socket(zmq.PUB), ctx.socket(zmq.SUB)
        chunks.connect(endpoints["chunks_in"])
        results.connect(endpoints["results_in"])
        acks.connect(endpoints["acks_in"])
        listener.connect(endpoints["acks_out"])
        listener.subscribe(b"")  # so that acks travel through the broker at all
        time.sleep(0.5)

        send_all(chunks, bad_chunks(good_chunk))
        send_all(chunks, [[bytes(good_chunk[0]), b"\0" * (2 << 20)]])  # over MAXMSGSIZE: disconnected
        send_all(results, bad_results(partial))
        send_all(acks, [[b"cafe", b"\xc1"], [b"just a topic"], [b"cafe", bytes(partial[0])]])
        req = ctx.socket(zmq.REQ)
        req.connect(endpoints["status"])
        req.send_multipart([b"\xff", b"garbage"])  # any request gets the status
        assert req.poll(2000) and isinstance(msgpack.unpackb(req.recv()), dict)

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            dropped = query_status(endpoints)["dropped"]
            if dropped == {"chunks_in": 9, "results_in": 7, "acks_in": 3}:
                break
            time.sleep(0.1)
        assert dropped == {"chunks_in": 9, "results_in": 7, "acks_in": 3}, stack.broker.log()
        log = stack.broker.log()
        for channel in ("chunks_in", "results_in", "acks_in"):
            assert f"dropped malformed message #1 on {channel}" in log
        assert "unsupported protocol version 99" in log and "declares 1073741824 frames" in log

        result = stack.ingest([good_file])
        assert result.returncode == 0, stack.all_logs()
        assert [(p, r["status"]) for p, r in stack.rows().items()] == [(str(good_file), "done")]
        assert all(p.alive() for p in stack.procs if p.name.startswith(("broker", "sink", "analyzer")))


def test_analyzer_drops_malformed_chunks_and_reports_failing_ones(tmp_path: Path, ctx: zmq.Context) -> None:
    good_file = write_audio(tmp_path / "good.flac", 2.0)
    (h0, pcm0), (h1, pcm1) = chunks_of(good_file, chunk_s=1.0, ingest="cafe")[:2]
    with Stack(tmp_path) as stack:
        endpoints = stack.endpoints
        endpoints.ensure_private_dir()
        to_analyzer, from_analyzer = ctx.socket(zmq.PUSH), ctx.socket(zmq.PULL)
        to_analyzer.bind(endpoints["chunks_out"])  # the test plays the broker
        from_analyzer.bind(endpoints["results_in"])
        analyzer = stack.start_analyzers(1)[0]

        send_all(to_analyzer, bad_chunks(protocol.encode_chunk(h0, pcm0)))
        # a well-formed chunk the DSP cannot analyse: chunk 1 without its pre-roll
        no_preroll = ChunkHeader(h1.ref, 1, h1.last, h1.sample_rate, h1.channels, h1.start, h1.frames, 0)
        send_all(to_analyzer, [protocol.encode_chunk(no_preroll, np.ascontiguousarray(pcm1[h1.preroll :]))])
        send_all(to_analyzer, [protocol.encode_chunk(h0, pcm0)])

        replies = []
        while from_analyzer.poll(3000):
            replies.append(protocol.message_kind(from_analyzer.recv_multipart()))
        assert [kind for kind, _ in replies] == ["failed", "partial"], analyzer.log()
        failed, partial = protocol.decode_failed(replies[0][1]), protocol.decode_partial(replies[1][1])
        assert failed.ref == h1.ref and failed.error.startswith("analysis failed at chunk 1: ")
        assert partial.ref == h0.ref and partial.index == 0
        assert analyzer.alive()
        assert analyzer.log().count("dropped malformed message") == 9
        assert "on chunks_out" in analyzer.log()


def test_sink_drops_malformed_results_and_writes_only_real_rows(tmp_path: Path, ctx: zmq.Context) -> None:
    good_file = write_audio(tmp_path / "good.flac", 2.5)
    chunks = chunks_of(good_file, chunk_s=1.0, ingest="cafe")
    partials = [
        protocol.encode_partial(
            Partial(h.ref, h.index, h.last, h.sample_rate, h.channels, analyze_chunk(h, pcm))
        )
        for h, pcm in chunks
    ]
    gone = TrackRef("cafe", 2, 0, str(tmp_path / "gone.flac"), -1, -1)
    # well-formed, but a body the merge cannot use: the track is failed, with the exception's text
    odd = TrackRef("cafe", 4, 0, str(tmp_path / "odd body.flac"), 10, 10)
    odd_partial = protocol.encode_partial(Partial(odd, 0, True, 44_100, 2, {"nonsense": 1}))
    with Stack(tmp_path) as stack:
        endpoints = stack.endpoints
        endpoints.ensure_private_dir()
        to_sink, acks = ctx.socket(zmq.PUSH), ctx.socket(zmq.SUB)
        to_sink.bind(endpoints["results_out"])  # the test plays the broker
        acks.bind(endpoints["acks_in"])
        acks.subscribe(b"")
        sink = stack.start_sink()

        # partials of another track that contradict each other: a chunk beyond the last one
        other = {"ref": {**msgpack.unpackb(partials[0][0])["ref"], "track": 3}}
        contradiction = [
            [repack(partials[0], index=5, last=False, **other)],
            [repack(partials[0], last=True, **other)],
        ]
        send_all(to_sink, [*bad_results(partials[0]), *contradiction])
        send_all(to_sink, [*reversed(partials), partials[0]])  # out of order, one duplicate
        send_all(to_sink, [protocol.encode_failed(Failed(gone, "file not found")), odd_partial])

        got = []
        while len(got) < 3 and acks.poll(5000):
            message = protocol.decode_ack(acks.recv_multipart())
            if isinstance(message, protocol.Ack):  # receipts travel on the same channel
                got.append(message)
        assert sorted((a.path, a.status) for a in got) == sorted(
            [(str(good_file), "done"), (str(tmp_path / "gone.flac"), "failed"), (odd.path, "failed")]
        ), sink.log()
        send_all(to_sink, [partials[-1]])  # a late duplicate of a committed track is re-acknowledged
        reacks = []
        while not reacks and acks.poll(5000):
            message = protocol.decode_ack(acks.recv_multipart())
            reacks += [message] if isinstance(message, protocol.Ack) else []
        assert reacks and reacks[0].path == str(good_file)

        rows = stack.rows()
        assert sorted(rows) == sorted([str(good_file), str(tmp_path / "gone.flac"), odd.path])
        assert rows[odd.path]["error"].startswith("fingerprint failed: ")
        assert rows[str(good_file)]["duration_s"] == pytest.approx(2.5)
        assert rows[str(tmp_path / "gone.flac")]["size"] is None
        assert sink.alive()
        assert sink.log().count("dropped malformed message") == 8
        assert "chunks beyond the last chunk 0; its partials are discarded" in sink.log()
        stack.stop()
        assert "committed 1 done, 2 failed" in sink.log()

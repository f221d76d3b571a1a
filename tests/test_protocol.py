"""The wire protocol: round trips over real ZeroMQ sockets, without copies, and refusals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgpack
import numpy as np
import pytest
import zmq

from base import protocol
from base.protocol import Ack, ChunkHeader, Failed, Partial, ProtocolError, TrackRef

REF = TrackRef(ingest="abcd", track=7, attempt=1, path="/music/ä b'c\".flac", size=1234, mtime_ns=5678)


def chunk(frames: int = 4410, preroll: int = 441, channels: int = 2) -> tuple[ChunkHeader, np.ndarray]:
    header = ChunkHeader(
        REF,
        index=3,
        last=False,
        sample_rate=44_100,
        channels=channels,
        start=30_000,
        frames=frames,
        preroll=preroll,
    )
    pcm = np.random.default_rng(0).standard_normal((preroll + frames, channels)).astype("<f4")
    return header, pcm


@pytest.fixture
def pair() -> Iterator[tuple[zmq.Socket, zmq.Socket]]:
    ctx = zmq.Context()
    push, pull = ctx.socket(zmq.PUSH), ctx.socket(zmq.PULL)
    pull.bind("inproc://protocol-test")
    push.connect("inproc://protocol-test")
    yield push, pull
    push.close(0)
    pull.close(0)
    ctx.term()


def test_chunk_round_trip_without_copies(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    push, pull = pair
    header, pcm = chunk(frames=44_100)  # large enough that zmq does not copy small frames either
    frames = protocol.encode_chunk(header, pcm)
    assert np.shares_memory(np.frombuffer(frames[1], dtype="<f4"), pcm)  # encoding copies nothing
    push.send_multipart(frames, copy=False)
    received = pull.recv_multipart(copy=False)
    got_header, got_pcm = protocol.decode_chunk(received)
    assert got_header == header
    np.testing.assert_array_equal(got_pcm, pcm)
    # the array is a view of the received frame's buffer, not a copy of it
    frame_view = np.frombuffer(received[1].buffer, dtype="<f4")
    assert np.shares_memory(got_pcm, frame_view)


def test_partial_failed_and_ack_round_trip(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    push, pull = pair
    body = {"sums": protocol.pack_array(np.arange(5, dtype=np.float64)), "n": 3}
    partial = Partial(REF, index=2, last=True, sample_rate=48_000, channels=1, body=body)
    push.send_multipart(protocol.encode_partial(partial))
    kind, msg = protocol.message_kind(pull.recv_multipart())
    assert kind == protocol.KIND_PARTIAL
    got = protocol.decode_partial(msg)
    assert got == partial
    np.testing.assert_array_equal(protocol.unpack_array(got.body["sums"]), np.arange(5.0))

    failed = Failed(REF, "file not found")
    kind, msg = protocol.message_kind(protocol.encode_failed(failed))
    assert kind == protocol.KIND_FAILED and protocol.decode_failed(msg) == failed

    ack = Ack(ingest="abcd", track=7, path=REF.path, status="done")
    frames = protocol.encode_ack(ack)
    assert frames[0] == b"abcd"  # the topic a SUB filters on
    assert protocol.decode_ack(frames) == ack


def repack(message: list[Any], /, **change: Any) -> bytes:
    """The message's header frame with some fields changed (also used by test_faults_messages)."""
    msg = msgpack.unpackb(bytes(message[0]))
    msg.update(change)
    return msgpack.packb(msg)


CHUNK = protocol.encode_chunk(*chunk())


@pytest.mark.parametrize(
    "frames, reason",
    [
        ([b"\xc1garbage"], "not valid msgpack"),
        ([msgpack.packb([1, 2, 3])], "not a map"),
        ([repack(CHUNK)[:-7]], "not valid msgpack"),  # truncated header
        ([repack(CHUNK, v=99), b""], "unsupported protocol version"),
        ([repack(CHUNK, kind="nonsense"), b""], "unknown message kind"),
        ([repack(CHUNK, index="3"), b"\0" * 4], " has type str"),
        ([repack(CHUNK, last=1), b"\0" * 4], "has type int"),
        ([repack(CHUNK, frames=1 << 30, preroll=0, channels=1), b"\0" * 16], "declares"),  # claims 4 GB
        ([repack(CHUNK), b"\0" * 12], "PCM frame has 12 bytes"),  # disagrees with the header
        ([repack(CHUNK)], "expected 2"),
        ([repack(CHUNK, channels=0), b""], "channels 0 out of range"),
        ([repack(CHUNK, dtype="<f8"), b""], "unsupported dtype"),
        ([repack(CHUNK, preroll=40_000), b""], "preroll reaches before"),
        ([msgpack.packb({"v": protocol.VERSION, "kind": "chunk", "ref": "x"}), b""], "field"),
    ],
)
def test_malformed_chunks_are_refused_with_a_reason(frames: list[bytes], reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        protocol.decode_chunk(frames)


def test_malformed_results_and_acks_are_refused() -> None:
    partial = msgpack.unpackb(protocol.encode_partial(Partial(REF, 0, True, 44_100, 2, {}))[0])
    with pytest.raises(ProtocolError, match="body"):
        protocol.decode_partial({**partial, "body": [1, 2]})
    with pytest.raises(ProtocolError, match="index"):
        protocol.decode_partial({**partial, "index": -1})
    with pytest.raises(ProtocolError, match="error"):
        protocol.decode_failed({**partial, "error": 5})
    with pytest.raises(ProtocolError, match="frames"):
        protocol.decode_ack([b"topic"])
    with pytest.raises(ProtocolError, match="expected an ack"):
        protocol.decode_ack([b"t", protocol.encode_failed(Failed(REF, "x"))[0]])
    with pytest.raises(ProtocolError, match="data length"):
        protocol.unpack_array({"dtype": "<f8", "shape": [4], "data": b"\0" * 8})


def test_encode_refuses_pcm_that_disagrees_with_its_header() -> None:
    header, pcm = chunk()
    with pytest.raises(ValueError):
        protocol.encode_chunk(header, pcm[1:])
    with pytest.raises(ValueError):
        protocol.encode_chunk(header, pcm.astype(np.float64))

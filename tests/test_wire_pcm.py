"""Integer sources travel as integers: exact, and half the bytes of float32 for 16-bit.

Every lossless format the project reads, at 16 and 24 bits, is decoded twice through
``audio.decode.iter_chunks``: as float32 (what the analyzer computes on) and as the
decoder's own samples (what ingest sends); ``dsp.chunk.pcm_float32`` of the second must
be the first bit for bit, with the same headers, and the dtype must be the integer one.
Lossy formats stay float32. The chunk then crosses a real ZeroMQ socket pair unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
import zmq

from audio.decode import iter_chunks
from base import protocol
from base.protocol import ProtocolError, TrackRef
from dsp.chunk import partial_for, pcm_float32

SR = 44_100
N = SR * 5 + 123  # not a multiple of the chunk: a short last chunk too
CHUNK_S = 2.0


def source(bits: int) -> np.ndarray:
    """Stereo noise as ``bits``-bit integers (int32 holding them in its low bits), ``(N, 2)``."""
    rng = np.random.default_rng(bits)
    x = np.clip(0.3 * rng.standard_normal((N, 2)), -1, 1)
    return np.round(x * (2 ** (bits - 1) - 1)).astype(np.int32)


def write_pyav(path: Path, ints: np.ndarray, bits: int, codec: str) -> Path:
    planar = codec in ("alac", "wavpack")
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=SR, layout="stereo")
        stream.format = ("s16" if bits == 16 else "s32") + ("p" if planar else "")
        samples = ints.astype(np.int16) if bits == 16 else (ints << 8).astype(np.int32)
        packed = "s16" if bits == 16 else "s32"
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples.reshape(1, -1)), format=packed, layout="stereo"
        )
        frame.sample_rate, frame.pts, frame.time_base = SR, 0, Fraction(1, SR)
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """name -> (path, the dtype it must travel as)."""
    d = tmp_path_factory.mktemp("wire")
    out: dict[str, tuple[Path, str]] = {}
    for bits, wire in ((16, "<i2"), (24, "<i4")):
        ints = source(bits)
        for fmt, suffix in (("WAV", "wav"), ("AIFF", "aiff")):
            path = d / f"{bits}.{suffix}"
            sf.write(
                path,
                ints.astype(np.int16) if bits == 16 else ints << 8,
                SR,
                subtype=f"PCM_{bits}",
                format=fmt,
            )
            out[path.name] = (path, wire)
        for codec, suffix in (("flac", "flac"), ("alac", "m4a"), ("wavpack", "wv")):
            path = write_pyav(d / f"{bits}.{suffix}", ints, bits, codec)
            out[path.name] = (path, wire)
    noise = source(16).astype(np.float32) / 32768
    sf.write(d / "lossy.ogg", noise, SR, format="OGG", subtype="VORBIS")
    out["lossy.ogg"] = (d / "lossy.ogg", "<f4")
    mp3 = d / "lossy.mp3"
    with av.open(str(mp3), "w") as o:
        s = o.add_stream("mp3", rate=SR, layout="stereo")
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(source(16).astype(np.int16).reshape(1, -1)), format="s16", layout="stereo"
        )
        frame.sample_rate, frame.pts, frame.time_base = SR, 0, Fraction(1, SR)
        for packet in [*s.encode(frame), *s.encode(None)]:
            o.mux(packet)
    out["lossy.mp3"] = (mp3, "<f4")
    return out


def ref_of(path: Path) -> TrackRef:
    return TrackRef("wire-test", 1, 0, str(path), path.stat().st_size, path.stat().st_mtime_ns)


def test_integer_sources_travel_as_their_integers_and_scale_back_bit_for_bit(files) -> None:
    for name, (path, wire) in files.items():
        as_float = list(iter_chunks(str(path), ref_of(path), CHUNK_S))
        native = list(iter_chunks(str(path), ref_of(path), CHUNK_S, dtype="native"))
        assert len(as_float) == len(native) >= 3, name
        for (hf, pf), (hn, pn) in zip(as_float, native, strict=True):
            assert pn.dtype.str == hn.dtype == wire, (name, pn.dtype, hn.dtype)
            assert hf.dtype == "<f4" and pf.dtype == np.float32
            assert replace(hn, dtype="<f4") == hf, name  # same chunking, pre-roll, warning
            assert np.array_equal(pcm_float32(pn), pf), name  # exact: not a single bit moves
        if wire != "<f4":
            assert np.abs(pcm_float32(native[0][1])).max() > 0.5  # full scale, not off by a shift


def test_a_24_bit_sample_keeps_its_low_bits(files) -> None:
    path, _ = files["24.flac"]
    header, pcm = next(iter(iter_chunks(str(path), ref_of(path), CHUNK_S, dtype="native")))
    assert np.array_equal(pcm[:100] >> 8, source(24)[:100])  # the 24-bit integers, in the top bytes


def test_an_integer_chunk_crosses_zeromq_unchanged_and_gives_the_float_partial(files) -> None:
    path, _ = files["16.flac"]
    ref = ref_of(path)
    hf, pf = next(iter(iter_chunks(str(path), ref, CHUNK_S)))
    hn, pn = next(iter(iter_chunks(str(path), ref, CHUNK_S, dtype="native")))
    ctx = zmq.Context()
    push, pull = ctx.socket(zmq.PUSH), ctx.socket(zmq.PULL)
    try:
        port = pull.bind_to_random_port("tcp://127.0.0.1")
        push.connect(f"tcp://127.0.0.1:{port}")
        frames = protocol.encode_chunk(hn, pn)
        assert len(frames[1]) == pn.size * 2 == pf.nbytes // 2  # half the bytes of float32
        push.send_multipart(frames, copy=False)
        assert pull.poll(5000)
        got_header, got_pcm = protocol.decode_chunk(pull.recv_multipart(copy=False))
    finally:
        push.close(0)
        pull.close(0)
        ctx.term()
    assert got_header == hn and got_pcm.dtype == np.int16 and np.array_equal(got_pcm, pn)
    assert partial_for(got_header, got_pcm).body.keys() == partial_for(hf, pf).body.keys()
    a, b = partial_for(got_header, got_pcm).body, partial_for(hf, pf).body
    for key in a:
        assert repr(a[key]) == repr(b[key]), key  # the same partial, field by field


def test_a_chunk_whose_bytes_disagree_with_its_integer_dtype_is_refused(files) -> None:
    path, _ = files["16.wav"]
    header, pcm = next(iter(iter_chunks(str(path), ref_of(path), CHUNK_S, dtype="native")))
    frames = protocol.encode_chunk(header, pcm)
    as_int32 = protocol.encode_chunk(replace(header, dtype="<i4"), np.zeros(pcm.shape, "<i4"))
    with pytest.raises(ProtocolError, match="PCM frame has"):
        protocol.decode_chunk([as_int32[0], frames[1]])  # says int32, carries int16
    with pytest.raises(ValueError, match="must be C-contiguous <f4"):
        protocol.encode_chunk(replace(header, dtype="<f4"), pcm)  # the header must say what the array is

"""Every format a library holds: decoded exactly where the format allows, fingerprinted alike.

One generated track (drums, a chord, a stereo image; 48 kHz, 4.8 s) is encoded
here with PyAV (and libsndfile for Vorbis) into each format; the FLAC is the
reference. The length is a whole number of every codec's frame (1024, 1152,
960 samples), so an encoder pads nothing but its declared delay, which the
reader must trim (gapless): the decoded length is then exactly the source's.
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
import subprocess
import sys
from contextlib import redirect_stdout
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from scipy.signal import butter, sosfiltfilt

from audio.readers import open_reader
from base.fields import BANDS, FEATURES, TRACK_COLUMNS
from fpstream.cli import main
from store.db import COLUMNS, MIGRATIONS, SCHEMA_VERSION, create_schema
from tests.stack_harness import Stack
from tests.synth import drums

SR = 48_000
N = 46_080 * 5  # 4.8 s: a multiple of 1024 (AAC), 1152 (MP3) and 960 (Opus) samples

# name -> (encoder, suffix, bit rate, reader expected); None encoder = written by libsndfile
FORMATS: dict[str, tuple[str | None, str, int | None, str]] = {
    "wav": (None, ".wav", None, "soundfile"),
    "aiff": (None, ".aiff", None, "soundfile"),
    "flac": ("flac", ".flac", None, "pyav"),
    "alac": ("alac", ".m4a", None, "pyav"),
    "wavpack": ("wavpack", ".wv", None, "pyav"),
    "mp3": ("mp3", ".mp3", 192_000, "pyav"),
    "aac": ("aac", ".m4a", 256_000, "pyav"),
    "opus": ("libopus", ".opus", 160_000, "pyav"),
    "vorbis": (None, ".ogg", None, "soundfile"),
    "wma": ("wmav2", ".wma", 192_000, "pyav"),
}
LOSSLESS = ("wav", "aiff", "alac", "wavpack")
# Lossy formats held to the value tolerances below. Not WMA: FFmpeg's wmav2 encoder (the one a test can run)
# smears transients (pre-echo), which moves transient_density by 40 % on this signal; docs/formats.md
# reports what WMA from it does to each value.
CLOSE_TO_FLAC = ("mp3", "aac", "opus", "vorbis")
# WMA's decoder drops its first 1024-sample block (an MDCT overlap the ASF container does not
# declare as delay), so WMA alone may come out short by up to 2048 samples (docs/formats.md).
WMA_SHORT_MAX = 2048

# Lossy vs FLAC, the bounds and ours for the rest (justified in docs/formats.md):
# relative for values that scale (Hz, BPM, onsets/s), absolute for the others.
RELATIVE = {"spectral_centroid": 0.03, "spectral_rolloff": 0.03, "tempo_bpm": 0.02, "transient_density": 0.10}
ABSOLUTE = {
    **{name: 0.01 for name in BANDS},
    "lufs": 0.3,
    "crest_db": 0.5,
    "bass_mid_ratio": 0.3,
    "rhythm_stability": 0.05,
    "silence_ratio": 0.02,
    "spectral_flatness": 0.02,
    "harmonic_ratio": 0.05,
    "pitch_stability": 0.1,
    "chroma_energy": 0.02,
    "dynamic_range_variation": 0.5,
    "loudness_variation_std": 0.3,
    "peak_consistency": 0.05,
    "stereo_width": 0.02,
    "phase_correlation": 0.02,
}
assert set(RELATIVE) | set(ABSOLUTE) == set(FEATURES)

# What decoder libraries print when they talk on stderr: FFmpeg's "[mp3 @ 0x55...]" prefix, libmpg123's
# "[src/libmpg123/parse.c:...]", libsndfile/FLAC "lost sync".
DECODER_NOISE = re.compile(r"\[\w+ @ 0x[0-9a-f]+\]|libmpg123|Header processing failed|lost sync")


def source() -> np.ndarray:
    """The reference track as 16-bit samples, ``(N, 2)``: drums at 120 BPM, a chord, some stereo."""
    t = np.arange(N) / SR
    # Low-passed at 15 kHz like recorded music: the synthetic hi-hat is differentiated white noise,
    # most of its power above the 16-20 kHz that lossy encoders keep (at 192 kbit/s LAME cuts at
    # 19.6 kHz), which would move LUFS by 0.3 LU for a reason no real track has.
    beat = sosfiltfilt(butter(8, 15_000, fs=SR, output="sos"), drums(120.0, N / SR, SR, seed=3))
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0)) / 4
    left = 0.5 * beat + 0.25 * chord
    right = 0.5 * beat + 0.25 * np.roll(chord, 240)
    return np.round(np.stack([left, right], axis=1) * 32767).astype(np.int16)


def encode(path: Path, pcm: np.ndarray, codec: str, bit_rate: int | None) -> Path:
    """``pcm`` (int16, ``(n, 2)``) encoded with PyAV's ``codec`` into ``path``."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=SR, layout="stereo")
        if bit_rate:
            stream.bit_rate = bit_rate
        if codec == "wavpack":
            stream.format = "s16p"  # its first (default) sample format is 8-bit
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm.reshape(1, -1)), format="s16", layout="stereo"
        )
        frame.sample_rate, frame.pts, frame.time_base = SR, 0, Fraction(1, SR)
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return path


def write_bad_inputs(
    d: Path, files: dict[str, Path], pcm: np.ndarray
) -> dict[Path, tuple[str, str | re.Pattern[str]]]:
    """Files that must each fail with (or be done with a warning saying) a specific reason:
    the exact text, or a pattern where it holds a position that depends on the encoder."""
    rng = np.random.default_rng(0)
    (d / "random.mp3").write_bytes(rng.bytes(20_000))
    (d / "text.flac").write_text("this is not audio\n" * 100)
    with av.open(str(d / "video only.mp4"), "w") as out:
        video = out.add_stream("mpeg4", rate=25)
        video.width = video.height = 64
        video.pix_fmt = "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
    aac = files["aac"].read_bytes()
    # FairPlay: the sample entry of an iTunes Store purchase is 'drms' instead of 'mp4a'
    (d / "purchased.m4p").write_bytes(aac.replace(b"mp4a", b"drms", 1))
    # MPEG-H 3D Audio ('mha1'): FFmpeg knows the codec, but has no decoder for it
    (d / "mpeg-h.m4a").write_bytes(aac.replace(b"mp4a", b"mha1", 1).replace(b"esds", b"free", 1))
    (d / "header only.flac").write_bytes(files["flac"].read_bytes()[:100])
    mp3 = files["mp3"].read_bytes()
    (d / "cut.mp3").write_bytes(mp3[: len(mp3) * 4 // 10])
    vorbis = files["vorbis"].read_bytes()
    (d / "cut.ogg").write_bytes(vorbis[: len(vorbis) * 6 // 10])
    wav = files["wav"].read_bytes()
    (d / "cut.wav").write_bytes(wav[: len(wav) // 2])
    # a second stream of another rate and layout appended (as `cat a.mp3 b.mp3` does)
    other = d / "mono.mp3"
    with av.open(str(other), "w") as out:
        stream = out.add_stream("mp3", rate=24_000, layout="mono")
        mono = np.ascontiguousarray(pcm[: N // 2, 0].reshape(1, -1))
        frame = av.AudioFrame.from_ndarray(mono, format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 24_000, 0, Fraction(1, 24_000)
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    (d / "changes.mp3").write_bytes(mp3 + other.read_bytes())
    other.unlink()
    # damage in the second half of the AAC data (the index, moov, intact so every packet is still
    # handed to the decoder): 8 random bytes every 200 bytes, the decoder rejects packet after packet
    damaged = bytearray(aac)
    data_start, data_end = aac.index(b"mdat") + 4, aac.index(b"moov") - 4
    for i in range((data_start + data_end) // 2, data_end - 8, 200):
        damaged[i : i + 8] = rng.bytes(8)
    (d / "damaged.m4a").write_bytes(bytes(damaged))
    return {
        d / "random.mp3": ("failed", "not an audio file: no known audio or container format"),
        d / "text.flac": ("failed", "not an audio file: no known audio or container format"),
        d / "video only.mp4": ("failed", "no audio stream in the container (it holds: video)"),
        d / "purchased.m4p": ("failed", "DRM-protected (encrypted iTunes/FairPlay audio): cannot be decoded"),
        d / "mpeg-h.m4a": ("failed", "unsupported codec: mha1 (FFmpeg has no decoder for it)"),
        d / "header only.flac": ("failed", "truncated: the flac file ends inside its header"),
        d / "changes.mp3": (  # (the frame that switches reports the new layout before the new rate)
            "failed",
            re.compile(
                r"the stream changes format at second 4\.8: 48000 Hz 2 ch -> \d+ Hz 1 ch; "
                "a track must keep one rate and channel layout$"
            ),
        ),
        d / "damaged.m4a": (
            "failed",
            re.compile(r"decode error at second 2\.\d: 17 packets of the aac stream fail to decode"),
        ),
        d / "cut.mp3": ("done", re.compile(r"truncated: decoded 1\.\d s of the 4\.8 s declared")),
        d / "cut.ogg": (
            "done",
            re.compile(r"truncated: the Ogg stream stops at 2\.\d s without its end-of-stream page"),
        ),
        d / "cut.wav": ("done", "truncated: decoded 2.4 s of the 4.8 s declared"),
    }


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, dict[str, Path], dict]:
    d = tmp_path_factory.mktemp("formats")
    pcm = source()
    files: dict[str, Path] = {}
    for name, (codec, suffix, bit_rate, _) in FORMATS.items():
        path = d / f"{name}{suffix}"
        if codec is None:
            subtype = "VORBIS" if name == "vorbis" else "PCM_16"
            sf.write(path, pcm, SR, subtype=subtype, **({"format": "OGG"} if name == "vorbis" else {}))
        else:
            encode(path, pcm, codec, bit_rate)
        files[name] = path
    bad = write_bad_inputs(tmp_path_factory.mktemp("bad"), files, pcm)
    return pcm, files, bad


def read_all(path: Path) -> tuple[str, np.ndarray]:
    reader = open_reader(str(path))
    try:
        return reader.name, reader.read(10 * N)
    finally:
        reader.close()


def lag(reference: np.ndarray, decoded: np.ndarray, max_lag: int = 3000) -> int:
    """Frames by which ``decoded`` trails ``reference`` (cross-correlation peak, first channel)."""
    a, b = reference[:, 0].astype(np.float64), decoded[:, 0].astype(np.float64)
    n = min(len(a), len(b))
    c = np.fft.irfft(np.conj(np.fft.rfft(a[:n], 2 * n)) * np.fft.rfft(b[:n], 2 * n), 2 * n)
    window = np.r_[c[: max_lag + 1], c[-max_lag:]]
    i = int(np.argmax(window))
    return i if i <= max_lag else i - len(window)


def test_each_format_decodes_to_the_source_length_and_first_sample(library) -> None:
    pcm, files, _ = library
    reference = pcm.astype(np.float32) / 32768
    for name, path in files.items():
        reader, decoded = read_all(path)
        assert reader == FORMATS[name][3], name
        if name == "wma":
            assert N - WMA_SHORT_MAX <= len(decoded) <= N, len(decoded)
            continue
        assert len(decoded) == N, (name, len(decoded) - N)  # gapless: delay and padding trimmed
        if name in LOSSLESS or name == "flac":
            assert np.array_equal(decoded, reference), name  # bit-identical to the source
        else:
            assert lag(reference, decoded) == 0, name  # the first sample is the source's first sample


def test_a_reader_can_hand_out_the_files_own_int16_samples(library) -> None:
    pcm, files, _ = library
    for name in ("flac", "alac", "wav"):
        reader = open_reader(str(files[name]))
        assert np.array_equal(reader.read(N, dtype="int16"), pcm), name
        reader.close()


@pytest.fixture(scope="module")
def analyzed(library) -> dict[str, dict]:
    """`fpstream analyze` on every file, good and bad, once: ``{path: row}``."""
    _, files, bad = library
    out = io.StringIO()
    with redirect_stdout(out):
        main(["analyze", *map(str, [*files.values(), *bad])])
    return {row["path"]: row for row in map(json.loads, out.getvalue().splitlines())}


def test_fpstream_analyze_gives_lossless_the_flac_values_and_lossy_close_ones(library, analyzed) -> None:
    _, files, _ = library
    rows = analyzed
    flac = rows[str(files["flac"])]
    assert flac["status"] == "done" and flac["duration_s"] == pytest.approx(N / SR, abs=1e-9)
    for name, path in files.items():
        row = rows[str(path)]
        assert row["status"] == "done" and row["warning"] is None, (name, row["error"], row["warning"])
        if name in LOSSLESS:
            assert {f: row[f] for f in FEATURES} == {f: flac[f] for f in FEATURES}, name
            continue
        if name not in CLOSE_TO_FLAC:
            continue
        assert row["duration_s"] == pytest.approx(N / SR, abs=1e-9), name
        off = {}
        for f in FEATURES:
            bound = RELATIVE[f] * abs(flac[f]) if f in RELATIVE else ABSOLUTE[f]
            if abs(row[f] - flac[f]) > bound:
                off[f] = (row[f], flac[f], bound)
        assert not off, (name, off)


def test_the_stack_stores_every_format_and_each_bad_input_once(library, analyzed, stack: Stack) -> None:
    _, files, bad = library
    paths = [*files.values(), *bad]
    expected = analyzed
    result = stack.ingest(paths)
    rows = stack.rows()
    assert sorted(rows) == sorted(map(str, paths))  # one row per path
    for path in files.values():
        row = rows[str(path)]
        assert row["status"] == "done", (path, row["error"])
        assert {f: row[f] for f in FEATURES} == {f: expected[str(path)][f] for f in FEATURES}
        assert row["duration_s"] == expected[str(path)]["duration_s"]
    for path, (status, message) in bad.items():
        row, reference = rows[str(path)], expected[str(path)]
        said = row["error"] if status == "failed" else row["warning"]
        if isinstance(message, str):
            assert (row["status"], said) == (status, message), path
        else:
            assert row["status"] == status and said is not None and message.match(said), (path, said)
        assert (reference["status"], reference["error"], reference["warning"]) == (
            row["status"],
            row["error"],
            row["warning"],
        ), path  # analyze says the same
    assert result.returncode == 0, result.stderr
    warned = sum(status == "done" for status, _ in bad.values())
    assert f"({warned} done with a warning" in result.stderr
    noise = [line for line in stack.all_logs().splitlines() if DECODER_NOISE.search(line)]
    assert not noise, noise


def test_no_decoder_writes_to_stderr(library, tmp_path) -> None:
    """In a fresh process (no pytest capture): decoding every bad input prints nothing at all."""
    _, files, bad = library
    paths = [str(p) for p in [*files.values(), *bad]]
    code = (
        "import sys\nfrom audio.decode import iter_chunks, DecodeError\nfrom base.protocol import TrackRef\n"
        "for p in sys.argv[1:]:\n"
        "    try:\n        [0 for _ in iter_chunks(p, TrackRef('t', 0, 0, p, 1, 0))]\n"
        "    except DecodeError:\n        pass\n"
    )
    done = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, timeout=120, check=True)
    assert done.stderr == b"" and done.stdout == b""


def test_memory_stays_flat_decoding_a_60_minute_aac(tmp_path) -> None:
    """A 60-minute AAC (10 s of audio encoded once, its packets muxed 360 times) is decoded chunk by
    chunk: resident memory after the last chunk is within a few MB of what it was after the first minute."""
    seconds = 10
    rate = 8_000  # the lowest AAC rate: fewest packets to mux and decode for an hour
    t = np.arange(seconds * rate) / rate
    tone = np.round(0.3 * np.sin(2 * np.pi * 330 * t) * 32767).astype(np.int16)
    piece = encode_packets(tone, rate)
    path = tmp_path / "hour.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=rate, layout="mono")
        stream.codec_context.extradata = piece[0]
        step, packets = 0, piece[1]
        origin = packets[0][1]
        span = packets[-1][1] + packets[-1][2] - origin  # the piece's packets, priming and padding included
        for _ in range(3600 // seconds):
            for data, pts, duration in packets:
                packet = av.Packet(data)
                packet.pts = packet.dts = step + pts - origin
                packet.duration = duration
                packet.time_base = Fraction(1, rate)
                packet.stream = stream
                out.mux(packet)
            step += span
    code = (
        "import sys\nfrom audio.decode import iter_chunks\nfrom base.protocol import TrackRef\n"
        "def rss():\n    return int(open('/proc/self/statm').read().split()[1]) * 4096\n"
        "p = sys.argv[1]; first = peak = 0; frames = 0\n"
        "for h, pcm in iter_chunks(p, TrackRef('t', 0, 0, p, 1, 0)):\n"
        "    frames += h.frames\n"
        "    if h.index == 6: first = rss()\n"
        "    peak = max(peak, rss())\n"
        "print(frames, first, peak)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, timeout=300, check=True, text=True
    )
    frames, first, peak = map(int, done.stdout.split())
    assert frames >= 3599 * rate  # the whole hour was decoded
    assert peak - first < 16 << 20, (first, peak)  # a chunk is 10 s x 8 000 Hz x 4 B = 0.3 MB


def encode_packets(tone: np.ndarray, rate: int) -> tuple[bytes, list[tuple[bytes, int, int]]]:
    """``tone`` encoded as AAC once: the codec's extradata and its packets (data, pts, duration)."""
    ctx = av.CodecContext.create("aac", "w")
    ctx.sample_rate, ctx.layout, ctx.format, ctx.bit_rate = rate, "mono", "fltp", 24_000
    ctx.time_base = Fraction(1, rate)
    ctx.open()
    frame = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
    packets = [*ctx.encode(frame), *ctx.encode(None)]
    return bytes(ctx.extradata), [(bytes(p), int(p.pts), int(p.duration)) for p in packets]


def test_an_itunes_gapless_tag_trims_the_aac_end_padding(tmp_path) -> None:
    """An AAC whose length is not a whole number of 1024-sample frames ends in padding that only
    iTunes' iTunSMPB tag declares (FFmpeg's edit list covers the priming, not the padding)."""
    rate, n = 44_100, 3 * 44_100 + 77
    pcm = np.round(np.stack([np.sin(2 * np.pi * 440 * np.arange(n) / rate)] * 2, axis=1) * 9000)

    def write(path: Path, tag: bool) -> Path:
        with av.open(str(path), "w", options={"movflags": "use_metadata_tags"}) as out:
            stream = out.add_stream("aac", rate=rate, layout="stereo")
            if tag:  # Apple's words: 0, priming, padding, original length
                out.metadata["iTunSMPB"] = f" 00000000 00000400 {-(n + 1024) % 1024:08X} {n:016X} 00000000"
            frame = av.AudioFrame.from_ndarray(
                pcm.astype(np.int16).reshape(1, -1), format="s16", layout="stereo"
            )
            frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                out.mux(packet)
        return path

    _, plain = read_all(write(tmp_path / "plain.m4a", tag=False))
    _, tagged = read_all(write(tmp_path / "tagged.m4a", tag=True))
    assert len(plain) > n  # the padding, without the tag
    assert len(tagged) == n and lag(pcm / 32768, tagged) == 0


def test_a_version_1_database_gains_the_later_columns_and_keeps_its_rows(tmp_path) -> None:
    conn = sqlite3.connect(tmp_path / "old.db")
    for statement in MIGRATIONS[1]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO tracks (path, status, error) VALUES (?, 'failed', 'file not found')", ("/music/a.mp3",)
    )
    conn.commit()
    create_schema(conn)  # what the sink's migrate does, for a plain connection
    columns = [c[1] for c in conn.execute("PRAGMA table_info(tracks)")]
    assert columns == list(COLUMNS) and columns[len(TRACK_COLUMNS) + len(FEATURES)] == "warning"
    assert columns[-2:] == ["derived_from", "chromaprint"]
    assert conn.execute("SELECT path, error, warning, chromaprint FROM tracks").fetchall() == [
        ("/music/a.mp3", "file not found", None, None)
    ]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()

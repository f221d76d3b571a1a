"""Synthetic test audio whose right answers are known, and helpers that run the
real decode -> chunk -> partial -> merge path on it (``fpstream.analyze_file``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from audio.decode import file_identity, iter_chunks
from base.fields import FEATURES
from base.protocol import DEFAULT_CHUNK_S, PREROLL_S, ChunkHeader, TrackRef
from fpstream.analyze_file import analyze_file


def db_to_amp(db: float) -> float:
    return 10.0 ** (db / 20.0)


def sine(freq: float, seconds: float, sr: int, dbfs: float = -6.0, phase: float = 0.0) -> np.ndarray:
    """A sine whose peak is ``dbfs`` dB below full scale."""
    t = np.arange(round(seconds * sr)) / sr
    return db_to_amp(dbfs) * np.sin(2 * np.pi * freq * t + phase)


def clicks(
    bpm: float, seconds: float, sr: int, jitter_s: float = 0.0, seed: int = 0, dbfs: float = -6.0
) -> np.ndarray:
    """A click (short decaying noise burst) on every beat at ``bpm``, jittered by ``jitter_s`` (std)."""
    rng = np.random.default_rng(seed)
    n = round(seconds * sr)
    x = np.zeros(n)
    burst_len = int(0.01 * sr)
    burst = rng.standard_normal(burst_len) * np.exp(-np.arange(burst_len) / (0.002 * sr))
    burst *= db_to_amp(dbfs) / np.abs(burst).max()
    for k in range(int(seconds * bpm / 60.0) + 1):
        t = k * 60.0 / bpm + (rng.normal(0, jitter_s) if jitter_s else 0.0)
        i = round(t * sr)
        if 0 <= i and i + burst_len <= n:
            x[i : i + burst_len] += burst
    return x


def stereo(left: np.ndarray, right: np.ndarray | None = None) -> np.ndarray:
    return np.stack([left, left if right is None else right], axis=1)


def write(path: Path, pcm: np.ndarray, sr: int, subtype: str = "FLOAT") -> Path:
    sf.write(str(path), pcm, sr, subtype=subtype)
    return path


def analyze_path(
    path: Path, chunk_s: float = DEFAULT_CHUNK_S, preroll_s: float = PREROLL_S
) -> dict[str, float]:
    """The 25 values of a file through the real chunked path (no sockets), plus ``duration_s``."""
    row = analyze_file(str(path), chunk_s=chunk_s, preroll_s=preroll_s)
    assert row["status"] == "done", row["error"]
    return {n: row[n] for n in (*FEATURES, "duration_s")}


def chunks_of(
    path: Path,
    chunk_s: float = DEFAULT_CHUNK_S,
    preroll_s: float = PREROLL_S,
    *,
    ingest: str = "test",
    track: int = 1,
    ref_path: str | None = None,
) -> list[tuple[ChunkHeader, np.ndarray]]:
    """Every ``(header, pcm)`` ingest would send for ``path``; the ref names ``ref_path`` if given."""
    size, mtime_ns = file_identity(str(path))
    ref = TrackRef(ingest, track, 0, str(path) if ref_path is None else ref_path, size, mtime_ns)
    return list(iter_chunks(str(path), ref, chunk_s=chunk_s, preroll_s=preroll_s))


def analyze_array(tmp_path: Path, pcm: np.ndarray, sr: int, name: str = "x.wav", **kw) -> dict[str, float]:
    """Write ``pcm`` (samples or samples x channels) as a float WAV and analyse it."""
    return analyze_path(write(tmp_path / name, pcm, sr), **kw)


def drums(bpm: float, seconds: float, sr: int, jitter_s: float = 0.008, seed: int = 0) -> np.ndarray:
    """A rock beat: kick on beats 1 and 3, snare on 2 and 4, closed hi-hat on every
    eighth note; each hit's timing humanised by ``jitter_s`` (std) and its level by ±2 dB."""
    rng = np.random.default_rng(seed)
    n = round(seconds * sr)
    out = np.zeros(n)

    def hit(kind: str) -> np.ndarray:
        t = np.arange(int((0.25 if kind != "hat" else 0.05) * sr)) / sr
        if kind == "kick":
            return np.sin(2 * np.pi * (50 + 100 * np.exp(-t / 0.03)) * t) * np.exp(-t / 0.12)
        if kind == "snare":
            return (0.6 * rng.standard_normal(len(t)) + 0.4 * np.sin(2 * np.pi * 190 * t)) * np.exp(-t / 0.05)
        noise = np.diff(rng.standard_normal(len(t) + 1))  # crude high-pass
        return 0.3 * noise * np.exp(-t / 0.01)

    beat = 60.0 / bpm
    for k in range(int(seconds / beat * 2) + 1):
        t0 = k * beat / 2
        kinds = ["hat"]
        if k % 4 == 0:
            kinds.append("kick")
        if k % 4 == 2:
            kinds.append("snare")
        for kind in kinds:
            i = round((t0 + rng.normal(0, jitter_s)) * sr)
            h = hit(kind) * db_to_amp(rng.uniform(-2, 2))
            if 0 <= i < n:
                m = min(len(h), n - i)
                out[i : i + m] += h[:m]
    return 0.5 * out / np.abs(out).max()


# Drum patterns whose beat is known but whose other metrical levels compete: one bar each,
# hits as (beat position, instrument, level in dB). The beat is the tempo a listener taps
# (kick and snare); the hi-hats and syncopations make 2, 3, 3:2 and 4:3 relatives plausible.
DRUM_PATTERNS: dict[str, tuple[int, list[tuple[float, str, float]]]] = {
    # 4/4 rock: hats on eighths (the tatum is twice the beat)
    "rock 4/4": (4, [(0, "kick", 0), (2, "kick", 0), (1, "snare", 0), (3, "snare", 0)]
                 + [(k / 2, "hat", -4) for k in range(8)]),
    # 3/4 waltz: bass on one, chords on two and three (the bar is three beats)
    "waltz 3/4": (3, [(0, "kick", 0), (1, "snare", -6), (2, "snare", -6)]
                  + [(k / 2, "hat", -8) for k in range(6)]),
    # 12/8 shuffle: hats on triplet eighths (three per beat; two of them is 2/3 of a beat)
    "shuffle 12/8": (4, [(0, "kick", 0), (2, "kick", 0), (1, "snare", 0), (3, "snare", 0)]
                     + [(k / 3, "hat", -4) for k in range(12)]),
    # 6/8 with the beat on the dotted quarter: quarter-note accents (3:2) are its rival
    "6/8": (2, [(0, "kick", 0), (1, "snare", 0)] + [(k / 3, "hat", -4 if k % 3 else -2) for k in range(6)]),
    # 4/4 with a 3+3+2 kick (dotted eighths: a 4:3 rival) over a backbeat
    "tresillo 4/4": (4, [(0, "kick", 0), (0.75, "kick", -2), (1.5, "kick", -2), (2, "kick", 0),
                         (2.75, "kick", -2), (3.5, "kick", -2), (1, "snare", 0), (3, "snare", 0)]
                     + [(k / 2, "hat", -6) for k in range(8)]),
}


def drum_pattern(
    pattern: str, bpm: float, seconds: float, sr: int, jitter_s: float = 0.005, seed: int = 0
) -> np.ndarray:
    """One of :data:`DRUM_PATTERNS` looped at ``bpm`` (beats per minute of its beat), each
    hit humanised in time by ``jitter_s`` (std) and in level by ±1 dB."""
    rng = np.random.default_rng(seed)
    beats_per_bar, hits = DRUM_PATTERNS[pattern]
    n = round(seconds * sr)
    out = np.zeros(n)
    t = np.arange(int(0.25 * sr)) / sr
    sounds = {
        "kick": np.sin(2 * np.pi * (50 + 100 * np.exp(-t / 0.03)) * t) * np.exp(-t / 0.12),
        "snare": (0.6 * rng.standard_normal(len(t)) + 0.4 * np.sin(2 * np.pi * 190 * t)) * np.exp(-t / 0.05),
        "hat": 0.3 * np.diff(rng.standard_normal(len(t) + 1)) * np.exp(-t / 0.01),
    }
    beat_s = 60.0 / bpm
    for bar in range(int(seconds / (beats_per_bar * beat_s)) + 1):
        for pos, kind, db in hits:
            i = round(((bar * beats_per_bar + pos) * beat_s + rng.normal(0, jitter_s)) * sr)
            if 0 <= i < n:
                h = sounds[kind] * db_to_amp(db + rng.uniform(-1, 1))
                m = min(len(h), n - i)
                out[i : i + m] += h[:m]
    return 0.5 * out / np.abs(out).max()

"""Synthetic test audio whose right answers are known, and helpers that run the
real decode -> chunk -> partial -> merge path on it (``fpstream.analyze_file``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from base.fields import FEATURES
from base.protocol import DEFAULT_CHUNK_S, PREROLL_S, ChunkHeader, TrackRef
from fpstream.analyze_file import analyze_file
from ingest.decode import file_identity, iter_chunks


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

"""Synthetic test audio whose right answers are known, and a helper that runs
the real decode -> chunk -> partial -> merge path on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from analyzer.chunk import analyze_chunk
from analyzer.fingerprint import fingerprint
from fpstream.protocol import TrackRef
from ingest.decode import iter_chunks


def db_to_amp(db: float) -> float:
    return 10.0 ** (db / 20.0)


def sine(freq: float, seconds: float, sr: int, dbfs: float = -6.0, phase: float = 0.0) -> np.ndarray:
    """A sine whose peak is ``dbfs`` dB below full scale."""
    t = np.arange(int(round(seconds * sr))) / sr
    return db_to_amp(dbfs) * np.sin(2 * np.pi * freq * t + phase)


def clicks(bpm: float, seconds: float, sr: int, jitter_s: float = 0.0, seed: int = 0, dbfs: float = -6.0) -> np.ndarray:
    """A click (short decaying noise burst) on every beat at ``bpm``, timing jittered by ``jitter_s`` (std)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    x = np.zeros(n)
    burst_len = int(0.01 * sr)
    burst = rng.standard_normal(burst_len) * np.exp(-np.arange(burst_len) / (0.002 * sr))
    burst *= db_to_amp(dbfs) / np.abs(burst).max()
    for k in range(int(seconds * bpm / 60.0) + 1):
        t = k * 60.0 / bpm + (rng.normal(0, jitter_s) if jitter_s else 0.0)
        i = int(round(t * sr))
        if 0 <= i and i + burst_len <= n:
            x[i : i + burst_len] += burst
    return x


def stereo(left: np.ndarray, right: np.ndarray | None = None) -> np.ndarray:
    return np.stack([left, left if right is None else right], axis=1)


def write(path: Path, pcm: np.ndarray, sr: int, subtype: str = "FLOAT") -> Path:
    sf.write(str(path), pcm, sr, subtype=subtype)
    return path


def analyze_path(path: Path, chunk_s: float = 10.0, preroll_s: float = 1.5) -> dict[str, float]:
    """The 25 values of a file through the real chunked path (no sockets), plus ``duration_s``."""
    import os

    st = os.stat(path)
    ref = TrackRef("test", 0, 0, str(path), st.st_size, st.st_mtime_ns)
    bodies, sr, ch = [], 0, 0
    for header, pcm in iter_chunks(str(path), ref, chunk_s=chunk_s, preroll_s=preroll_s):
        bodies.append(analyze_chunk(header, pcm))
        sr, ch = header.sample_rate, header.channels
    fp = fingerprint(bodies, sr, ch)
    return {**fp.values, "duration_s": fp.duration_s}


def analyze_array(tmp_path: Path, pcm: np.ndarray, sr: int, name: str = "x.wav", **kw) -> dict[str, float]:
    """Write ``pcm`` (samples or samples x channels) as a float WAV and analyse it."""
    return analyze_path(write(tmp_path / name, pcm, sr), **kw)

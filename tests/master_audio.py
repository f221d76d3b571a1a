"""Test material for ``fpstream master`` (generated; right answers from pyebur128, libebur128's binding)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyebur128
import soundfile as sf


def isp_tone(sr: int, seconds: float, sample_peak: float = 0.9) -> np.ndarray:
    """fs/4 at 45° phase: every sample is ±``sample_peak`` but the waveform peaks at √2 times that."""
    n = np.arange(round(seconds * sr))
    x = sample_peak * math.sqrt(2.0) * np.sin(np.pi / 2.0 * n + np.pi / 4.0)
    return np.stack([x, x], axis=1)


def kick_mix(sr: int, seconds: float, seed: int = 1, kick: float = 0.95, pad: float = 0.03) -> np.ndarray:
    """Kicks at 120 BPM (peak ``kick``) over a quiet pad and noise: a crest factor near 15 dB at 0.95."""
    rng = np.random.default_rng(seed)
    n = round(seconds * sr)
    t = np.arange(n) / sr
    bed = pad * (np.sin(2 * np.pi * 220 * t) + 0.6 * np.sin(2 * np.pi * 330 * t))
    x = bed + 0.004 * rng.standard_normal(n)
    k = np.arange(round(0.25 * sr)) / sr
    shape = np.exp(-k / 0.06) * np.sin(2 * np.pi * (50 + 80 * np.exp(-k / 0.02)) * k)
    for start in range(0, n - len(shape), round(0.5 * sr)):
        x[start : start + len(shape)] += kick * shape
    return np.stack([x, 0.97 * x], axis=1)


def brickwalled(sr: int, seconds: float, seed: int = 2) -> np.ndarray:
    """An already-loud master: broadband music-like noise driven into hard clipping at full scale."""
    rng = np.random.default_rng(seed)
    n = round(seconds * sr)
    t = np.arange(n) / sr
    x = 0.5 * rng.standard_normal((n, 2)) + 0.8 * np.sin(2 * np.pi * 60 * t)[:, None]
    return np.clip(x, -1.0, 1.0)


def quiet_classical(sr: int, seconds: float) -> np.ndarray:
    """Slow swells of a soft chord around -35 LUFS, with one loud accent: wide dynamics."""
    t = np.arange(round(seconds * sr)) / sr
    notes_hz = (196.0, 246.9, 293.7, 392.0, 587.3)
    chord = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate(notes_hz))
    swell = 0.01 * (1.2 + np.sin(2 * np.pi * 0.5 * t))
    swell[(t > 1.0) & (t < 1.3)] *= 8.0  # an accent: crest factor high
    x = chord * swell
    return np.stack([x, 0.9 * x], axis=1)


def write(path: Path, pcm: np.ndarray, sr: int, subtype: str = "PCM_24") -> Path:
    sf.write(str(path), pcm, sr, subtype=subtype)
    return path


MODES = pyebur128.MeasurementMode.MODE_I | pyebur128.MeasurementMode.MODE_TRUE_PEAK


def ebur128_of(pcm: np.ndarray, sr: int) -> tuple[float, float]:
    """(integrated loudness LUFS, true peak dBTP) of ``(n, ch)`` samples by libebur128 (the oracle)."""
    ch = pcm.shape[1]
    meter = pyebur128.R128State(ch, sr, MODES)
    meter.add_frames(np.ascontiguousarray(pcm, dtype=np.float64).ravel(), len(pcm))
    peak = max(pyebur128.get_true_peak(meter, c) for c in range(ch))
    return pyebur128.get_loudness_global(meter), 20.0 * math.log10(peak) if peak > 0 else -math.inf


def ebur128(path: Path) -> tuple[float, float]:
    """:func:`ebur128_of` a file's samples."""
    pcm, sr = sf.read(str(path), always_2d=True, dtype="float64")
    return ebur128_of(pcm, sr)

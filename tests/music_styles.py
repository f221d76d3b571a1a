"""Generated music-like tracks in a few distinct styles, with variations inside each style.

For the playlist and duplicate tests: tracks of one style should be near each
other in fingerprint space and far from other styles, and no two generated
tracks are copies of each other (tempo, pitch, level and stereo width all vary).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from tests.synth import db_to_amp, drums

SR = 22_050
STYLES = ("beat", "pad", "hats", "drone")


def _tone(freq_hz: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return np.sin(2 * np.pi * freq_hz * t + rng.uniform(0, 2 * np.pi))


def style_track(style: str, variant: int, seconds: float = 6.0) -> np.ndarray:
    """Stereo float PCM (samples x 2) of one track: ``variant`` moves tempo, pitch, level and width."""
    rng = np.random.default_rng(1000 * STYLES.index(style) + variant)
    n = round(seconds * SR)
    t = np.arange(n) / SR
    level_db = -3.0 - 5.0 * variant
    width = 0.05 + 0.12 * variant
    if style == "beat":  # rock beat and a bass line: steady, percussive, bassy
        bpm = 84 + 12 * variant
        bass = (0.05 + 0.08 * variant) * _tone(55 * 2 ** (3 * variant / 12), seconds, rng)
        hiss = 0.03 * variant * rng.standard_normal(n)  # more hiss per variant: flatness moves
        mono = drums(bpm, seconds, SR, seed=variant) + bass + hiss
    elif style == "pad":  # sustained major chord with slow tremolo: harmonic, no beat
        root = 196 * 2 ** (3 * variant / 12)
        mono = sum(_tone(root * r, seconds, rng) for r in (1, 1.26, 1.5, 2))
        mono *= 1 + (0.05 + 0.15 * variant) * np.sin(2 * np.pi * 0.3 * t)
    elif style == "hats":  # fast bright noise bursts: high band, dense transients
        bpm = 140 + 14 * variant
        mono = np.zeros(n)
        length = int(0.03 * SR)
        decay_s = 0.002 + 0.002 * variant
        burst = np.diff(rng.standard_normal(length + 1)) * np.exp(-np.arange(length) / (decay_s * SR))
        for k in range(int(seconds * bpm / 60 * 2)):
            i = round(k * 30 / bpm * SR)
            if i + burst.size <= n:
                mono[i : i + burst.size] += burst * (1.0 if k % 2 == 0 else 0.4 + 0.1 * variant)
        mono += 0.08 * variant * _tone(2000 * (1 + 0.25 * variant), seconds, rng)  # a whistle: tonal share
    elif style == "drone":  # low sines with slow swells: sub-bass, quiet, no beat
        f = 45 + 6 * variant
        mono = _tone(f, seconds, rng) + 0.5 * _tone(2 * f, seconds, rng)
        mono *= 0.6 + 0.4 * np.sin(2 * np.pi * (0.1 + 0.05 * variant) * t) ** 2
        level_db -= 8.0
    else:
        raise ValueError(f"unknown style {style!r}")
    mono = mono / np.abs(mono).max() * db_to_amp(level_db)
    side = width * np.convolve(mono, np.ones(8) / 8, mode="same")[::-1][::-1] * rng.choice([-1, 1])
    side = np.roll(side, 37 + 11 * variant)
    return np.stack([mono + side, mono - side], axis=1) / (1 + width)


def write_library(folder: Path, per_style: int = 4) -> list[Path]:
    """``per_style`` FLAC files of each style, ``folder/<style>-<variant>.flac``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for style in STYLES:
        for v in range(0, 2 * per_style, 2):  # every other variant: far enough apart not to be copies
            path = folder / f"{style}-{v}.flac"
            sf.write(str(path), style_track(style, v), SR, subtype="PCM_16")
            paths.append(path)
    return paths


def write_copies(source: np.ndarray, folder: Path, stem: str) -> list[Path]:
    """One recording as WAV (float), FLAC (16-bit) and Ogg Vorbis, plus a re-encode: the Ogg file
    decoded and encoded again at a lower Vorbis quality (a lossy copy of a lossy copy).

    No MP3: libsndfile's MP3 encoder at 22 050 Hz moves these short, hissy signals by 0.09–0.18
    (flatness and the top band), more than real music in 192 kbit/s MP3 moves (0.009–0.013).
    """
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for suffix, fmt, subtype in (
        ("wav", "WAV", "FLOAT"),
        ("flac", "FLAC", "PCM_16"),
        ("ogg", "OGG", "VORBIS"),
    ):
        path = folder / f"{stem}.{suffix}"
        sf.write(str(path), source, SR, format=fmt, subtype=subtype)
        made.append(path)
    decoded, sr = sf.read(str(made[2]), always_2d=True)
    again = folder / f"{stem} (re-encoded).ogg"
    sf.write(str(again), decoded, sr, format="OGG", subtype="VORBIS", compression_level=0.2)
    return [*made, again]

"""The rhythm half of fpstream's path, for the evaluation's many files: ingest's chunked
decode, then per chunk exactly the analyzer's resample, STFT and onset flux
(:func:`dsp.chunk.analyze_chunk`'s steps, without the stages rhythm does not use), merged in
chunk order; the tempo, beats and onsets are then the sink's functions of that envelope.
The envelope is cached per file content and onset definition, so re-tuning the tempo rules
on it costs milliseconds per track."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from audio.decode import file_identity, iter_chunks
from base.protocol import TrackRef
from dsp import temporal
from dsp.chunk import mid_signal
from dsp.grid import plan_chunk, resampler_for
from dsp.resample import resample_range
from dsp.stft import frame_view, magnitude


def _definition_key() -> str:
    """What the cached envelopes depend on: the flux function's code and constants (its
    bytecode, not its source text, which a running process would read from an edited file)."""
    code = temporal.onset_strength.__code__
    ident = code.co_code + repr(code.co_consts).encode() + temporal.MEL_WEIGHTS.tobytes()
    ident += repr((temporal.LOG_FLOOR, getattr(temporal, "ONSET_MAX_HZ", None))).encode()
    return hashlib.sha1(ident).hexdigest()[:10]


def onset_envelope(path: Path) -> tuple[np.ndarray, float]:
    """The merged onset envelope of ``path`` (one value per frame) and its duration (s)."""
    size, mtime_ns = file_identity(str(path))
    ref = TrackRef("realmusic", 0, 0, str(path), size, mtime_ns)
    parts, n_samples, sr = [], 0, 0
    for header, pcm in iter_chunks(str(path), ref):
        sr = header.sample_rate
        plan = plan_chunk(sr, header.start, header.frames, header.last)
        n_track = header.start + header.frames if header.last else None
        y_lo, y_hi = plan.resampled_lo, plan.resampled_hi
        y_end = y_hi if plan.n_out_total < 0 else max(y_lo, min(y_hi, plan.n_out_total))
        y = resample_range(
            resampler_for(sr), mid_signal(pcm), header.start - header.preroll, y_lo, y_end, n_track
        )
        if len(y) < y_hi - y_lo:
            y = np.pad(y, (0, y_hi - y_lo - len(y)))
        mag = magnitude(frame_view(y, y_lo, plan.stft_lo, plan.stft_hi))
        own_stop = plan.frame_hi - plan.stft_lo
        flux_lo = max(0, plan.frame_lo - 1) - plan.stft_lo
        parts.append(temporal.onset_strength(mag[flux_lo:own_stop], track_start=plan.frame_lo == 0))
        n_samples = header.start + header.frames
    return np.concatenate(parts), n_samples / sr


def cached_envelope(path: Path, key: str, cache: Path) -> tuple[np.ndarray, float]:
    """:func:`onset_envelope`, cached in ``cache/onsets`` under ``key`` (the file's sha256)."""
    file = cache / "onsets" / f"{key}-{_definition_key()}.npz"
    if file.exists():
        z = np.load(file)
        return z["onset"], float(z["duration"])
    onset, duration = onset_envelope(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".part.npz")
    np.savez(tmp, onset=onset, duration=duration)
    tmp.replace(file)
    return onset, duration


def rhythm_values(onset: np.ndarray, duration: float) -> dict[str, float]:
    """tempo_bpm, rhythm_stability and transient_density as the sink computes them."""
    bpm = temporal.tempo_bpm(onset)
    return {
        "tempo_bpm": bpm,
        "rhythm_stability": temporal.rhythm_stability(temporal.beat_frames(onset, bpm)),
        "transient_density": temporal.transient_density(onset, duration),
    }

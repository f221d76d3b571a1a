"""Reference implementations used as oracles (tests and benchmarks only, never on the production path).

librosa with its default resampler (``soxr_hq``) for the spectral family and the
bands, libebur128 (``pyebur128``) for integrated loudness, librosa's and
Essentia's beat trackers for tempo. Each follows fpstream's framing
(FINGERPRINT.md): mid signal, ``n_fft`` 2048, hop 512, periodic Hann, frames
from sample 0 without centring, frames under -60 dBFS RMS left out of the
spectral means.
"""

from __future__ import annotations

import numpy as np

from base.fields import BANDS

SR = 22_050
N_FFT, HOP = 2048, 512
BAND_EDGES_HZ = (20, 60, 250, 500, 2000, 4000, 8000, 11025)
SILENCE_DBFS = -60.0


def librosa_mid(pcm: np.ndarray, sr: int) -> np.ndarray:
    """``(L + R) / 2`` of ``pcm`` (samples x channels) at 22 050 Hz by librosa's default
    resampler (soxr's HQ setting), float64."""
    import librosa

    mid = pcm[:, :2].astype(np.float64).mean(axis=1) if pcm.ndim == 2 else pcm.astype(np.float64)
    return librosa.resample(mid, orig_sr=sr, target_sr=SR).astype(np.float64)


def librosa_spectral(y: np.ndarray) -> dict[str, float]:
    """Centroid, rolloff (85 %), flatness (power, amin 1e-10) averaged over non-silent
    frames, and the seven band shares of the total power, of ``y`` at 22 050 Hz."""
    import librosa

    y = np.asarray(y, dtype=np.float64)
    frames = librosa.util.frame(y, frame_length=N_FFT, hop_length=HOP).T
    ms = np.mean(frames * frames, axis=1)
    loud = ms >= 10 ** (SILENCE_DBFS / 10)
    mag = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP, center=False, window="hann"))
    freqs = librosa.fft_frequencies(sr=SR, n_fft=N_FFT)
    out: dict[str, float] = {}
    if loud.any():
        m = mag[:, loud]
        out["spectral_centroid"] = float(librosa.feature.spectral_centroid(S=m, sr=SR).mean())
        out["spectral_rolloff"] = float(
            librosa.feature.spectral_rolloff(S=m, sr=SR, roll_percent=0.85).mean()
        )
        out["spectral_flatness"] = float(librosa.feature.spectral_flatness(S=m, power=2.0, amin=1e-10).mean())
    power = (mag * mag).sum(axis=1)
    in_band = [
        (freqs >= lo) & (freqs < hi) for lo, hi in zip(BAND_EDGES_HZ[:-1], BAND_EDGES_HZ[1:], strict=True)
    ]
    in_band[-1] |= freqs == BAND_EDGES_HZ[-1]
    total = sum(power[b].sum() for b in in_band)
    for name, b in zip(BANDS, in_band, strict=True):
        out[name] = float(power[b].sum() / total) if total > 0 else 0.0
    return out


def librosa_tempo(y: np.ndarray) -> float:
    """librosa's ``beat_track`` tempo (BPM) of ``y`` at 22 050 Hz, default settings."""
    import librosa

    tempo, _ = librosa.beat.beat_track(y=np.asarray(y, dtype=np.float32), sr=SR)
    return float(np.atleast_1d(tempo)[0])


def ebur128_loudness(pcm: np.ndarray, sr: int) -> float:
    """Integrated loudness (LUFS) by libebur128 of ``pcm`` (samples x channels) at its native rate."""
    import pyebur128

    pcm = np.ascontiguousarray(pcm, dtype=np.float32)
    meter = pyebur128.R128State(pcm.shape[1], sr, pyebur128.MeasurementMode.MODE_I)
    meter.add_frames(pcm.ravel(), len(pcm))
    return float(pyebur128.get_loudness_global(meter))


def essentia_tempo(mono: np.ndarray, sr: int) -> float:
    """Essentia's ``RhythmExtractor2013`` (multifeature) BPM; it wants 44.1 kHz mono float32,
    so other rates go through soxr's HQ resampler first."""
    import essentia.standard as es
    import soxr

    if sr != 44_100:
        mono = soxr.resample(mono, sr, 44_100, quality="HQ")
    return float(
        es.RhythmExtractor2013(method="multifeature")(np.ascontiguousarray(mono, dtype=np.float32))[0]
    )

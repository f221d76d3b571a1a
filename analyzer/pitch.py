"""Pitch steadiness: YIN f0 per frame and how steadily it holds.

- :func:`yin_f0`: YIN (de Cheveigné & Kawahara 2002, "YIN, a fundamental
  frequency estimator for speech and music", JASA 111(4)) with the cumulative
  mean normalised difference, absolute threshold and parabolic interpolation.
- :func:`pitch_stability`: the fraction of half-semitone-steady steps between
  consecutive voiced frames.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import scipy.fft

from analyzer.grid import N_FFT, SR

F0_MIN_HZ = 65.0
F0_MAX_HZ = 2093.0
YIN_THRESHOLD = 0.1
YIN_WIN = N_FFT // 2
TAU_MIN = int(SR // F0_MAX_HZ)
TAU_MAX = min(int(np.ceil(SR / F0_MIN_HZ)), N_FFT - YIN_WIN - 1)


@nb.njit(cache=True, nogil=True)
def _yin_pick(cmnd, tau_min, tau_max, threshold):  # pragma: no cover - numba
    n = cmnd.shape[0]
    f0 = np.zeros(n, dtype=np.float32)
    for i in range(n):
        d = cmnd[i]
        tau = -1
        for t in range(tau_min, tau_max):
            if d[t] < threshold:
                while t + 1 < tau_max and d[t + 1] < d[t]:
                    t += 1
                tau = t
                break
        if tau < 1:
            continue
        a, b, c = d[tau - 1], d[tau], d[tau + 1]
        den = a - 2.0 * b + c
        shift = 0.5 * (a - c) / den if den > 0 else 0.0
        freq = SR / (tau + shift)
        if F0_MIN_HZ <= freq <= F0_MAX_HZ:
            f0[i] = freq
    return f0


def yin_f0(frames: np.ndarray) -> np.ndarray:
    """YIN fundamental frequency (Hz) of each 2048-sample frame at 22 050 Hz, 0 if unvoiced.

    Difference function over a 1024-sample window for lags up to 340 (65 Hz),
    computed by FFT; voiced when the cumulative mean normalised difference
    dips below 0.1 in 65–2093 Hz; the first such trough, parabolically refined.
    """
    if len(frames) == 0:
        return np.zeros(0, dtype=np.float32)
    spec_a = scipy.fft.rfft(frames[:, :YIN_WIN], n=N_FFT, axis=1)
    spec_b = scipy.fft.rfft(frames, n=N_FFT, axis=1)
    corr = scipy.fft.irfft(np.conj(spec_a) * spec_b, n=N_FFT, axis=1)[:, : TAU_MAX + 2]
    sq = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames * frames, axis=1)], axis=1)
    taus = np.arange(TAU_MAX + 2)
    energy_0 = sq[:, YIN_WIN : YIN_WIN + 1]
    energy_tau = sq[:, taus + YIN_WIN] - sq[:, taus]
    diff = np.maximum(energy_0 + energy_tau - 2.0 * corr, 0.0)
    diff[:, 0] = 0.0
    cum = np.cumsum(diff[:, 1:], axis=1)
    cmnd = np.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] * taus[1:] / np.where(cum > 0, cum, 1.0)
    return _yin_pick(cmnd, TAU_MIN, TAU_MAX + 1, YIN_THRESHOLD)


def pitch_stability(f0: np.ndarray) -> float:
    """Fraction of steps between consecutive voiced frames where f0 moves less than
    half a semitone. 0.0 with fewer than 10 voiced frames or no consecutive pair."""
    voiced = f0 > 0
    if voiced.sum() < 10:
        return 0.0
    pairs = voiced[:-1] & voiced[1:]
    if not pairs.any():
        return 0.0
    steps = np.abs(12.0 * np.log2(f0[1:][pairs] / f0[:-1][pairs]))
    return float(np.mean(steps < 0.5))

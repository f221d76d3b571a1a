"""Spectral balance: the share of the track's power in seven bands."""

from __future__ import annotations

import itertools
import math

import numpy as np

from dsp.stft import FREQS

BAND_EDGES_HZ = (20.0, 60.0, 250.0, 500.0, 2000.0, 4000.0, 8000.0, 11025.0)


def _band_matrix() -> np.ndarray:
    """``(bins, 7)`` one-hot: bin k belongs to band b if ``lo <= f_k < hi`` (the
    last band includes the Nyquist frequency). Bins below 20 Hz belong to none."""
    m = np.zeros((len(FREQS), len(BAND_EDGES_HZ) - 1))
    for b, (lo, hi) in enumerate(itertools.pairwise(BAND_EDGES_HZ)):
        last = b == len(BAND_EDGES_HZ) - 2
        m[:, b] = (FREQS >= lo) & ((FREQS <= hi) if last else (FREQS < hi))
    return m


BANDS = _band_matrix()


def band_shares(power_sums: np.ndarray) -> np.ndarray:
    """Each band's fraction of the total (sum 1; all 0 for silence). A ratio of
    power sums, so it does not depend on playback level."""
    total = float(power_sums.sum())
    return np.zeros(len(power_sums)) if total <= 0.0 else power_sums / total


def bass_mid_ratio(power_sums: np.ndarray) -> float:
    """``10 log10(P[60,250) / P[250,2000))`` in dB, clipped to ±60; 0.0 if both are zero."""
    bass = float(power_sums[1])
    mid = float(power_sums[2] + power_sums[3])
    if bass <= 0.0 and mid <= 0.0:
        return 0.0
    if bass <= 0.0:
        return -60.0
    if mid <= 0.0:
        return 60.0
    return float(min(60.0, max(-60.0, 10.0 * math.log10(bass / mid))))

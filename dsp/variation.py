"""How the level moves through the track: short-term loudness spread, and the
crest factor and peak of consecutive 1-second windows.

All three are computed from the merged 100 ms sub-block series of
:mod:`dsp.dynamics` (a 1-second window is 10 sub-blocks, a 3-second
short-term window 30), so they cover the whole track at no extra DSP cost.
"""

from __future__ import annotations

import numpy as np

from dsp.dynamics import ABS_GATE_LUFS, SILENCE_MS, block_energies, lufs_of

WINDOW_SUBBLOCKS = 10  # 1 s
SHORT_TERM_SUBBLOCKS = 30  # 3 s (EBU Tech 3341 short-term loudness)
RELATIVE_GATE_LU = -20.0  # EBU Tech 3342


def loudness_variation_std(kw: np.ndarray, count: np.ndarray, sb_len: int) -> float:
    """Standard deviation (LU) of BS.1770 short-term loudness.

    3 s windows every 100 ms, gated as EBU Tech 3342 gates loudness range:
    absolute gate -70 LUFS, then a relative gate 20 LU below the energy mean
    of the windows that passed. 0.0 with fewer than two gated windows.
    """
    levels = gated_short_term_levels(kw, count, sb_len)
    return float(np.std(levels)) if len(levels) >= 2 else 0.0


def gated_short_term_levels(kw: np.ndarray, count: np.ndarray, sb_len: int) -> np.ndarray:
    """BS.1770 short-term loudness (LUFS) of the 3 s windows every 100 ms that pass the
    EBU Tech 3342 gates: absolute -70 LUFS, then 20 LU below the energy mean of the
    windows that passed it. Shared by loudness variation and loudness range (LRA)."""
    energies = block_energies(kw, count, sb_len, SHORT_TERM_SUBBLOCKS)
    energies = energies[lufs_of(energies) > ABS_GATE_LUFS]
    if len(energies) == 0:
        return energies
    levels = lufs_of(energies)
    return levels[levels > lufs_of(energies.mean()) + RELATIVE_GATE_LU]


def _windows(mid_sq: np.ndarray, mid_peak: np.ndarray, count: np.ndarray, sb_len: int):
    """RMS and peak of m in each complete, non-silent 1-second window."""
    n = len(count) // WINDOW_SUBBLOCKS
    shape = (n, WINDOW_SUBBLOCKS)
    cut = n * WINDOW_SUBBLOCKS
    sq = mid_sq[:cut].reshape(shape).sum(axis=1)
    cnt = count[:cut].reshape(shape).sum(axis=1)
    peak = mid_peak[:cut].reshape(shape).max(axis=1) if n else np.zeros(0)
    keep = (cnt >= WINDOW_SUBBLOCKS * sb_len) & (sq >= SILENCE_MS * cnt) & (peak > 0)
    return np.sqrt(sq[keep] / cnt[keep]), peak[keep]


def dynamic_range_variation(
    mid_sq: np.ndarray, mid_peak: np.ndarray, count: np.ndarray, sb_len: int
) -> float:
    """Standard deviation (dB) of the crest factor of consecutive non-silent
    1-second windows of m. 0.0 with fewer than two such windows."""
    rms, peak = _windows(mid_sq, mid_peak, count, sb_len)
    if len(rms) < 2:
        return 0.0
    return float(np.std(20.0 * np.log10(peak / rms)))


def peak_consistency(mid_sq: np.ndarray, mid_peak: np.ndarray, count: np.ndarray, sb_len: int) -> float:
    """``1 / (1 + CV)`` of the sample peaks of consecutive non-silent 1-second
    windows of m (CV = std / mean). 1.0 for a steady level; 0.0 if no window."""
    _, peak = _windows(mid_sq, mid_peak, count, sb_len)
    if len(peak) == 0:
        return 0.0
    return float(1.0 / (1.0 + np.std(peak) / np.mean(peak)))

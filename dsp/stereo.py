"""Stereo image: width and phase correlation of L and R over the whole track."""

from __future__ import annotations

import math

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def _lr_sums(pcm, preroll):  # pragma: no cover - numba
    sl = sr = sll = srr = slr = 0.0
    right = 1 if pcm.shape[1] > 1 else 0
    for i in range(preroll, pcm.shape[0]):
        lv = np.float64(pcm[i, 0])
        rv = np.float64(pcm[i, right])
        sl += lv
        sr += rv
        sll += lv * lv
        srr += rv * rv
        slr += lv * rv
    return np.array([sl, sr, sll, srr, slr, pcm.shape[0] - preroll])


def lr_sums(pcm: np.ndarray, preroll: int) -> np.ndarray:
    """``[ΣL, ΣR, ΣL², ΣR², ΣLR, n]`` over the chunk's owned samples.

    The first two channels are L and R; mono input counts as ``L = R = x``.
    """
    return _lr_sums(pcm, preroll)


def stereo_width(sums: np.ndarray) -> float:
    """``ΣS² / (ΣM² + ΣS²)`` with ``M = (L+R)/2``, ``S = (L-R)/2``: mono 0,
    uncorrelated equal channels 0.5, opposite polarity 1. 0.0 for silence."""
    _, _, sll, srr, slr, _ = sums
    mm = (sll + 2.0 * slr + srr) / 4.0
    ss = max(0.0, (sll - 2.0 * slr + srr) / 4.0)
    return 0.0 if mm + ss <= 0.0 else float(ss / (mm + ss))


def phase_correlation(sums: np.ndarray) -> float:
    """Pearson correlation of L and R over the track; 1.0 for mono or a silent channel."""
    sl, sr, sll, srr, slr, n = sums
    if n <= 0:
        return 1.0
    var_l = sll / n - (sl / n) ** 2
    var_r = srr / n - (sr / n) ** 2
    # a channel whose variance is at float-rounding level of its energy is silent (or DC)
    if var_l <= 1e-12 * max(sll / n, 1e-30) or var_r <= 1e-12 * max(srr / n, 1e-30):
        return 1.0
    cov = slr / n - (sl / n) * (sr / n)
    return float(min(1.0, max(-1.0, cov / math.sqrt(var_l * var_r))))

"""Gentle broadband compression: feed-forward, stereo-linked, soft knee.

The design of Giannoulis, Massberg & Reiss, "Digital dynamic range compressor
design — a tutorial and analysis" (JAES 60(6), 2012): a static curve with a
quadratic soft knee (eq. 4) on the level in dB, and a smooth branching peak
detector on the gain (sec. 3.2) with separate attack and release. The level is
the mean square of the channels smoothed over ``rms_s``, so single samples do
not trigger it (the limiter is for peaks).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def _compress(x, state, threshold_db, ratio, knee_db, a_rms, a_att, a_rel):  # pragma: no cover - numba
    n, ch = x.shape
    out = np.empty_like(x)
    ms, gr = state[0], state[1]
    slope = 1.0 - 1.0 / ratio
    knee_start = 10.0 ** ((threshold_db - knee_db / 2.0) / 10.0)  # mean square where the knee begins
    for i in range(n):
        e = 0.0
        for c in range(ch):
            e += x[i, c] * x[i, c]
        ms += a_rms * (e / ch - ms)
        want = 0.0
        if ms > knee_start:  # below the knee no logarithm is needed: the curve is flat there
            over = 10.0 * math.log10(ms) - threshold_db
            if 2.0 * over >= knee_db:
                want = slope * over
            else:
                t = over + knee_db / 2.0
                want = slope * t * t / (2.0 * knee_db)
        gr += (a_att if want > gr else a_rel) * (want - gr)
        g = 1.0 if gr < 1e-9 else math.exp(-gr * (math.log(10.0) / 20.0))
        for c in range(ch):
            out[i, c] = x[i, c] * g
    state[0], state[1] = ms, gr
    return out


class Compressor:
    """Stream compressor for ``(n, ch)`` float64 blocks; a no-op when ``ratio`` is 1."""

    def __init__(
        self,
        sample_rate: int,
        threshold_db: float,
        ratio: float,
        knee_db: float = 6.0,
        rms_s: float = 0.01,
        attack_s: float = 0.02,
        release_s: float = 0.25,
    ) -> None:
        self.threshold_db = threshold_db
        self.ratio = ratio
        self.knee_db = knee_db
        self.a = [1.0 - math.exp(-1.0 / (t * sample_rate)) for t in (rms_s, attack_s, release_s)]
        self.state = np.zeros(2)  # smoothed mean square, gain reduction in dB

    def process(self, block: np.ndarray) -> np.ndarray:
        if self.ratio <= 1.0 or len(block) == 0:
            return block
        return _compress(
            np.ascontiguousarray(block), self.state, self.threshold_db, self.ratio, self.knee_db, *self.a
        )

"""Lookahead true-peak limiter: 4x-oversampled detection, smoothed attack, release that does not pump.

Per sample ``m`` of the stream, the detector (:func:`fpstream.master.truepeak.interpolated_peaks`,
the BS.1770-4 Annex 2 interpolator) gives the largest oversampled magnitude near ``m - 5.5``;
the gain that sample needs is ``d = min(1, ceiling / peak)``. The audio is delayed by
``D = attack + 12`` samples, and the gain applied to it is

1. ``w[m]``: the minimum of ``d`` over the last ``D + 2`` samples, so the full reduction
   holds over the whole 12-tap support of the interpolator around a peak, not only at the
   peak's sample (an output interpolation mixes ±6 neighbours, each with its own gain);
2. ``r[m]``: ``w`` through a two-envelope release (below);
3. ``G[m]``: the mean of ``r`` over the last ``attack`` samples: a linear attack ramp that is
   already down when the peak arrives, since every term of the mean is at most ``d`` there.

So ``G <= d`` wherever it matters, by construction rather than by tuning. The release
(Giannoulis, Massberg & Reiss, "Digital dynamic range compressor design", JAES 2012, sec. 3.2,
smooth decoupled peak detector) runs on the gain reduction ``u = 1 - w``: a fast envelope
(instant attack, ``release_s`` release) and a slow one that follows the fast one with
``slow_s``; the applied reduction is the larger. An isolated transient recovers in
``release_s``; under sustained limiting (a kick every beat) the slow envelope holds the
gain between hits instead of letting it swing at the beat rate, which is what pumping is.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
from scipy.ndimage import minimum_filter1d

from fpstream.master.truepeak import DELAY, HISTORY, interpolated_peaks


@nb.njit(cache=True, nogil=True)
def _release_and_attack(w, state, ring):  # pragma: no cover - numba
    """Release envelopes on ``w``, then the mean of the last ``len(ring)`` values, one sample at a time.

    ``state`` is ``[fast, slow, beta_fast, alpha_slow, running sum, ring position]``; the running
    sum is updated the same way whatever the block boundaries, so results do not depend on them.
    """
    fast, slow, beta_fast, alpha_slow, total = state[0], state[1], state[2], state[3], state[4]
    pos = int(state[5])
    size = len(ring)
    out = np.empty_like(w)
    for i in range(len(w)):
        u = 1.0 - w[i]
        fast = max(u, fast * beta_fast)
        slow += alpha_slow * (fast - slow)
        r = 1.0 - max(fast, slow)
        total += r - ring[pos]
        ring[pos] = r
        pos = (pos + 1) % size
        out[i] = min(total / size, w[i])  # the mean of values <= d is <= d; min() removes rounding
    state[0], state[1], state[4], state[5] = fast, slow, total, pos
    return out


class TruePeakLimiter:
    """Stateful limiter for ``(n, ch)`` float64 blocks; output lags input by :attr:`latency` samples."""

    def __init__(
        self,
        sample_rate: int,
        channels: int,
        ceiling_dbtp: float,
        attack_s: float = 0.002,
        release_s: float = 0.08,
        slow_s: float = 0.5,
    ) -> None:
        self.ceiling = 10.0 ** (ceiling_dbtp / 20.0)
        self.attack = max(1, round(attack_s * sample_rate))
        self.latency = self.attack + 2 * DELAY  # D
        self.window = self.latency + 2  # W: the running minimum's length
        beta_fast = math.exp(-1.0 / (release_s * sample_rate))
        alpha_slow = 1.0 - math.exp(-1.0 / (slow_s * sample_rate))
        self.state = np.array([0.0, 0.0, beta_fast, alpha_slow, float(self.attack), 0.0])
        self.ring = np.ones(self.attack)  # the last ``attack`` released gains
        self.x_hist = np.zeros((HISTORY, channels))  # detector filter history
        self.d_hist = np.ones(self.window - 1)  # for the running minimum over W
        self.delay = np.zeros((self.latency, channels))  # the audio delay line
        self.max_reduction = 0.0  # largest 1 - G applied

    def process(self, block: np.ndarray) -> np.ndarray:
        """Limit the next block; returns as many samples, ``latency`` samples late."""
        n = len(block)
        if n == 0:
            return block
        peaks = interpolated_peaks(self.x_hist, block, self.ceiling)  # exact wherever it matters
        self.x_hist = np.concatenate((self.x_hist, block))[-HISTORY:]
        with np.errstate(divide="ignore", over="ignore"):  # silence: ceiling / 0 = inf → 1
            need = np.minimum(1.0, self.ceiling / peaks)
        ext = np.concatenate((self.d_hist, need))
        # origin shifts the window onto the last W samples (a causal running minimum)
        w = minimum_filter1d(ext, self.window, mode="nearest", origin=(self.window - 1) // 2)
        w = w[self.window - 1 :]
        self.d_hist = ext[len(ext) - (self.window - 1) :]
        gain = _release_and_attack(w, self.state, self.ring)
        self.max_reduction = max(self.max_reduction, float(1.0 - gain.min()))
        audio = np.concatenate((self.delay, block))
        self.delay = audio[n:]
        return audio[:n] * gain[:, None]

    @property
    def max_reduction_db(self) -> float:
        """Largest gain reduction applied so far, dB (>= 0)."""
        return max(0.0, -20.0 * math.log10(max(1e-12, 1.0 - self.max_reduction)))

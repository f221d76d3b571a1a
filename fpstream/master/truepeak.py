"""True-peak measurement (ITU-R BS.1770-4 Annex 2): 4x oversampling by a 48-tap FIR.

The standard's interpolator is a polyphase filter of four phases of 12 taps. 4x meters
do not all use it: libebur128 (FFmpeg's ``ebur128``, pyebur128) interpolates with a
49-tap Hann-windowed sinc, and on content near Nyquist the two read up to about a tenth
of a dB apart, either way. A ceiling has to hold on the meters people use, so every
sample is interpolated by both and the larger magnitude counts (:data:`PHASES`).
A stream is measured block by block: the last 11 input samples of each channel
are kept as the filter's history, so the result does not depend on block size.
The limiter uses the same per-sample peaks (:func:`interpolated_peaks`) for its
detection, so what it keeps under the ceiling is what this meter reads.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

#: BS.1770-4 Annex 2, Table 1: the four phases of the 48-tap interpolation filter.
ANNEX2_PHASES = np.array(
    [
        [
            0.0017089843750,
            0.0109863281250,
            -0.0196533203125,
            0.0332031250000,
            -0.0594482421875,
            0.1373291015625,
            0.9721679687500,
            -0.1022949218750,
            0.0476074218750,
            -0.0266113281250,
            0.0148925781250,
            -0.0083007812500,
        ],
        [
            -0.0291748046875,
            0.0292968750000,
            -0.0517578125000,
            0.0891113281250,
            -0.1665039062500,
            0.4650878906250,
            0.7797851562500,
            -0.2003173828125,
            0.1015625000000,
            -0.0582275390625,
            0.0330810546875,
            -0.0189208984375,
        ],
        [
            -0.0189208984375,
            0.0330810546875,
            -0.0582275390625,
            0.1015625000000,
            -0.2003173828125,
            0.7797851562500,
            0.4650878906250,
            -0.1665039062500,
            0.0891113281250,
            -0.0517578125000,
            0.0292968750000,
            -0.0291748046875,
        ],
        [
            -0.0083007812500,
            0.0148925781250,
            -0.0266113281250,
            0.0476074218750,
            -0.1022949218750,
            0.9721679687500,
            0.1373291015625,
            -0.0594482421875,
            0.0332031250000,
            -0.0196533203125,
            0.0109863281250,
            0.0017089843750,
        ],
    ]
)


def windowed_sinc_phases(taps: int = 49, factor: int = 4) -> np.ndarray:
    """The polyphase bank ``(factor, ceil(taps / factor))`` of a Hann-windowed sinc
    interpolator with cut-off at the original Nyquist frequency (the design libebur128
    uses: 49 taps at 4x). Phase ``p`` of output ``m`` lies at input time ``m - 6 + p/4``."""
    j = np.arange(taps)
    centre = (taps - 1) / 2.0
    h = np.sinc((j - centre) / factor) * 0.5 * (1.0 - np.cos(2.0 * np.pi * j / (taps - 1)))
    per = -(-taps // factor)
    bank = np.zeros((factor, per))
    for p in range(factor):
        bank[p, : len(h[p::factor])] = h[p::factor]
    return bank


def _bank() -> np.ndarray:
    # the sinc's phase 0 is the input sample itself, which the kernel reads anyway
    sinc = windowed_sinc_phases()[1:]
    assert not sinc[:, ANNEX2_PHASES.shape[1] :].any()
    return np.vstack((ANNEX2_PHASES, sinc[:, : ANNEX2_PHASES.shape[1]]))


#: Both interpolators' phases: ``(7, 12)``, the four of Annex 2 and the sinc's three between samples.
PHASES = _bank()
TAPS = PHASES.shape[1]
HISTORY = TAPS - 1
#: Output ``m`` of either filter interpolates between input samples ``m - 6`` and ``m - 5``.
DELAY = 6
#: No interpolated value exceeds the largest of the 12 samples it is made of times this.
GAIN_BOUND = float(np.abs(PHASES).sum(axis=1).max())


@nb.njit(cache=True, nogil=True)
def _peaks(ext, phases, floor, track):  # pragma: no cover - numba
    n = ext.shape[0] - HISTORY
    ch = ext.shape[1]
    out = np.zeros(n)
    for m in range(n):
        best = 0.0
        local = 0.0
        for c in range(ch):
            # the samples the interpolation lies between count too (Annex 2's phase 0 is not unity)
            best = max(best, abs(ext[m + HISTORY - DELAY, c]), abs(ext[m + HISTORY - DELAY + 1, c]))
            for k in range(TAPS):
                local = max(local, abs(ext[m + HISTORY - k, c]))
        if local * GAIN_BOUND > floor:  # else no interpolated value can exceed the floor: skip the FIR
            for c in range(ch):
                for p in range(phases.shape[0]):
                    acc = 0.0
                    for k in range(TAPS):
                        acc += phases[p, k] * ext[m + HISTORY - k, c]
                    best = max(best, abs(acc))
        out[m] = best
        if track and best > floor:
            floor = best
    return out


def interpolated_peaks(
    history: np.ndarray, block: np.ndarray, floor: float = 0.0, track: bool = False
) -> np.ndarray:
    """Per output sample ``m`` of ``block``: the largest 4x-oversampled magnitude over all
    channels and both interpolators near input time ``m - 5.5`` (the interpolated points
    between samples ``m - 6`` and ``m - 5`` of the stream, and those two samples).

    ``history`` is the stream's previous :data:`HISTORY` samples ``(11, ch)`` (zeros at the
    start); ``block`` is ``(n, ch)`` float64. Returns ``(n,)`` linear magnitudes, exact
    wherever they exceed ``floor``; elsewhere a value at most ``floor`` (the interpolation is
    skipped where :data:`GAIN_BOUND` proves it cannot reach ``floor``). With ``track`` the
    floor rises to the largest value found so far (a meter needs only the maximum).
    """
    ext = np.concatenate((history, block)) if len(history) else block
    return _peaks(np.ascontiguousarray(ext, dtype=np.float64), PHASES, floor, track)


class TruePeakMeter:
    """The maximum true peak of a stream fed block by block (BS.1770-4 Annex 2)."""

    def __init__(self, channels: int) -> None:
        self.history = np.zeros((HISTORY, channels))
        self.peak = 0.0

    def add(self, block: np.ndarray) -> None:
        """Measure the next ``(n, channels)`` float64 samples."""
        if len(block) == 0:
            return
        q = interpolated_peaks(self.history, block, self.peak, track=True)
        self.peak = max(self.peak, float(q.max()) if len(q) else 0.0)
        self.history = np.concatenate((self.history, block))[-HISTORY:]

    def finish(self) -> float:
        """True peak in dBTP after flushing the filter (-inf for digital silence)."""
        self.add(np.zeros((TAPS, self.history.shape[1])))
        return 20.0 * math.log10(self.peak) if self.peak > 0 else -math.inf

"""Loudness of a stream fed block by block, with the analyzer's BS.1770-4 code.

The K-weighting filters, channel weights, 100 ms sub-block grid and the gating
of :mod:`dsp.dynamics` are reused as they are; only the filter state is
carried from block to block here (:func:`fpstream.master.eq.cascade`) instead
of settled by a pre-roll, so a stream measures exactly like the whole file.
Loudness range follows EBU Tech 3342 with :mod:`dsp.variation`'s
short-term windows (3 s every 100 ms) and gates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsp.dynamics import (
    channel_weights,
    integrated_loudness,
    kweighting,
)
from dsp.grid import subblock_len
from dsp.variation import gated_short_term_levels
from fpstream.master.eq import cascade
from fpstream.master.truepeak import TruePeakMeter


@dataclass(frozen=True)
class Loudness:
    """What a stream measured: integrated loudness (LUFS), true peak (dBTP), loudness range (LU)."""

    lufs: float
    true_peak_dbtp: float
    lra_lu: float


def loudness_range(kw: np.ndarray, count: np.ndarray, sb_len: int) -> float:
    """Loudness range in LU (EBU Tech 3342): the spread between the 10th and 95th
    percentiles of short-term loudness (3 s windows every 100 ms), absolute gate
    -70 LUFS, relative gate 20 LU below the mean of the windows that passed it."""
    levels = gated_short_term_levels(kw, count, sb_len)
    if len(levels) < 2:
        return 0.0
    low, high = np.percentile(levels, [10.0, 95.0])
    return float(high - low)


class LoudnessMeter:
    """Integrated loudness, loudness range and true peak of a stream of ``(n, ch)`` float64 blocks."""

    def __init__(self, sample_rate: int, channels: int, true_peak: bool = True) -> None:
        coeffs = kweighting(sample_rate)  # [[b0, b1, b2, a1, a2], ...]
        self.sos = np.column_stack((coeffs[:, :3], np.ones(2), coeffs[:, 3:]))
        self.state = np.zeros((2, channels, 2))
        self.weights = channel_weights(channels)
        self.sb_len = subblock_len(sample_rate)
        self.kw = np.zeros(0)
        self.count = np.zeros(0)
        self.done = 0  # samples measured so far
        self.peak = TruePeakMeter(channels) if true_peak else None

    def add(self, block: np.ndarray) -> None:
        if len(block) == 0:
            return
        filtered = cascade(block, self.sos, self.state)
        energy = (filtered * filtered) @ self.weights
        index = (self.done + np.arange(len(block))) // self.sb_len
        first = self.done // self.sb_len
        sums = np.bincount(index - first, weights=energy)
        counts = np.bincount(index - first).astype(np.float64)
        end = first + len(sums)
        if end > len(self.kw):
            grow = max(end, 2 * len(self.kw))
            self.kw = np.concatenate((self.kw, np.zeros(grow - len(self.kw))))
            self.count = np.concatenate((self.count, np.zeros(grow - len(self.count))))
        self.kw[first:end] += sums
        self.count[first:end] += counts
        self.done += len(block)
        if self.peak is not None:
            self.peak.add(block)

    def integrated(self) -> float:
        """Integrated loudness so far, LUFS (-70.0 when no block passes the gates)."""
        n = -(-self.done // self.sb_len)
        return integrated_loudness(self.kw[:n], self.count[:n], self.sb_len)

    def finish(self) -> Loudness:
        n = -(-self.done // self.sb_len)
        kw, count = self.kw[:n], self.count[:n]
        peak = self.peak.finish() if self.peak is not None else float("nan")
        return Loudness(
            integrated_loudness(kw, count, self.sb_len), peak, loudness_range(kw, count, self.sb_len)
        )

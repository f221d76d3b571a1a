"""The fixed grids a track is measured on, and which chunk owns which part of them.

A chunk of native samples ``[start, start + frames)`` *owns*:

- its native samples (loudness, peaks, stereo sums are accumulated there);
- the 22 050 Hz resampled samples whose last input sample falls inside it;
- the STFT frames whose last resampled sample it owns;
- the HPSS frames 15 frames (half the median kernel) behind its STFT frames,
  because a time-median needs 15 frames of future context;
- the last chunk owns everything up to the end of the track (zero padded).

Ownership depends only on sample positions, never on how the track was cut,
so every frame is computed exactly once, from the same samples, whatever the
chunk size. The pre-roll a chunk carries supplies the past context.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SR = 22_050  # Hz, rate of everything spectral, rhythmic and tonal
N_FFT = 2048  # samples at SR
HOP = 512  # samples at SR
HPSS_KERNEL = 31  # frames / bins (Fitzgerald 2010, librosa default)
HPSS_HALF = HPSS_KERNEL // 2


@dataclass(frozen=True)
class Resampler:
    """Polyphase anti-aliased resampler ``sample_rate -> SR``, identical to
    ``scipy.signal.resample_poly(x, up, down)`` (Kaiser-windowed sinc, beta 5,
    10 zero crossings), but evaluable on any output range from a window of input.

    Output ``j`` is ``sum_k h[j*down + delay - k*up] * x[k]`` with ``x`` zero
    outside the track.
    """

    up: int
    down: int
    taps: np.ndarray  # float64, already scaled by ``up``

    @property
    def delay(self) -> int:
        return (len(self.taps) - 1) // 2

    @property
    def identity(self) -> bool:
        return self.up == self.down == 1

    def n_out(self, n_in: int) -> int:
        """Output length for a whole track of ``n_in`` samples (as resample_poly)."""
        return -(-n_in * self.up // self.down)

    def owned_end(self, end: int) -> int:
        """Number of outputs whose every input sample lies before native sample ``end``."""
        return max(0, -(-(end * self.up - self.delay) // self.down))

    def first_input(self, j: int) -> int:
        """First native sample that output ``j`` depends on."""
        return -(-(j * self.down + self.delay - (len(self.taps) - 1)) // self.up)


def kaiser_lowpass(numtaps: int, cutoff: float, beta: float) -> np.ndarray:
    """Linear-phase low-pass FIR: a sinc cut off at ``cutoff`` (fraction of Nyquist)
    under a Kaiser window, scaled to unit gain at DC (Kaiser 1974; what
    ``scipy.signal.firwin(numtaps, cutoff, window=("kaiser", beta))`` designs).

    Written out because importing ``scipy.signal`` for this one function costs
    every analyzer about 50 MB of resident memory."""
    n = np.arange(numtaps) - (numtaps - 1) / 2
    taps = cutoff * np.sinc(cutoff * n) * np.kaiser(numtaps, beta)
    return taps / taps.sum()


@lru_cache(maxsize=32)
def resampler_for(sample_rate: int) -> Resampler:
    """Design the resampler from ``sample_rate`` to :data:`SR` (cached per rate)."""
    g = math.gcd(sample_rate, SR)
    up, down = SR // g, sample_rate // g
    if up == down == 1:
        return Resampler(1, 1, np.ones(1))
    max_rate = max(up, down)
    half_len = 10 * max_rate
    taps = kaiser_lowpass(2 * half_len + 1, 1.0 / max_rate, beta=5.0) * up
    return Resampler(up, down, np.ascontiguousarray(taps, dtype=np.float64))


def n_frames(n_resampled: int) -> int:
    """STFT frames covering a track of ``n_resampled`` samples at SR (last one zero padded)."""
    if n_resampled <= 0:
        return 0
    return 1 + max(0, -(-(n_resampled - N_FFT) // HOP))


def complete_frames(n_available: int) -> int:
    """Frames that lie entirely within the first ``n_available`` resampled samples."""
    return 0 if n_available < N_FFT else (n_available - N_FFT) // HOP + 1


def subblock_len(sample_rate: int) -> int:
    """Samples per 100 ms sub-block (as libebur128: ``(rate + 5) // 10``)."""
    return (sample_rate + 5) // 10


@dataclass(frozen=True)
class ChunkPlan:
    """The ranges one chunk owns and the context it must compute to produce them."""

    n_out_total: int  # resampled length of the whole track, or -1 before the last chunk
    frame_lo: int  # first owned STFT frame
    frame_hi: int
    hpss_lo: int  # first owned HPSS frame
    hpss_hi: int
    stft_lo: int  # first STFT frame that must be computed (context included)
    stft_hi: int

    @property
    def resampled_lo(self) -> int:
        return self.stft_lo * HOP

    @property
    def resampled_hi(self) -> int:
        return self.resampled_lo if self.stft_hi <= self.stft_lo else (self.stft_hi - 1) * HOP + N_FFT


def plan_chunk(sample_rate: int, start: int, frames: int, last: bool) -> ChunkPlan:
    """Ownership for the chunk ``[start, start + frames)`` of a track at ``sample_rate``."""
    rs = resampler_for(sample_rate)
    end = start + frames
    f_prev = complete_frames(rs.owned_end(start))
    h_prev = max(0, f_prev - HPSS_HALF)
    if last:
        n_out = rs.n_out(end)
        f_end = n_frames(n_out)
        h_end = f_end
    else:
        n_out = -1
        f_end = complete_frames(rs.owned_end(end))
        h_end = max(0, f_end - HPSS_HALF)
    f_end = max(f_end, f_prev)
    h_end = max(h_end, h_prev)
    # one frame before the first owned one for spectral flux; 15 before the HPSS range
    stft_lo = max(0, min(f_prev - 1, h_prev - HPSS_HALF))
    return ChunkPlan(n_out, f_prev, f_end, h_prev, h_end, stft_lo, f_end)

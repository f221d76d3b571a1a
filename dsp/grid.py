"""The fixed grids a track is measured on, and which chunk owns which part of them.

A chunk of native samples ``[start, start + frames)`` *owns*:

- its native samples (loudness, peaks, stereo sums are accumulated there);
- the 22 050 Hz resampled samples whose resampler block (see :class:`Resampler`)
  reads no input sample after it;
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


# The resampler's filter. The contract (FINGERPRINT.md, conventions) asks for a passband flat
# within 0.1 dB to 10 kHz and >= 100 dB of attenuation at and above 11 025 Hz; inside that, the
# transition is placed where soxr's HQ setting (librosa's default, the oracle) has it, within
# 1.6 dB of its response from 10.2 to 10.9 kHz, so content there weighs the same in both.
PASS_HZ = 10_150.0
STOP_HZ = 10_975.0
STOP_DB = 105.0  # 5 dB of margin over the contract's 100 dB
BLOCK_S = 0.186  # seconds of input per block transform (8192 samples at 44.1 kHz): the pre-roll covers two


@dataclass(frozen=True)
class Resampler:
    """Anti-aliased resampler ``sample_rate -> SR`` (``up / down`` in lowest terms) by fast
    convolution on a fixed grid of blocks (overlap-save; Oppenheim & Schafer, *Discrete-Time
    Signal Processing*, 3rd ed., 8.7.3), with the rate change done in the frequency domain.

    Output block ``b`` holds the outputs ``[b * hop_out, (b + 1) * hop_out)``. It is computed
    from the ``n_in`` input samples starting at ``b * hop_in - pad`` (zero outside the track):
    their spectrum times the filter's (a Kaiser-windowed sinc, zero phase), truncated (or
    zero-extended) to ``n_out = n_in * up / down`` points and transformed back; the middle
    ``hop_out`` samples are the block's outputs, the ``pad`` samples of context either side
    absorb the circular wrap. Output ``j`` lies at input time ``j * down / up``.

    Because blocks sit on a grid fixed from sample 0 and each is computed from the same
    samples by the same arithmetic, any chunking of a track gives bit-identical outputs.
    """

    up: int
    down: int
    n_in: int  # input samples per block transform
    hop_in: int  # input samples per block step (a multiple of ``down``)
    pad: int  # input samples of context before and after the block (a multiple of ``down``)
    response: np.ndarray  # complex filter response on the first ``n_bins`` bins, scaled by n_out / n_in
    numtaps: int  # length of the FIR filter (for documentation and tests)

    @property
    def identity(self) -> bool:
        return self.up == self.down == 1

    @property
    def n_out_block(self) -> int:
        return self.n_in * self.up // self.down

    @property
    def hop_out(self) -> int:
        return self.hop_in * self.up // self.down

    @property
    def offset_out(self) -> int:
        """Index, in a block's inverse transform, of the block's first output."""
        return self.pad * self.up // self.down

    def n_out(self, n_in: int) -> int:
        """Output length for a whole track of ``n_in`` samples (``ceil(n_in * up / down)``)."""
        return -(-n_in * self.up // self.down)

    def owned_end(self, end: int) -> int:
        """Number of outputs whose blocks need no input sample at or after native sample ``end``."""
        if self.identity:
            return max(0, end)
        return self.hop_out * max(0, (end - self.pad) // self.hop_in)

    def first_input(self, j: int) -> int:
        """First native sample that output ``j`` depends on (that its block reads)."""
        if self.identity:
            return j
        return (j // self.hop_out) * self.hop_in - self.pad


def kaiser_lowpass(numtaps: int, cutoff: float, beta: float) -> np.ndarray:
    """Linear-phase low-pass FIR: a sinc cut off at ``cutoff`` (fraction of Nyquist)
    under a Kaiser window, scaled to unit gain at DC (Kaiser 1974; what
    ``scipy.signal.firwin(numtaps, cutoff, window=("kaiser", beta))`` designs).

    Written out because importing ``scipy.signal`` for this one function costs
    every analyzer about 50 MB of resident memory."""
    n = np.arange(numtaps) - (numtaps - 1) / 2
    taps = cutoff * np.sinc(cutoff * n) * np.kaiser(numtaps, beta)
    return taps / taps.sum()


def kaiser_design(sample_rate: int, pass_hz: float, stop_hz: float, atten_db: float) -> tuple[int, float]:
    """Odd length and beta of a Kaiser-window low-pass with ``atten_db`` of stopband
    attenuation (and as little passband ripple) and a transition ``pass_hz`` .. ``stop_hz``
    (Kaiser 1974; the formulas of Oppenheim & Schafer, eqs. 7.62-7.63)."""
    width = 2 * np.pi * (stop_hz - pass_hz) / sample_rate  # rad/sample
    numtaps = math.ceil((atten_db - 7.95) / (2.285 * width)) + 1
    return numtaps | 1, 0.1102 * (atten_db - 8.7)


def _smooth(n: int) -> int:
    """Smallest integer >= n with no prime factor above 7 (fast FFT sizes)."""
    while True:
        m = n
        for p in (2, 3, 5, 7):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


@lru_cache(maxsize=32)
def resampler_for(sample_rate: int) -> Resampler:
    """Design the resampler from ``sample_rate`` to :data:`SR` (cached per rate).

    The filter is flat (ripple ~1e-5) to ``PASS_HZ`` and ``STOP_DB`` down from ``STOP_HZ``;
    below 22 050 Hz (upsampling) the band edges are 0.9 and 1.0 of the input's Nyquist: nothing
    can alias there, the filter only keeps the blocks' circular wrap out of the passband."""
    g = math.gcd(sample_rate, SR)
    up, down = SR // g, sample_rate // g
    if up == down == 1:
        return Resampler(1, 1, 1, 1, 0, np.ones(1, dtype=np.complex128), 1)
    if sample_rate > SR:
        pass_hz, stop_hz = PASS_HZ, STOP_HZ
    else:
        pass_hz, stop_hz = 0.45 * sample_rate, 0.5 * sample_rate
    numtaps, beta = kaiser_design(sample_rate, pass_hz, stop_hz, STOP_DB)
    half = (numtaps - 1) // 2
    pad = -(-(half + 16) // down) * down  # 16 samples beyond the taps: the fractional-delay tails
    m = _smooth(max(-(-round(BLOCK_S * sample_rate) // down), 4 * (2 * pad // down)))
    n_in = m * down
    taps = kaiser_lowpass(numtaps, (pass_hz + stop_hz) / sample_rate, beta)
    centred = np.zeros(n_in)  # zero phase: tap ``half`` at index 0, the earlier ones wrapped to the end
    centred[: half + 1] = taps[half:]
    centred[n_in - half :] = taps[:half]
    n_out = m * up
    n_bins = min(n_in, n_out) // 2 + 1
    response = np.fft.rfft(centred)[:n_bins] * (n_out / n_in)
    if n_out < n_in and n_out % 2 == 0:
        response[-1] = 0.0  # the bin at the new Nyquist is stopband, and irfft would take it as real
    return Resampler(up, down, n_in, n_in - 2 * pad, pad, response, numtaps)


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

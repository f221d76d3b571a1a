"""Loudness and crest factor at the native rate (ITU-R BS.1770-4).

Per chunk, one pass over the PCM fills a 100 ms *sub-block* series: the
K-weighted, channel-weighted energy, the number of samples, and the peak and
energy of all channels and of the mid signal. Sub-blocks straddling a chunk
boundary get contributions from both chunks; the merge adds them by index.
Integrated loudness (400 ms blocks = 4 sub-blocks, 75 % overlap), crest
factor and the 1-second and 3-second statistics of :mod:`dsp.variation`
are pure functions of the merged series.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from dsp.grid import subblock_len

SILENCE_MS = 1e-6  # mean square of -60 dBFS: the spec's silence threshold
ABS_GATE_LUFS = -70.0


def kweighting(sample_rate: int) -> np.ndarray:
    """K-weighting as two biquads ``[[b0, b1, b2, a1, a2], ...]`` for ``sample_rate``.

    BS.1770-4 gives the coefficients at 48 kHz only; these are designed from
    the analog prototype by the bilinear transform for any rate, as libebur128
    does (high-shelf "pre-filter" at 1681.97 Hz, +4 dB; RLB high-pass at 38.1 Hz).
    """
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / sample_rate)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = [
        (vh + vb * k / q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / q + k * k) / a0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / q + k * k) / a0,
    ]
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / sample_rate)
    a0 = 1.0 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([shelf, highpass], dtype=np.float64)


def channel_weights(channels: int) -> np.ndarray:
    """BS.1770 channel weights G_i, with libebur128's default channel order.

    Stereo and mono: 1 each. 5.1 in WAV order (L R C LFE Ls Rs): LFE excluded,
    surrounds 1.41. Four channels (L R Ls Rs) and five (L R C Ls Rs) likewise.
    Channels past the sixth are not loudness channels (weight 0).
    """
    if channels == 4:
        return np.array([1.0, 1.0, 1.41, 1.41])
    if channels == 5:
        return np.array([1.0, 1.0, 1.0, 1.41, 1.41])
    w = np.zeros(channels)
    w[: min(channels, 3)] = 1.0
    if channels >= 5:
        w[4:6] = 1.41
    return w


@nb.njit(cache=True, nogil=True)
def _subblock_pass(pcm, preroll, start, sb_len, weights, sos):  # pragma: no cover - numba
    n, ch = pcm.shape
    owned = n - preroll
    sb0 = start // sb_len
    n_sb = 0 if owned == 0 else (start + owned - 1) // sb_len - sb0 + 1
    kw = np.zeros(n_sb)
    count = np.zeros(n_sb)
    all_sq = np.zeros(n_sb)
    all_peak = np.zeros(n_sb)
    mid_sq = np.zeros(n_sb)
    mid_peak = np.zeros(n_sb)
    state = np.zeros((ch, 2, 2))  # per channel, per biquad: direct form II transposed
    for i in range(n):
        b = (start + i - preroll) // sb_len - sb0
        e = 0.0
        for c in range(ch):
            v = np.float64(pcm[i, c])
            for s in range(2):
                y = sos[s, 0] * v + state[c, s, 0]
                state[c, s, 0] = sos[s, 1] * v - sos[s, 3] * y + state[c, s, 1]
                state[c, s, 1] = sos[s, 2] * v - sos[s, 4] * y
                v = y
            e += weights[c] * v * v
        if i < preroll:
            continue  # pre-roll only settles the filter state
        kw[b] += e
        count[b] += 1.0
        for c in range(ch):
            v = abs(np.float64(pcm[i, c]))
            all_sq[b] += v * v
            all_peak[b] = max(all_peak[b], v)
        m = np.float64(pcm[i, 0]) if ch == 1 else 0.5 * (np.float64(pcm[i, 0]) + np.float64(pcm[i, 1]))
        mid_sq[b] += m * m
        mid_peak[b] = max(mid_peak[b], abs(m))
    return sb0, kw, count, all_sq, all_peak, mid_sq, mid_peak


SUBBLOCK_SERIES = ("kw", "count", "all_sq", "all_peak", "mid_sq", "mid_peak")
# how two chunks' values for the same sub-block combine
SUBBLOCK_COMBINE = {
    "kw": "sum",
    "count": "sum",
    "all_sq": "sum",
    "all_peak": "max",
    "mid_sq": "sum",
    "mid_peak": "max",
}


def subblock_series(pcm: np.ndarray, preroll: int, start: int, sample_rate: int) -> dict:
    """100 ms sub-block series of the chunk's owned samples.

    Returns ``{"sb0": first sub-block index, "kw": K-weighted channel-weighted
    energy, "count": samples, "all_sq"/"all_peak": energy and peak over all
    channels, "mid_sq"/"mid_peak": of m = (L+R)/2}`` (float64 arrays).
    """
    sb0, *series = _subblock_pass(
        pcm, preroll, start, subblock_len(sample_rate), channel_weights(pcm.shape[1]), kweighting(sample_rate)
    )
    return {"sb0": int(sb0), **dict(zip(SUBBLOCK_SERIES, series, strict=True))}


def lufs_of(mean_energy: np.ndarray | float) -> np.ndarray | float:
    """BS.1770 loudness of a mean K-weighted, channel-weighted energy (-inf for 0)."""
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(mean_energy)


def block_energies(kw: np.ndarray, count: np.ndarray, sb_len: int, blocks: int) -> np.ndarray:
    """Mean K-weighted energy of each complete window of ``blocks`` sub-blocks, hop one sub-block."""
    if len(kw) < blocks:
        return np.zeros(0)
    sums = np.convolve(kw, np.ones(blocks), mode="valid")
    counts = np.convolve(count, np.ones(blocks), mode="valid")
    complete = counts >= blocks * sb_len
    return sums[complete] / (blocks * sb_len)


def integrated_loudness(kw: np.ndarray, count: np.ndarray, sb_len: int) -> float:
    """Integrated loudness, LUFS (ITU-R BS.1770-4 sec. 2.8).

    400 ms gating blocks with 75 % overlap, absolute gate -70 LUFS, relative
    gate -10 LU below the loudness of the absolutely gated blocks. Returns
    -70.0 when no block passes (silence, or a track shorter than 400 ms).
    """
    energies = block_energies(kw, count, sb_len, 4)
    energies = energies[lufs_of(energies) > ABS_GATE_LUFS]
    if len(energies) == 0:
        return ABS_GATE_LUFS
    rel_gate = lufs_of(energies.mean()) - 10.0
    gated = energies[lufs_of(energies) > rel_gate]
    return float(max(lufs_of(gated.mean()), ABS_GATE_LUFS))


def crest_db(
    all_sq: np.ndarray, all_peak: np.ndarray, count: np.ndarray, mid_sq: np.ndarray, channels: int
) -> float:
    """Crest factor ``20 log10(peak / rms)`` in dB over all samples of all channels,
    both taken over the non-silent sub-blocks (mid RMS >= -60 dBFS). 0.0 if none."""
    with np.errstate(invalid="ignore", divide="ignore"):
        loud = (count > 0) & (mid_sq >= SILENCE_MS * count)
    if not loud.any():
        return 0.0
    rms = math.sqrt(all_sq[loud].sum() / (count[loud].sum() * channels))
    peak = float(all_peak[loud].max())
    return 20.0 * math.log10(peak / rms) if rms > 0 and peak > 0 else 0.0

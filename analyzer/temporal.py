"""Rhythm: onset strength, global tempo, beat regularity and onset density.

Per chunk only the onset-strength envelope is computed (one value per STFT
frame); tempo, beats and onsets are pure functions of the whole track's
merged envelope, so they see the whole track whatever the chunking.

- Onset strength: log-magnitude spectral flux (Bello et al. 2005, "A tutorial
  on onset detection in music signals", IEEE TSAP 13(5)).
- Tempo: autocorrelation of the envelope weighted by a log-normal prior
  centred on 120 BPM (Ellis 2007; librosa ``beat.tempo``), with the period
  refined below one frame from the autocorrelation peaks at its multiples.
- Beats: dynamic programming (Ellis 2007, "Beat tracking by dynamic
  programming", JNMR 36(1)), as librosa ``beat.beat_track``.
- Onsets: librosa ``onset_detect`` peak picking (Böck et al. 2012 thresholds).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import scipy.fft

from analyzer.grid import HOP, SR

FPS = SR / HOP  # onset envelope frames per second
LOG_FLOOR = 1e-3  # magnitude floor of the log spectrum (≈ -115 dB re. a full-scale sine's peak bin)
BPM_MIN, BPM_MAX = 40.0, 240.0
PRIOR_BPM, PRIOR_OCTAVES = 120.0, 1.0
TIGHTNESS = 100.0


def onset_strength(mag: np.ndarray, track_start: bool = False) -> np.ndarray:
    """Spectral flux of ``log(|X| + 1e-3)``: mean over bins of the positive
    frame-to-frame increase. ``mag`` holds one frame before the first output,
    so the result has ``len(mag) - 1`` values; with ``track_start`` the first
    frame of ``mag`` is the track's frame 0 and is compared with silence."""
    if track_start:
        mag = np.concatenate([np.zeros((1, mag.shape[1])), mag])
    if len(mag) < 2:
        return np.zeros(0, dtype=np.float32)
    logmag = np.log(mag + LOG_FLOOR)
    return np.mean(np.maximum(np.diff(logmag, axis=0), 0.0), axis=1).astype(np.float32)


def _bpm_prior(bpm: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * (np.log2(bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)


def _autocorrelation(onset: np.ndarray) -> np.ndarray:
    x = onset.astype(np.float64) - onset.mean()
    n = len(x)
    spec = scipy.fft.rfft(x, n=scipy.fft.next_fast_len(2 * n))
    return scipy.fft.irfft(spec * np.conj(spec))[:n]


def _peak_centroid(ac: np.ndarray, centre: float, reach: float) -> float | None:
    """Sub-frame position of the autocorrelation peak nearest ``centre`` (within ``reach``):
    the centroid of the peak lag and its two neighbours, negative values clipped."""
    lo = max(1, math.floor(centre - reach))
    hi = min(len(ac) - 2, math.ceil(centre + reach))
    if hi < lo:
        return None
    k = lo + int(np.argmax(ac[lo : hi + 1]))
    w = np.maximum(ac[k - 1 : k + 2], 0.0)
    if w.sum() <= 0:
        return None
    return float(k + (w[2] - w[0]) / w.sum())


def tempo_bpm(onset: np.ndarray) -> float:
    """Global tempo in BPM (40–240), continuous; 0.0 without periodic onsets.

    The autocorrelation of the onset envelope, weighted by a log-normal prior
    (centre 120 BPM, one octave), picks the beat period; the period is then
    refined from the peaks at up to eight of its multiples (least squares
    through the origin of the centroid-refined peak positions), so the
    estimate is not tied to the frame grid.
    """
    lag_max = math.ceil(60.0 * FPS / BPM_MIN)
    if len(onset) < 2 * lag_max or np.ptp(onset) <= 0:
        return 0.0
    ac = _autocorrelation(onset)
    if ac[0] <= 0:
        return 0.0
    lags = np.arange(max(2, int(60.0 * FPS / BPM_MAX)), lag_max + 1)
    # A period between two lags splits its peak over both: compare peaks by their
    # mass over three lags, or a period's double (a cleaner integer) would win.
    ac_pos = np.maximum(ac, 0.0)
    mass = np.convolve(ac_pos, np.ones(3), mode="same")
    # A beat period is also a period of the bar: credit half of the mass at twice
    # the lag, so a pattern repeating every two beats does not halve the tempo.
    double = np.where(2 * lags < len(mass), mass[np.minimum(2 * lags, len(mass) - 1)], 0.0)
    score = (mass[lags] + 0.5 * double) * _bpm_prior(60.0 * FPS / lags)
    if score.max() <= 0:
        return 0.0
    period = float(lags[int(np.argmax(score))])
    num = den = 0.0
    for m in range(1, 9):
        if m * period + 2 >= len(ac) // 2:
            break
        pos = _peak_centroid(ac, m * period, reach=max(1.0, 0.05 * m * period))
        if pos is None:
            break
        num += m * pos
        den += m * m
        period = num / den  # refine as we go so higher multiples are searched in the right place
    bpm = 60.0 * FPS / period
    return float(min(BPM_MAX, max(BPM_MIN, bpm)))


@nb.njit(cache=True, nogil=True)
def _beat_dp(localscore, period, tightness):  # pragma: no cover - numba
    n = localscore.shape[0]
    cumscore = np.zeros(n)
    backlink = np.full(n, -1, dtype=np.int64)
    lo_off = round(2.0 * period)
    hi_off = max(1, round(period / 2.0))
    threshold = 0.01 * localscore.max()
    started = False
    for i in range(n):
        best = -np.inf
        best_j = -1
        for off in range(hi_off, lo_off + 1):
            j = i - off
            if j < 0:
                break
            s = cumscore[j] - tightness * math.log(off / period) ** 2
            if s > best:
                best = s
                best_j = j
        if not started and localscore[i] < threshold:
            cumscore[i] = localscore[i]
            continue
        started = True
        if best_j >= 0:
            cumscore[i] = localscore[i] + best
            backlink[i] = best_j
        else:
            cumscore[i] = localscore[i]
    return cumscore, backlink


def beat_frames(onset: np.ndarray, bpm: float) -> np.ndarray:
    """Beat positions (fractional frames) by Ellis's dynamic programming.

    The local score is the onset envelope (unit variance) smoothed by a
    Gaussian of width period/32; after back-tracking from the last strong
    peak of the cumulative score and trimming weak beats at both ends (as
    librosa), each beat is refined to sub-frame precision by a parabola
    through the local score.
    """
    if bpm <= 0 or len(onset) < 3:
        return np.zeros(0)
    period = 60.0 * FPS / bpm
    std = onset.std()
    if std <= 0:
        return np.zeros(0)
    fpb = round(period)
    offsets = np.arange(-fpb, fpb + 1)
    window = np.exp(-0.5 * (offsets * 32.0 / period) ** 2)
    localscore = np.convolve(onset / std, window, mode="same")
    cumscore, backlink = _beat_dp(localscore, period, TIGHTNESS)
    is_max = np.zeros(len(cumscore), dtype=bool)
    is_max[1:-1] = (cumscore[1:-1] > cumscore[:-2]) & (cumscore[1:-1] >= cumscore[2:])
    if not is_max.any():
        return np.zeros(0)
    median = np.median(cumscore[is_max])
    tail = int(np.flatnonzero(is_max & (cumscore * 2 > median)).max(initial=-1))
    if tail < 0:
        return np.zeros(0)
    beats = [tail]
    while backlink[beats[-1]] >= 0:
        beats.append(int(backlink[beats[-1]]))
    beats = np.array(beats[::-1])
    # trim weak leading/trailing beats (librosa beat.__trim_beats)
    smooth = np.convolve(localscore[beats], np.hanning(5), mode="same")
    threshold = 0.5 * math.sqrt(np.mean(smooth**2))
    strong = np.flatnonzero(localscore[beats] >= threshold)
    if len(strong) == 0:
        return np.zeros(0)
    beats = beats[strong[0] : strong[-1] + 1]
    # sub-frame refinement
    out = beats.astype(np.float64)
    inner = (beats > 0) & (beats < len(localscore) - 1)
    a, b, c = localscore[beats[inner] - 1], localscore[beats[inner]], localscore[beats[inner] + 1]
    den = a - 2 * b + c
    out[inner] += np.where(den < 0, 0.5 * (a - c) / np.where(den < 0, den, -1.0), 0.0)
    return out


def rhythm_stability(beats: np.ndarray) -> float:
    """``1 / (1 + CV)`` of the inter-beat intervals; 0.0 with fewer than three beats."""
    if len(beats) < 3:
        return 0.0
    ibi = np.diff(beats)
    return float(1.0 / (1.0 + ibi.std() / ibi.mean()))


@nb.njit(cache=True, nogil=True)
def _peak_pick(x, pre_max, post_max, pre_avg, post_avg, delta, wait):  # pragma: no cover - numba
    n = x.shape[0]
    count = 0
    last = -wait - 1
    for i in range(n):
        lo = max(0, i - pre_max)
        hi = min(n, i + post_max)
        if x[i] < x[lo:hi].max():
            continue
        alo = max(0, i - pre_avg)
        ahi = min(n, i + post_avg)
        if x[i] < x[alo:ahi].mean() + delta:
            continue
        if i - last <= wait:
            continue
        count += 1
        last = i
    return count


def onset_count(onset: np.ndarray) -> int:
    """Onsets peak-picked from the envelope (normalised to [0, 1]) with librosa's
    ``onset_detect`` defaults: local max over ±30 ms, above the ±100 ms mean
    by 0.07, at least 30 ms apart."""
    if len(onset) == 0 or np.ptp(onset) <= 0:
        return 0
    x = (onset - onset.min()) / np.ptp(onset)
    pre_max = int(0.03 * FPS)
    pre_avg = int(0.10 * FPS)
    return int(_peak_pick(x.astype(np.float64), pre_max, 1, pre_avg, pre_avg + 1, 0.07, pre_max))


def transient_density(onset: np.ndarray, duration_s: float) -> float:
    """Onsets per second over the whole track."""
    return 0.0 if duration_s <= 0 else onset_count(onset) / duration_s

"""Rhythm: onset strength, global tempo, beat regularity and onset density.

Per chunk only the onset-strength envelope is computed (one value per STFT
frame); tempo, beats and onsets are pure functions of the whole track's
merged envelope, so they see the whole track whatever the chunking.

- Onset strength: log-magnitude spectral flux (Bello et al. 2005, "A tutorial
  on onset detection in music signals", IEEE TSAP 13(5)), bins weighted per mel.
- Tempo: a time-averaged autocorrelation tempogram (Grosche & Müller 2011),
  candidates scored by harmonic summation over their multiples (Klapuri 2006;
  Peeters 2007) times a log-normal prior centred on 120 BPM (Ellis 2007; librosa
  ``beat.tempo``), the period refined below
  one frame from the autocorrelation peaks at its multiples; 0.0 below a
  periodicity-strength threshold (no steady beat).
- Beats: dynamic programming (Ellis 2007, "Beat tracking by dynamic
  programming", JNMR 36(1)), as librosa ``beat.beat_track``.
- Onsets: librosa ``onset_detect`` peak picking (Böck et al. 2012 thresholds).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import scipy.fft

from dsp.grid import HOP, SR
from dsp.stft import FREQS

FPS = SR / HOP  # onset envelope frames per second
LOG_FLOOR = 1e-3  # magnitude floor of the log spectrum (≈ -115 dB re. a full-scale sine's peak bin)
BPM_MIN, BPM_MAX = 40.0, 240.0
MEL_WEIGHTS = (1.0 / (700.0 + FREQS)) / np.sum(1.0 / (700.0 + FREQS))  # sums to 1
PRIOR_BPM, PRIOR_OCTAVES = 120.0, 1.0
TIGHTNESS = 100.0
PERIODICITY_WIN = 512  # frames (11.9 s) per local autocorrelation: room for 4 periods of 40 BPM
PERIODICITY_HOP = 128  # frames
HARMONIC_WEIGHTS = (1.0, 0.75, 0.5, 0.25)  # of a period's multiples 1..4 in its evidence
PERIODICITY_THRESHOLD = 0.15  # evidence below which a track has no steady beat (see docs/analysis.md)
ONSET_DELTA_STD = 0.8  # onset threshold above the local mean, in the envelope's standard deviations


def onset_strength(mag: np.ndarray, track_start: bool = False) -> np.ndarray:
    """Spectral flux of ``log(|X| + 1e-3)``: the positive frame-to-frame increase, averaged
    over bins with equal weight per mel (bin weight ``∝ 1 / (700 Hz + f)``, the density of
    the mel scale, O'Shaughnessy 1987), as librosa's ``onset_strength`` averages over mel
    bands: a kick or a bass note counts as much as a hi-hat's broadband hiss, so the beat
    stands out of its subdivisions. ``mag`` holds one frame before the first output, so the
    result has ``len(mag) - 1`` values; with ``track_start`` the first frame of ``mag`` is
    the track's frame 0 and is compared with silence."""
    if track_start:
        mag = np.concatenate([np.zeros((1, mag.shape[1])), mag])
    if len(mag) < 2:
        return np.zeros(0, dtype=np.float32)
    logmag = np.log(mag + LOG_FLOOR)
    return (np.maximum(np.diff(logmag, axis=0), 0.0) @ MEL_WEIGHTS).astype(np.float32)


def _bpm_prior(bpm: np.ndarray, octaves: float) -> np.ndarray:
    """Log-normal tempo prior centred on :data:`PRIOR_BPM`, ``octaves`` wide (std)."""
    return np.exp(-0.5 * (np.log2(bpm / PRIOR_BPM) / octaves) ** 2)


def _autocorrelation(onset: np.ndarray) -> np.ndarray:
    x = onset.astype(np.float64) - onset.mean()
    n = len(x)
    spec = scipy.fft.rfft(x, n=scipy.fft.next_fast_len(2 * n))
    return scipy.fft.irfft(spec * np.conj(spec))[:n]


def periodicity(onset: np.ndarray) -> np.ndarray:
    """Mean local autocorrelation of the onset envelope (an autocorrelation tempogram,
    Grosche & Müller 2011, averaged over time as librosa's ``tempo`` does), for lags
    ``0 .. PERIODICITY_WIN - 1`` frames; lag 0 reads 1.

    Each window of :data:`PERIODICITY_WIN` frames (hop :data:`PERIODICITY_HOP`) is made
    zero-mean (a steady level or a slow swell is not a beat: Ellis 2007 high-passes the
    envelope for the same reason), autocorrelated, divided by the number of products at
    each lag (unbiased, so the multiples of a slow period are not tapered away) and by its
    own lag-0 value (every window counts alike, loud or soft). Windows without any
    variation are left out. A track shorter than one window is one window.
    """
    n = len(onset)
    win = min(PERIODICITY_WIN, n)
    out = np.zeros(PERIODICITY_WIN)
    if win < 2:
        return out
    starts = np.arange(0, max(1, n - win + 1), PERIODICITY_HOP)
    frames = np.lib.stride_tricks.sliding_window_view(onset.astype(np.float64), win)[starts]
    x = frames - frames.mean(axis=1, keepdims=True)
    spec = scipy.fft.rfft(x, n=scipy.fft.next_fast_len(2 * win), axis=1)
    ac = scipy.fft.irfft(spec * np.conj(spec), axis=1)[:, :win]
    energy = ac[:, 0]
    keep = energy > 1e-12 * max(1.0, float(energy.max(initial=0.0)))
    if not keep.any():
        return out
    ac = ac[keep] / energy[keep, None] * (win / (win - np.arange(win)))
    out[:win] = ac.mean(axis=0)
    return out


def _interp(a: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """``a`` at fractional lags, the largest value within ±half a frame (a period between
    two lags splits its peak over both)."""
    idx = np.arange(len(a))
    near = [np.interp(lags + d, idx, a, right=0.0) for d in (-0.5, -0.25, 0.0, 0.25, 0.5)]
    return np.max(near, axis=0)


def harmonic_evidence(a: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """Harmonic summation of the periodicity function over the multiples of each period
    (frames): the weighted mean of ``a`` at ``k·P``, k = 1..4, weights
    :data:`HARMONIC_WEIGHTS` (the period itself counts most; far multiples blur with any
    tempo drift), positive parts only (Klapuri 2006's harmonic summation applied to
    rhythmic periodicity, as in Peeters 2007, "Template-based estimation of time-varying
    tempo", EURASIP JASP).

    A beat period collects a peak at each of its multiples; its 3/2 at every other one
    (3P/2 · 2 = 3P) and its 4/3 at every third, so these relatives score lower on the same
    evidence; P/2 collects the off-beats too, which count only as much as they are there.
    """
    pos = np.maximum(a, 0.0)
    ev = np.zeros(len(periods))
    for k, w in enumerate(HARMONIC_WEIGHTS, start=1):
        ev += w * _interp(pos, k * periods)
    return ev / sum(HARMONIC_WEIGHTS)


def tempo_and_strength(onset: np.ndarray) -> tuple[float, float]:
    """Global tempo in BPM (40–240, continuous) and the periodicity strength behind it.

    1. The periodicity function (:func:`periodicity`) is scored on a 0.05-frame grid of
       periods by harmonic summation over their multiples (:func:`harmonic_evidence`):
       a period's 3:2 and 4:3 relatives collect peaks at only some of their multiples,
       so they lose on evidence unless the music really repeats at them.
    2. A log-normal prior centred on 120 BPM (one octave, as librosa's ``tempo``)
       multiplies the evidence. Between octaves (the bar and the beat both repeat, so
       their evidence is alike) it decides; between 3:2 relatives it moves a choice
       only when the evidence is within a factor 0.84 (0.77 at 4:3).
    3. The period is refined to sub-frame precision from the whole track's
       autocorrelation peaks at its multiples.

    The strength is the winner's evidence (mean normalised autocorrelation at its
    multiples: about 0.8 for a metronome, 0.05 for noise); below
    :data:`PERIODICITY_THRESHOLD` the track has no steady beat and its tempo is 0.0.
    """
    lag_max = 60.0 * FPS / BPM_MIN
    lag_min = 60.0 * FPS / BPM_MAX
    if len(onset) < 2 * lag_max or np.ptp(onset) <= 0:
        return 0.0, 0.0
    a = periodicity(onset)
    periods = np.arange(lag_min, lag_max, 0.05)
    ev = harmonic_evidence(a, periods)
    best = int(np.argmax(ev * _bpm_prior(60.0 * FPS / periods, PRIOR_OCTAVES)))
    chosen = float(periods[best])
    strength = float(ev[best])
    if strength < PERIODICITY_THRESHOLD:
        return 0.0, strength
    period = _refine_period(_autocorrelation(onset), chosen)
    bpm = 60.0 * FPS / period
    return float(min(BPM_MAX, max(BPM_MIN, bpm))), strength


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


def _refine_period(ac: np.ndarray, period: float) -> float:
    """The period (frames) refined from the autocorrelation peaks at up to eight of its
    multiples: least squares through the origin of their centroid-refined positions,
    so the estimate is not tied to the frame grid."""
    num = den = 0.0
    for m in range(1, 9):
        if m * period + 2 >= len(ac) // 2:
            break
        pos = _peak_centroid(ac, m * period, reach=max(1.0, 0.02 * m * period))
        if pos is None:
            break
        num += m * pos
        den += m * m
        period = num / den  # refine as we go so higher multiples are searched in the right place
    return period


def tempo_bpm(onset: np.ndarray) -> float:
    """Global tempo in BPM (40–240), continuous; 0.0 without a steady beat
    (see :func:`tempo_and_strength`)."""
    return tempo_and_strength(onset)[0]


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
    """``1 / (1 + MAD / median)`` of the inter-beat intervals (MAD: their median absolute
    deviation from the median); 0.0 with fewer than three beats. The median, not the mean:
    a beat tracker that skips or doubles one beat somewhere (a choice a codec's slight
    change of the envelope flips) must not halve the value of a steady track; a track whose
    beat really wanders moves many intervals."""
    if len(beats) < 3:
        return 0.0
    ibi = np.diff(beats)
    med = float(np.median(ibi))
    if med <= 0:
        return 0.0
    return float(1.0 / (1.0 + float(np.median(np.abs(ibi - med))) / med))


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
    """Onsets peak-picked from the envelope with librosa's ``onset_detect`` rules (local max
    over the past 30 ms, at least 30 ms apart) and a threshold in units of the whole
    envelope's standard deviation: a peak counts when it exceeds the ±100 ms mean by
    :data:`ONSET_DELTA_STD` standard deviations.

    librosa scales the envelope to [0, 1] by its range and asks for 0.07 of it, so the
    threshold hangs on the track's single largest flux frame; a lossy codec that softens that
    one transient (WMA 192k lowers it by 20 %) lowers the threshold for the whole track and
    adds 15-20 % onsets. The standard deviation rests on every frame."""
    if len(onset) == 0:
        return 0
    x = onset.astype(np.float64)
    std = float(x.std())
    if std <= 0:
        return 0
    x = (x - x.mean()) / std
    pre_max = int(0.03 * FPS)
    pre_avg = int(0.10 * FPS)
    return int(_peak_pick(x, pre_max, 1, pre_avg, pre_avg + 1, ONSET_DELTA_STD, pre_max))


def transient_density(onset: np.ndarray, duration_s: float) -> float:
    """Onsets per second over the whole track."""
    return 0.0 if duration_s <= 0 else onset_count(onset) / duration_s

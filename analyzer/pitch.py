"""Pitch steadiness: YIN f0 per frame and how steadily it holds.

- :func:`yin_f0`: YIN (de Cheveigné & Kawahara 2002, "YIN, a fundamental
  frequency estimator for speech and music", JASA 111(4)) with the cumulative
  mean normalised difference, absolute threshold and parabolic interpolation.
- :func:`pitch_stability`: the fraction of half-semitone-steady steps between
  consecutive voiced frames.

How the YIN kernel is shaped (same numbers as the textbook batch version, up to
float rounding, several times faster):

- The difference function needs the cross term ``r(tau) = sum_{k<W} x[k] x[k+tau]``
  only for ``tau <= TAU_MAX + 1`` (W = 1024). It is split at ``W / 2 = HOP``:
  ``r = p(head) + p(tail)`` where each half is a 512-sample correlation against
  the 853 samples it reaches, done by an 864-point real FFT (no circular wrap at
  these lags). The tail half of frame ``i`` is the head half of frame ``i + 1``
  whenever the frames are ``HOP`` apart, so it is reused from there (after checking
  the samples are identical), which roughly halves the FFT work.
- The energy terms, difference, cumulative mean normalisation and the threshold
  search are one sequential numba pass per frame that stops at the chosen dip,
  instead of several ``(n, 342)`` temporaries.
- Frames go through in blocks of 64 so the spectra stay in cache, and the FFTs
  write into buffers reused across blocks. FFTs are single-threaded float64
  (float32 loses the difference function to cancellation when the frame carries
  a large DC or low-frequency component).
"""

from __future__ import annotations

import numba as nb
import numpy as np
import scipy.fft

from analyzer.grid import N_FFT, SR

F0_MIN_HZ = 65.0
F0_MAX_HZ = 2093.0
YIN_THRESHOLD = 0.1
YIN_WIN = N_FFT // 2
TAU_MIN = int(SR // F0_MAX_HZ)
TAU_MAX = min(int(np.ceil(SR / F0_MIN_HZ)), N_FFT - YIN_WIN - 1)

_N_LAG = TAU_MAX + 2  # lags 0..TAU_MAX+1 (the parabola reads one past TAU_MAX)
_HALF = YIN_WIN // 2  # = HOP: the tail half of a frame is the head half of the next one
_REACH = _HALF + _N_LAG - 1  # samples one half-window correlation touches
_PART_N = scipy.fft.next_fast_len(_REACH, real=True)  # 864: no circular wrap for lags < _N_LAG
_N_SQ = YIN_WIN + _N_LAG - 1  # samples entering the energy terms
_BLOCK = 64  # frames per batch: keeps the spectra of a batch in L2
_ILP = 8  # frames whose running energy sums are interleaved (hides the add latency)


@nb.njit(cache=True, nogil=True)
def _prepare(frames, lo, hi, heads, follows, energy):  # pragma: no cover - numba
    """Per-frame inputs of YIN (de Cheveigné & Kawahara 2002, JASA 111(4)) for frames ``lo..hi``.

    ``heads[j, :HALF]`` gets the first half-window of frame ``lo + j`` (one extra frame past
    ``hi`` when there is one, for the shared tail); ``follows[j]`` tells whether frame
    ``lo + j + 1`` starts ``HALF`` samples later (identical samples over everything the tail
    correlation reads), so its head spectrum can stand in for this frame's tail;
    ``energy[j, t] = sum x[t : t + W]^2`` for ``t < N_LAG`` and ``energy[j, N_LAG]`` is the
    ``t = 0`` window energy. The energies come from a sequential running sum, as
    ``np.cumsum`` forms them, interleaved over ``_ILP`` frames so the additions overlap.
    """
    n = frames.shape[0]
    m = hi - lo
    m1 = min(m + 1, n - lo)
    sq = np.zeros((_ILP, _N_SQ + 1))
    acc = np.zeros(_ILP)
    for g in range(0, m1, _ILP):
        q = min(_ILP, m1 - g)
        acc[:] = 0.0
        for k in range(_N_SQ):
            for j in range(q):
                v = frames[lo + g + j, k]
                acc[j] += v * v
                sq[j, k + 1] = acc[j]
        for j in range(q):
            r = g + j
            i = lo + r
            for k in range(_HALF):
                heads[r, k] = frames[i, k]
            if r >= m:
                continue
            for t in range(_N_LAG):
                energy[r, t] = sq[j, t + YIN_WIN] - sq[j, t]
            energy[r, _N_LAG] = sq[j, YIN_WIN]
            ok = i + 1 < n
            if ok:
                for k in range(_PART_N):
                    if frames[i, _HALF + k] != frames[i + 1, k]:
                        ok = False
                        break
            follows[r] = ok


@nb.njit(cache=True, nogil=True)
def _cross_spectra(head_a, head_b, m, follows, tail_a, tail_b, out):  # pragma: no cover - numba
    """Spectrum of the YIN cross term (de Cheveigné & Kawahara 2002, JASA 111(4), eq. 7)
    of frames ``0..m``: head half ``conj(A_j) B_j`` plus tail half, taken from the next
    frame's head when ``follows[j]``, otherwise from the next row of ``tail_*``. Summing
    the halves here leaves one inverse FFT per frame."""
    n_bins = head_a.shape[1]
    e = 0
    for j in range(m):
        if follows[j]:
            ta, tb, r = head_a, head_b, j + 1
        else:
            ta, tb, r = tail_a, tail_b, e
            e += 1
        for k in range(n_bins):
            out[j, k] = np.conj(head_a[j, k]) * head_b[j, k] + np.conj(ta[r, k]) * tb[r, k]


@nb.njit(cache=True, nogil=True, inline="always")
def _extend(cmnd, energy, corr, done, upto, cum):  # pragma: no cover - numba
    """Extend the cumulative mean normalised difference (de Cheveigné & Kawahara 2002,
    JASA 111(4), eqs. 7-8) from lag ``done + 1`` to ``upto``; returns the running sum.
    Lazy so the search stops computing at the chosen dip."""
    e0 = energy[_N_LAG]
    for t in range(done + 1, upto + 1):
        diff = max(e0 + energy[t] - 2.0 * corr[t], 0.0)
        cum += diff
        cmnd[t] = diff * t / (cum if cum > 0 else 1.0)
    return cum


@nb.njit(cache=True, nogil=True)
def _yin_pick(lo, m, energy, corr, f0):  # pragma: no cover - numba
    """YIN steps 3-5 (de Cheveigné & Kawahara 2002, JASA 111(4)) for frames ``lo..lo+m``:
    the first lag in TAU_MIN..TAU_MAX whose CMND dips below the threshold, followed down
    to its local minimum, refined by a parabola through the CMND at ``tau - 1, tau, tau + 1``;
    kept when it lies in 65-2093 Hz. One sequential pass per frame, computing the CMND only
    as far as the search needs it."""
    cmnd = np.empty(_N_LAG)
    for j in range(m):
        en, cr = energy[j], corr[j]
        cum = _extend(cmnd, en, cr, 0, TAU_MIN - 1, 0.0)
        done = TAU_MIN - 1
        tau = -1
        for t in range(TAU_MIN, TAU_MAX + 1):
            cum = _extend(cmnd, en, cr, done, t, cum)
            done = t
            if cmnd[t] < YIN_THRESHOLD:
                while t + 1 <= TAU_MAX:
                    cum = _extend(cmnd, en, cr, done, t + 1, cum)
                    done = t + 1
                    if cmnd[t + 1] < cmnd[t]:
                        t += 1
                    else:
                        break
                tau = t
                break
        if tau < 0:
            continue
        if done < tau + 1:
            cum = _extend(cmnd, en, cr, done, tau + 1, cum)
        a, b, c = cmnd[tau - 1], cmnd[tau], cmnd[tau + 1]
        den = a - 2.0 * b + c
        shift = 0.5 * (a - c) / den if den > 0 else 0.0
        freq = SR / (tau + shift)
        if F0_MIN_HZ <= freq <= F0_MAX_HZ:
            f0[lo + j] = freq


def yin_f0(frames: np.ndarray) -> np.ndarray:
    """YIN fundamental frequency (Hz) of each 2048-sample frame at 22 050 Hz, 0 if unvoiced.

    YIN after de Cheveigné & Kawahara 2002 (JASA 111(4)): difference function over a
    1024-sample window for lags up to 340 (65 Hz); voiced when the cumulative mean
    normalised difference dips below 0.1 in 65–2093 Hz; the first such trough, followed
    to its minimum and parabolically refined. The cross term is computed as two
    half-window FFT correlations, the second one shared with the next frame when frames
    are a hop apart (see the module docstring); the rest is one numba pass per frame.
    """
    frames = np.ascontiguousarray(frames, dtype=np.float64)
    n = len(frames)
    f0 = np.zeros(n, dtype=np.float32)
    if n == 0:
        return f0
    if frames.shape[1] < N_FFT:  # as rfft(..., n=N_FFT) would: zeros past the end
        frames = np.pad(frames, ((0, 0), (0, N_FFT - frames.shape[1])))
    blk = min(_BLOCK, n)
    n_bins = _PART_N // 2 + 1
    heads = np.zeros((blk + 1, _PART_N))  # zero past _HALF: the padding of each head half
    follows = np.empty(blk, dtype=np.bool_)
    energy = np.empty((blk, _N_LAG + 1))
    head_a = np.empty((blk + 1, n_bins), dtype=np.complex128)
    head_b = np.empty_like(head_a)
    spec = np.empty((blk, n_bins), dtype=np.complex128)
    corr = np.empty((blk, _PART_N))
    for lo in range(0, n, blk):
        hi = min(lo + blk, n)
        m, m1 = hi - lo, min(hi + 1, n) - lo
        _prepare(frames, lo, hi, heads, follows, energy)
        # out=: FFTs write into the block buffers (numpy >= 2), no fresh arrays per block
        np.fft.rfft(heads[:m1], axis=1, out=head_a[:m1])
        np.fft.rfft(frames[lo : lo + m1, :_PART_N], axis=1, out=head_b[:m1])
        tail_a = tail_b = spec  # placeholders: only read for frames without a follower
        alone = lo + np.flatnonzero(~follows[:m])
        if len(alone):
            tail = np.zeros((len(alone), _PART_N))
            tail[:, :_HALF] = frames[alone, _HALF:YIN_WIN]
            tail_a = np.empty((len(alone), n_bins), dtype=np.complex128)
            tail_b = np.empty_like(tail_a)
            np.fft.rfft(tail, axis=1, out=tail_a)
            np.fft.rfft(frames[alone, _HALF : _HALF + _PART_N], axis=1, out=tail_b)
        _cross_spectra(head_a, head_b, m, follows, tail_a, tail_b, spec)
        np.fft.irfft(spec[:m], n=_PART_N, axis=1, out=corr[:m])
        _yin_pick(lo, m, energy, corr, f0)
    return f0


def pitch_stability(f0: np.ndarray) -> float:
    """Fraction of steps between consecutive voiced frames where f0 moves less than
    half a semitone. 0.0 with fewer than 10 voiced frames or no consecutive pair."""
    voiced = f0 > 0
    if voiced.sum() < 10:
        return 0.0
    pairs = voiced[:-1] & voiced[1:]
    if not pairs.any():
        return 0.0
    steps = np.abs(12.0 * np.log2(f0[1:][pairs] / f0[:-1][pairs]))
    return float(np.mean(steps < 0.5))

"""Harmonic content: harmonic/percussive balance and chroma (pitch is in :mod:`analyzer.pitch`).

- :func:`hpss_energies`: median-filtering HPSS (Fitzgerald 2010, "Harmonic/
  percussive separation using median filtering", DAFx) at full resolution,
  with librosa's soft masks (power 2) and reflect-mode edges.
- :func:`chroma_energy`: pitch-class energy concentration from the power
  spectrum, each bin credited to its nearest pitch class (A440 tuning).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from analyzer.grid import HPSS_HALF
from analyzer.stft import FREQS

# ---------------------------------------------------------------- HPSS


@nb.njit(cache=True, inline="always")
def _reflect(i, n):  # pragma: no cover - numba
    """scipy.ndimage 'reflect' index: (d c b a | a b c d | d c b a). n < 0: no upper edge."""
    if n < 0:
        return -i - 1 if i < 0 else i
    if n == 1:
        return 0
    i = i % (2 * n)
    return i if i < n else 2 * n - 1 - i


@nb.njit(cache=True, inline="always")
def _replace_sorted(win, old, new):  # pragma: no cover - numba
    """Replace one occurrence of ``old`` by ``new`` in the sorted ``win``, keeping it sorted."""
    lo, hi = 0, win.shape[0] - 1
    while lo < hi:  # leftmost index with win[i] >= old: that is ``old``
        mid = (lo + hi) >> 1
        if win[mid] < old:
            lo = mid + 1
        else:
            hi = mid
    i = lo
    if new > old:  # shift the smaller neighbours left until new fits
        while i + 1 < win.shape[0] and win[i + 1] < new:
            win[i] = win[i + 1]
            i += 1
    else:
        while i > 0 and win[i - 1] > new:
            win[i] = win[i - 1]
            i -= 1
    win[i] = new


@nb.njit(cache=True, nogil=True)
def _running_median(a, a_lo, out_lo, out_hi, n_total, half):  # pragma: no cover - numba
    """Running median along the last (contiguous) axis of ``a``, whose columns are
    global indices from ``a_lo``; window ``2*half+1`` with reflect edges, for
    output columns ``[out_lo, out_hi)``. A sorted window is updated in place,
    so each step costs O(window) instead of a sort."""
    n_rows = a.shape[0]
    out = np.empty((n_rows, max(0, out_hi - out_lo)))
    if out_hi <= out_lo:
        return out
    k = 2 * half + 1
    win = np.empty(k)
    for r in range(n_rows):
        row = a[r]
        for t in range(k):
            win[t] = row[_reflect(out_lo - half + t, n_total) - a_lo]
        win.sort()
        for c in range(out_lo, out_hi):
            out[r, c - out_lo] = win[half]
            if c + 1 < out_hi:
                old = row[_reflect(c - half, n_total) - a_lo]
                new = row[_reflect(c + half + 1, n_total) - a_lo]
                if old != new:
                    _replace_sorted(win, old, new)
    return out


def hpss_energies(
    mag: np.ndarray, mag_lo: int, hpss_lo: int, hpss_hi: int, n_frames: int
) -> tuple[float, float]:
    """Harmonic and percussive energy ``(E_H, E_P)`` of frames ``[hpss_lo, hpss_hi)``.

    Parameters
    ----------
    mag : (frames, bins) magnitude spectrogram holding frames ``mag_lo...``,
        including 15 frames of context either side of the range (or the
        track's edges, where the time median reflects).
    n_frames : total frames in the track, or -1 if the track's end is not in
        this chunk (then no reflection at the end is needed).

    Harmonic = median over 31 frames (time), percussive = median over 31 bins
    (frequency); masks ``H²/(H²+P²)`` and ``P²/(H²+P²)`` (0.5 where both are 0);
    energies are ``Σ (|X| M)²``.
    """
    if hpss_hi <= hpss_lo:
        return 0.0, 0.0
    # time medians run along frames: work on the (bins, frames) transpose so they are contiguous
    harm = _running_median(np.ascontiguousarray(mag.T), mag_lo, hpss_lo, hpss_hi, n_frames, HPSS_HALF).T
    own = np.ascontiguousarray(mag[hpss_lo - mag_lo : hpss_hi - mag_lo])
    perc = _running_median(own, 0, 0, own.shape[1], own.shape[1], HPSS_HALF)
    h2, p2 = harm * harm, perc * perc
    total = h2 + p2
    zero = total <= np.finfo(np.float64).tiny
    mask_h = np.where(zero, 0.5, h2 / np.where(zero, 1.0, total))
    s2 = own * own
    e_h = float(np.sum(s2 * mask_h * mask_h))
    e_p = float(np.sum(s2 * (1.0 - mask_h) ** 2))
    return e_h, e_p


# ---------------------------------------------------------------- chroma

CHROMA_MIN_HZ = 55.0
CHROMA_MAX_HZ = 5000.0


def _chroma_matrix() -> np.ndarray:
    """``(bins, 12)`` one-hot map of each bin to ``(round(12 log2(f/440)) + 9) mod 12`` (C = 0)."""
    m = np.zeros((len(FREQS), 12))
    ok = (FREQS >= CHROMA_MIN_HZ) & (FREQS <= CHROMA_MAX_HZ)
    pc = (np.round(12.0 * np.log2(FREQS[ok] / 440.0)).astype(int) + 9) % 12
    m[np.flatnonzero(ok), pc] = 1.0
    return m


CHROMA = _chroma_matrix()


def chroma_energy(power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: ``Σ c²`` of the L1-normalised 12-bin chroma, and whether the frame
    had any power between 55 Hz and 5 kHz (frames without are left out of the mean).
    One pitch class gives 1, an even spread 1/12."""
    chroma = power @ CHROMA
    total = chroma.sum(axis=1)
    has = total > 0
    norm = chroma / np.where(has, total, 1.0)[:, None]
    return np.sum(norm * norm, axis=1), has

"""Frame-wise spectral shape (centroid, roll-off, flatness) and silence.

Each is a per-frame quantity averaged over the track's non-silent frames, so
a chunk contributes sums and a count. Definitions follow librosa's
``spectral_centroid``, ``spectral_rolloff`` and ``spectral_flatness``
(Dubnov 2004 for flatness) applied to the magnitude spectrogram.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from analyzer.dynamics import SILENCE_MS
from analyzer.stft import FREQS

ROLL_PERCENT = 0.85
FLATNESS_AMIN = 1e-10


def silent_frames(frames: np.ndarray) -> np.ndarray:
    """True where the frame's RMS of m (unwindowed) is below -60 dBFS."""
    return np.mean(frames * frames, axis=1) < SILENCE_MS


def centroid(mag: np.ndarray) -> np.ndarray:
    """Magnitude-weighted mean frequency of each frame, Hz."""
    total = mag.sum(axis=1)
    return np.divide(mag @ FREQS, total, out=np.zeros(len(mag)), where=total > 0)


@nb.njit(cache=True, nogil=True)
def _rolloff_bins(mag, fraction):  # pragma: no cover - numba
    """Per frame, the first bin where the running sum of magnitudes reaches ``fraction``
    of the frame's total. Sums in the order ``np.cumsum`` does (so the same bin as
    ``argmax(cumsum >= fraction * cumsum[-1])``) without a spectrogram-sized temporary."""
    out = np.zeros(mag.shape[0], dtype=np.int64)
    for t in range(mag.shape[0]):
        total = 0.0
        for b in range(mag.shape[1]):
            total += mag[t, b]
        threshold = fraction * total
        acc = 0.0
        for b in range(mag.shape[1]):
            acc += mag[t, b]
            if acc >= threshold:
                out[t] = b
                break
    return out


def rolloff(mag: np.ndarray) -> np.ndarray:
    """Lowest bin frequency below which 85 % of the frame's magnitude lies, Hz."""
    return FREQS[_rolloff_bins(mag, ROLL_PERCENT)]


def flatness(power: np.ndarray) -> np.ndarray:
    """Geometric over arithmetic mean of each frame's power spectrum (``amin`` 1e-10)."""
    p = np.maximum(power, FLATNESS_AMIN)
    return np.exp(np.mean(np.log(p), axis=1)) / np.mean(p, axis=1)

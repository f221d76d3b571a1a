"""Frame-wise spectral shape (centroid, roll-off, flatness) and silence.

Each is a per-frame quantity averaged over the track's non-silent frames, so
a chunk contributes sums and a count. Definitions follow librosa's
``spectral_centroid``, ``spectral_rolloff`` and ``spectral_flatness``
(Dubnov 2004 for flatness) applied to the magnitude spectrogram.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from dsp.dynamics import SILENCE_MS
from dsp.frequency import BANDS
from dsp.harmonic import CHROMA
from dsp.stft import FREQS

ROLL_PERCENT = 0.85
FLATNESS_AMIN = 1e-10


def silent_frames(frames: np.ndarray) -> np.ndarray:
    """True where the frame's RMS of m (unwindowed) is below -60 dBFS.

    ``einsum`` sums the squares without a frames-sized temporary (7 MB per chunk)."""
    return np.einsum("ij,ij->i", frames, frames) / frames.shape[1] < SILENCE_MS


def _bin_index(onehot: np.ndarray) -> np.ndarray:
    """Column of the 1 in each row of a one-hot ``(bins, k)`` map, -1 for rows without."""
    return np.where(onehot.any(axis=1), onehot.argmax(axis=1), -1).astype(np.int64)


BAND_OF_BIN = _bin_index(BANDS)
PITCH_CLASS_OF_BIN = _bin_index(CHROMA)


@dataclass(frozen=True)
class SpectralSums:
    """A chunk's contribution to the spectral values: sums over its non-silent
    frames of each frame's centroid (Hz), roll-off (Hz), flatness and chroma
    ``Σ c²`` (over the ``chroma_n`` frames with power in 55 Hz–5 kHz), and the
    power per band over all its frames."""

    centroid: float
    rolloff: float
    flatness: float
    chroma: float
    chroma_n: int
    bands: np.ndarray


@nb.njit(cache=True, nogil=True)
def _spectral_pass(mag, loud, freqs, band_of, pc_of, n_bands, fraction, amin):  # pragma: no cover - numba
    """Every per-frame spectral quantity of one chunk in one pass over its magnitudes,
    accumulated in float64 (so the sums do not depend on how the track was cut)."""
    bands = np.zeros(n_bands)
    chroma = np.zeros(12)
    c_sum = r_sum = f_sum = x_sum = 0.0
    x_n = 0
    n_bins = mag.shape[1]
    for t in range(mag.shape[0]):
        total = 0.0
        weighted = 0.0
        p_total = 0.0
        log_sum = 0.0
        chroma[:] = 0.0
        for b in range(n_bins):
            m = np.float64(mag[t, b])
            p = m * m
            total += m
            weighted += m * freqs[b]
            if band_of[b] >= 0:
                bands[band_of[b]] += p
            if pc_of[b] >= 0:
                chroma[pc_of[b]] += p
            q = max(p, amin)
            p_total += q
            log_sum += math.log(q)
        if not loud[t]:
            continue
        if total > 0.0:
            c_sum += weighted / total
        # roll-off: summed in np.cumsum's order, so the same bin as argmax(cumsum >= fraction * total)
        threshold = fraction * total
        acc = 0.0
        hit = 0
        for b in range(n_bins):
            acc += np.float64(mag[t, b])
            if acc >= threshold:
                hit = b
                break
        r_sum += freqs[hit]
        f_sum += math.exp(log_sum / n_bins) / (p_total / n_bins)
        pc_total = chroma.sum()
        if pc_total > 0.0:
            x_n += 1
            for k in range(12):
                x_sum += (chroma[k] / pc_total) ** 2
    return c_sum, r_sum, f_sum, x_sum, x_n, bands


def spectral_sums(mag: np.ndarray, loud: np.ndarray) -> SpectralSums:
    """Centroid, roll-off, flatness and chroma summed over the ``loud`` frames of ``mag``
    (frames, bins), and the band powers over all frames: one pass, no spectrogram-sized
    temporaries. Per frame, as librosa's ``spectral_centroid``, ``spectral_rolloff``
    (85 %), ``spectral_flatness`` (power, ``amin`` 1e-10; Dubnov 2004) and the chroma
    energy (each bin's power credited to its nearest pitch class, ``dsp.harmonic.CHROMA``);
    bands: the power of each bin summed into the band :data:`dsp.frequency.BANDS` gives it."""
    c, r, f, x, n, bands = _spectral_pass(
        mag, loud, FREQS, BAND_OF_BIN, PITCH_CLASS_OF_BIN, BANDS.shape[1], ROLL_PERCENT, FLATNESS_AMIN
    )
    return SpectralSums(c, r, f, x, n, bands)

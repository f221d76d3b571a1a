"""Short-time Fourier transform on the fixed 22 050 Hz frame grid.

Frame ``f`` covers resampled samples ``[f*HOP, f*HOP + N_FFT)`` (no centring,
zero padding only past the end of the track), windowed by a periodic Hann
window, as ``librosa.stft(center=False)``. Every spectral, rhythmic and tonal
feature reads the same spectrogram, computed once per chunk.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from dsp.grid import HOP, N_FFT, SR

WINDOW = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
WINDOW32 = WINDOW.astype(np.float32)
FREQS = np.fft.rfftfreq(N_FFT, 1.0 / SR)  # Hz, bin centre frequencies


def frame_view(y: np.ndarray, y_start: int, frame_lo: int, frame_hi: int) -> np.ndarray:
    """``(frames, N_FFT)`` read-only view of frames ``[frame_lo, frame_hi)`` of ``y``,
    which holds resampled samples from index ``y_start`` on."""
    if frame_hi <= frame_lo:
        return np.zeros((0, N_FFT))
    off = frame_lo * HOP - y_start
    need = off + (frame_hi - frame_lo - 1) * HOP + N_FFT
    if off < 0 or need > len(y):
        raise ValueError(f"frames [{frame_lo}, {frame_hi}) not inside the resampled window")
    return np.lib.stride_tricks.sliding_window_view(y[off:need], N_FFT)[::HOP]


def magnitude(frames: np.ndarray) -> np.ndarray:
    """``|X|`` of each frame, ``(frames, N_FFT // 2 + 1)`` float32.

    Single precision on purpose: the FFT runs twice as fast and the spectrogram
    takes half the memory, while every value built on it moves by less than 1e-5
    relative (librosa's own STFT is float32 too). Sums over bins and frames are
    accumulated in float64 by their consumers."""
    if len(frames) == 0:
        return np.zeros((0, N_FFT // 2 + 1), dtype=np.float32)
    windowed = np.multiply(frames, WINDOW32, dtype=np.float32)
    return np.abs(scipy.fft.rfft(windowed, axis=1, overwrite_x=True))

"""Streaming polyphase resampling to 22 050 Hz, exact across chunk boundaries."""

from __future__ import annotations

import numba as nb
import numpy as np

from analyzer.grid import Resampler


@nb.njit(cache=True, nogil=True)
def _polyphase(x, x_start, taps, up, down, delay, j_lo, j_hi, n_valid_end):  # pragma: no cover - numba
    n_taps = taps.shape[0]
    out = np.zeros(j_hi - j_lo)
    first = max(0, x_start)  # inputs outside [first, last] are zero
    last = min(n_valid_end, x_start + x.shape[0]) - 1
    for j in range(j_lo, j_hi):
        pos = j * down + delay  # position in the upsampled domain
        k_hi = pos // up  # newest input sample contributing
        t = pos - k_hi * up  # its tap index; older samples use taps t + up, t + 2 up, ...
        k_lo = k_hi - (n_taps - 1 - t) // up
        if k_hi > last:
            t += (k_hi - last) * up
            k_hi = last
        k_lo = max(k_lo, first)
        acc = 0.0
        for k in range(k_hi, k_lo - 1, -1):
            acc += taps[t] * x[k - x_start]
            t += up
        out[j - j_lo] = acc
    return out


def resample_range(
    rs: Resampler, x: np.ndarray, x_start: int, j_lo: int, j_hi: int, n_track: int | None
) -> np.ndarray:
    """Resampled samples ``[j_lo, j_hi)`` of a track, from a window of its native samples.

    Parameters
    ----------
    rs : Resampler
        From :func:`analyzer.grid.resampler_for` (polyphase FIR, as
        ``scipy.signal.resample_poly``; Crochiere & Rabiner 1983).
    x : float64 array
        Native-rate samples ``[x_start, x_start + len(x))`` of the track.
    n_track : int or None
        Track length in native samples when known (last chunk): samples past
        it are zero. ``None`` means every needed sample must lie in ``x``.

    Returns
    -------
    float64 array of ``j_hi - j_lo`` samples at 22 050 Hz. The arithmetic per
    output is the same whatever window it came from, so results agree bit
    for bit across chunkings.
    """
    if j_hi <= j_lo:
        return np.zeros(0)
    need_lo = rs.first_input(j_lo)
    if need_lo > 0 and need_lo < x_start:
        raise ValueError(f"pre-roll too short: output {j_lo} needs input {need_lo} < {x_start}")
    if rs.identity:
        out = np.zeros(j_hi - j_lo)
        lo, hi = max(j_lo, x_start), min(j_hi, x_start + len(x), n_track if n_track is not None else j_hi)
        if hi > lo:
            out[lo - j_lo : hi - j_lo] = x[lo - x_start : hi - x_start]
        return out
    newest = ((j_hi - 1) * rs.down + rs.delay) // rs.up
    if n_track is None and newest >= x_start + len(x):
        raise ValueError(f"output {j_hi - 1} needs input {newest} beyond the chunk")
    valid_end = n_track if n_track is not None else x_start + len(x)
    return _polyphase(x, x_start, rs.taps, rs.up, rs.down, rs.delay, j_lo, j_hi, valid_end)

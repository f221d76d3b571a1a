"""Streaming anti-aliased resampling to 22 050 Hz, bit-exact across chunk boundaries."""

from __future__ import annotations

import numpy as np

from dsp.grid import Resampler


def resample_range(
    rs: Resampler, x: np.ndarray, x_start: int, j_lo: int, j_hi: int, n_track: int | None
) -> np.ndarray:
    """Resampled samples ``[j_lo, j_hi)`` of a track, from a window of its native samples.

    Parameters
    ----------
    rs : Resampler
        From :func:`dsp.grid.resampler_for`: a Kaiser low-pass (flat to 10 kHz,
        >= 100 dB from 11 025 Hz) applied by overlap-save fast convolution on a fixed
        grid of blocks, the rate changed in the frequency domain.
    x : float64 array
        Native-rate samples ``[x_start, x_start + len(x))`` of the track.
    x_start : int
        Position of ``x[0]`` in the track (native samples).
    j_lo, j_hi : int
        The outputs wanted (22 050 Hz samples).
    n_track : int or None
        Track length in native samples when known (last chunk): samples past
        it are zero. ``None`` means every needed sample must lie in ``x``.

    Returns
    -------
    float64 array of ``j_hi - j_lo`` samples at 22 050 Hz. Every output is
    computed from its block's fixed input range with the same arithmetic
    whatever window it came from, so results agree bit for bit across
    chunkings.
    """
    if j_hi <= j_lo:
        return np.zeros(0)
    valid_end = n_track if n_track is not None else x_start + len(x)
    if rs.identity:
        out = np.zeros(j_hi - j_lo)
        lo, hi = max(j_lo, x_start), min(j_hi, valid_end)
        if hi > lo:
            out[lo - j_lo : hi - j_lo] = x[lo - x_start : hi - x_start]
        return out
    b_lo = j_lo // rs.hop_out
    b_hi = -(-j_hi // rs.hop_out)
    need_lo = b_lo * rs.hop_in - rs.pad  # first input of block b_lo (negative: before the track)
    need_hi = b_hi * rs.hop_in + rs.pad  # one past the last input of block b_hi - 1
    if max(need_lo, 0) < x_start:
        raise ValueError(f"pre-roll too short: output {j_lo} needs input {max(need_lo, 0)} < {x_start}")
    if n_track is None and need_hi > valid_end:
        raise ValueError(f"output {j_hi - 1} needs input {need_hi - 1} beyond the chunk")
    seg = np.zeros(need_hi - need_lo)
    lo, hi = max(need_lo, x_start), min(need_hi, valid_end)
    if hi > lo:
        seg[lo - need_lo : hi - need_lo] = x[lo - x_start : hi - x_start]
    blocks = np.lib.stride_tricks.sliding_window_view(seg, rs.n_in)[:: rs.hop_in]
    spectra = np.fft.rfft(blocks, axis=1)[:, : len(rs.response)]
    spectra *= rs.response
    outs = np.fft.irfft(spectra, n=rs.n_out_block, axis=1)[:, rs.offset_out : rs.offset_out + rs.hop_out]
    first = j_lo - b_lo * rs.hop_out
    return outs.reshape(-1)[first : first + j_hi - j_lo]

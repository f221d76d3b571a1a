"""The streaming resampler equals scipy's resample_poly on the whole track."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import firwin, resample_poly

from analyzer.grid import kaiser_lowpass, resampler_for
from analyzer.resample import resample_range


@pytest.mark.parametrize("sr", [8_000, 11_025, 32_000, 44_100, 48_000, 96_000])
def test_matches_resample_poly_in_any_chunking(sr: int) -> None:
    x = np.random.default_rng(sr).standard_normal(sr * 3)
    rs = resampler_for(sr)
    whole = resample_poly(x, rs.up, rs.down)
    assert rs.n_out(len(x)) == len(whole)
    pieces, lo, start = [], 0, 0
    for end in (sr // 3, sr, 2 * sr + 17, len(x)):
        last = end == len(x)
        hi = rs.n_out(len(x)) if last else rs.owned_end(end)
        begin = max(0, start - sr // 10)  # 100 ms of pre-roll before the chunk
        pieces.append(resample_range(rs, x[begin:end], begin, lo, hi, len(x) if last else None))
        lo, start = hi, end
    streamed = np.concatenate(pieces)
    np.testing.assert_allclose(streamed, whole, atol=1e-12)
    assert np.array_equal(streamed, resample_range(rs, x, 0, 0, len(whole), len(x)))


def test_short_preroll_is_an_error_not_a_wrong_answer() -> None:
    rs = resampler_for(48_000)
    x = np.zeros(48_000)
    with pytest.raises(ValueError, match="pre-roll"):
        resample_range(rs, x[40_000:], 40_000, 15_000, 15_100, None)


@pytest.mark.parametrize(("numtaps", "cutoff"), [(21, 0.5), (1601, 1 / 80), (8821, 1 / 441)])
def test_kaiser_lowpass_is_scipys_firwin(numtaps: int, cutoff: float) -> None:
    ours = kaiser_lowpass(numtaps, cutoff, beta=5.0)
    np.testing.assert_allclose(ours, firwin(numtaps, cutoff, window=("kaiser", 5.0)), rtol=0, atol=1e-15)

"""The fingerprint does not depend on how a track is cut into chunks."""

from __future__ import annotations

import numpy as np
import pytest

from base.fields import FEATURES
from tests.synth import analyze_path, drums, sine, stereo, write


@pytest.mark.parametrize("sr", [44_100, 48_000])
def test_three_chunk_sizes_agree(tmp_path, sr: int) -> None:
    rng = np.random.default_rng(sr)
    seconds = 70
    left = drums(123, seconds, sr) + sine(220, seconds, sr, -20) + 0.002 * rng.standard_normal(seconds * sr)
    right = 0.8 * left + 0.01 * rng.standard_normal(seconds * sr)
    pcm = stereo(left, right)
    pcm[sr * 20 : sr * 23] = 0.0  # silence crossing chunk boundaries
    path = write(tmp_path / "t.flac", pcm, sr, subtype="PCM_24")
    results = [analyze_path(path, chunk_s=c) for c in (1.0, 7.3, 60.0)]
    for name in (*FEATURES, "duration_s"):
        ref = results[0][name]
        for other in results[1:]:
            assert other[name] == pytest.approx(ref, rel=1e-6, abs=1e-12), name
